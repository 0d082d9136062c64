"""Exit codes at the outermost command, and commits read from inside the artifacts (issue 10).

The real ``nox`` runs the real ``noxfile.py`` of a copy of this project, and CI sees the
stage's own code: 79 (retry the release tests), 40 (a release test failed), 43 (the wheel
is not the test code's commit), 13 (a commit variable that is not git HEAD) and 2 (bad
arguments); nox on its own would say 1 for each.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from build_support import manifests, wheelfile
from build_support.containers import engine
from build_support.errors import VerificationError
from build_support.images import build as image_build
from build_support.releasetests.environments import ImageProvider
from tests.conftest import ROOT, git
from tests.integration.test_release_runner import (  # noqa: F401 - a session fixture
    FAKE_SHA,
    PY,
    minray_wheel,
)
from tests.integration.test_wheel import _clean_env, make_repo

_IGNORE = shutil.ignore_patterns("__pycache__", "target", ".nox", "*.egg-info", "build")


def _copy_project(dest: Path) -> Path:
    """What ``nox`` needs of this project: noxfile, pyproject, the library, inputs."""
    dest.mkdir(parents=True)
    for name in ("noxfile.py", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("build_support", "java", "requirements"):
        shutil.copytree(ROOT / name, dest / name, ignore=_IGNORE)
    return dest


def _nox() -> str:
    found = shutil.which("nox")
    assert found, "nox is not on PATH (.ci/run installs it: python3 -m pip install nox)"
    return found


def _run_nox(
    project: Path, envdir: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_nox(), "-f", str(project / "noxfile.py"), "--envdir", str(envdir), *args],
        cwd=project,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )


def _out(proc: subprocess.CompletedProcess[str]) -> str:
    """What nox printed: a session's stderr reaches nox's stdout (nox merges them)."""
    return proc.stdout + proc.stderr


def _collection(project: Path, scripts: dict[str, str]) -> Path:
    (project / "work").mkdir(exist_ok=True)
    path = project / "exit_tests.yaml"
    path.write_text(
        "".join(
            textwrap.dedent(
                f"""\
                - name: {name}
                  team: core
                  frequency: nightly
                  working_dir: work
                  python: "{PY}"
                  run:
                    timeout: 120
                    script: {script}
                """
            )
            for name, script in scripts.items()
        )
    )
    return path


def test_nox_exits_with_the_stage_code(minray_wheel: Path, tmp_path: Path) -> None:  # noqa: F811
    project = _copy_project(tmp_path / "proj")
    envdir = tmp_path / "nox-envs"
    results = tmp_path / "results"
    tests = _collection(
        project,
        {"infra_timeout": "exit 30", "broken": "exit 1", "second": "python -c pass"},
    )

    def release_tests(name: str, run_id: str, **env: str) -> subprocess.CompletedProcess[str]:
        return _run_nox(
            project, envdir, "-s", "release-tests", "--", name, "--file", str(tests),
            "--wheel", str(minray_wheel), "--results-dir", str(results), "--run-id", run_id,
            "--max-retries", "0", **env,
        )  # fmt: skip

    # 2: bad arguments to a stage.
    proc = _run_nox(project, envdir, "-s", "store", "--", "frobnicate")
    assert proc.returncode == 2, _out(proc)
    assert "error: store:" in _out(proc)

    # Outside a git checkout the override is trusted (and says so).
    proc = release_tests("infra_timeout", "r79", BUILD_SUPPORT_COMMIT=FAKE_SHA)
    assert proc.returncode == 79, _out(proc)[-3000:]
    assert f"not a git checkout: trusting BUILD_SUPPORT_COMMIT={FAKE_SHA}" in _out(proc)
    assert "nox exits 79" in _out(proc)

    proc = release_tests("broken", "r40", BUILD_SUPPORT_COMMIT=FAKE_SHA)
    assert proc.returncode == 40, _out(proc)[-3000:]

    # In a checkout the commit is HEAD: a variable naming another commit is refused (13).
    git(project, "init", "-q", "-b", "main")
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "copy")
    head = git(project, "rev-parse", "HEAD")
    proc = _run_nox(
        project, envdir, "-s", "jars", "--", "multiplatform", BUILD_SUPPORT_COMMIT=FAKE_SHA
    )
    assert proc.returncode == 13, _out(proc)[-3000:]
    assert f"BUILD_SUPPORT_COMMIT={FAKE_SHA}" in _out(proc)
    assert head in _out(proc)
    assert "Traceback" not in _out(proc)

    # The wheel (FAKE_SHA) is not the test code's commit (HEAD): Ray's PREPARE_ERROR, with
    # reports that say why, and no IndexError.
    proc = release_tests("*", "r43")
    assert proc.returncode == 43, _out(proc)[-3000:]
    assert "Traceback" not in _out(proc)
    run = results / "r43"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["exit_code"] == 43
    assert summary["not_run"] == ["broken", "second"]
    (first,) = summary["tests"]
    assert first["exit_name"] == "PREPARE_ERROR"
    message = first["attempts"][0]["message"]
    assert FAKE_SHA in message
    assert head in message
    failure = ET.parse(run / "report.xml").getroot().find(".//failure")
    assert failure is not None
    assert FAKE_SHA in (failure.text or "")
    assert FAKE_SHA in (run / "report.html").read_text()


def test_config_error_while_nox_imports_the_noxfile(tmp_path: Path) -> None:
    project = _copy_project(tmp_path / "proj")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.build_support.wheel]\nbogus = "x"\n')
    proc = _run_nox(project, tmp_path / "envs", "-l")
    assert proc.returncode == 2, _out(proc)
    assert "error: noxfile:" in _out(proc)
    assert "Traceback" not in _out(proc)
    pyproject.write_bytes(pyproject.read_bytes() + b"# caf\xe9\n")
    proc = _run_nox(project, tmp_path / "envs", "-l")
    assert proc.returncode == 2, _out(proc)
    assert f"{pyproject} is not valid UTF-8" in _out(proc)
    assert "Traceback" not in _out(proc)


def test_wheel_stage_refuses_a_commit_variable_that_is_not_head(tmp_path: Path) -> None:
    """Issue 10's example: a fake BUILD_SUPPORT_COMMIT was stamped, "verified" and stored."""
    repo = make_repo(tmp_path, [PY])
    head = git(repo, "rev-parse", "HEAD")
    fake = "deadbeef" * 5
    proc = subprocess.run(
        [sys.executable, "-m", "build_support", "wheel", "--python", PY],
        cwd=repo,
        env=_clean_env(BUILD_SUPPORT_COMMIT=fake, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 13, proc.stderr
    assert f"BUILD_SUPPORT_COMMIT={fake}" in proc.stderr
    assert head in proc.stderr
    assert not (repo / ".artifacts").exists()
    assert not (repo / "dist").exists()


@pytest.mark.docker
def test_image_commit_is_read_from_the_image(minray_wheel: Path, tmp_path: Path) -> None:  # noqa: F811
    """The revision label is read back from the image, not from dist/images.json."""
    engine.ensure_docker()
    tag = f"build-support/label-test:{os.getpid()}"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM scratch\nLABEL {manifests.REVISION_LABEL}={FAKE_SHA}\n")
    subprocess.run(["docker", "build", "-q", "-t", tag, str(ctx)], check=True, capture_output=True)
    try:
        client = engine.connect(60)
        assert image_build.check_revision_label(client, tag, FAKE_SHA) == FAKE_SHA
        with pytest.raises(VerificationError, match=f"{manifests.REVISION_LABEL}='{FAKE_SHA}'"):
            image_build.check_revision_label(client, tag, "d" * 40)
        # release-tests --in-image: a manifest claiming the right commit does not help.
        manifest = manifests.write(
            tmp_path / "images.json",
            manifests.ImagesManifest(
                images=(
                    manifests.ImageRow(
                        name="minray", image_id=tag, refs=(tag,), built=True, input_digest="x",
                        commit="d" * 40, python=PY, flavor="cpu", arch="x86_64", base="scratch",
                    ),
                )
            ),
        )  # fmt: skip
        provider = ImageProvider(
            manifest=manifest,
            image_name="minray",
            expected_commit="d" * 40,
            package="minray",
            arch="x86_64",
        )
        with pytest.raises(VerificationError) as info:
            provider.prepare(PY)
        assert FAKE_SHA in str(info.value)
        assert manifests.REVISION_LABEL in str(info.value)
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)
    # The wheel side reads the same way: from inside the archive, one reader.
    assert set(wheelfile.read_commits(minray_wheel).values()) == {FAKE_SHA}
