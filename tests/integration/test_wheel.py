"""The wheel stage for real: builds of minray and minray_cpp, repaired, verified, stored.

Each test runs ``python -m build_support wheel`` in its own git repository holding a copy
of the bundled product, so the working tree under test is one nobody else touches.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from build_support import fsutil, pythons, wheelfile
from tests.conftest import ROOT, git

PYPROJECT = """\
[tool.build_support]
python_versions = {versions}
default_branch = "main"
artifact_store = ".artifacts"

[tool.build_support.wheel]
projects = ["python", "python/cpp"]
"""

_IGNORE = shutil.ignore_patterns("build", "dist", "__pycache__", "*.egg-info", "*.so")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUILDKITE", "GITHUB_"))}
    for var in ("BUILD_SUPPORT_COMMIT", "BUILD_SUPPORT_BRANCH", "BUILD_SUPPORT_STORE", "CI"):
        env.pop(var, None)
    env.update(extra)
    return env


def make_repo(where: Path, versions: list[str]) -> Path:
    repo = where / "proj"
    repo.mkdir()
    shutil.copytree(ROOT / "python", repo / "python", ignore=_IGNORE)
    (repo / "pyproject.toml").write_text(PYPROJECT.format(versions=json.dumps(versions)))
    (repo / ".gitignore").write_text("dist/\n.artifacts/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "product")
    return repo


def run_stage(repo: Path, *args: str, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "build_support", "wheel", *args],
        cwd=repo,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and ".git" not in p.relative_to(root).parts:
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def available(versions: list[str]) -> list[str]:
    found = [v for v in versions if pythons.find(v) is not None]
    if len(found) < 2:
        pythons.require(versions)  # fails, naming the missing ones and how to get them
    return found[:2]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], str]:
    """One real build of both projects for two Pythons on the host platform."""
    versions = available(["3.11", "3.12", "3.13", "3.10"])
    repo = make_repo(tmp_path_factory.mktemp("wheel"), versions)
    proc = run_stage(repo, "manylinux2014_x86_64")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return repo, versions, proc.stderr


pytestmark = pytest.mark.skipif(
    os.uname().machine not in ("x86_64", "amd64") or sys.platform != "linux",
    reason="host builds here target manylinux2014_x86_64",
)


def test_host_build_repairs_stamps_and_stores(built: tuple[Path, list[str], str]) -> None:
    repo, versions, _log = built
    sha = git(repo, "rev-parse", "HEAD")
    report = json.loads((repo / "dist" / "wheels.json").read_text())
    assert report["commit"] == sha
    rows = report["wheels"]
    assert sorted((r["project"], r["python"]) for r in rows) == sorted(
        (p, v) for p in ("python", "python/cpp") for v in versions
    )
    for row in rows:
        wheel = repo / "dist" / row["wheel"]
        assert wheel.is_file()
        assert not row["cached"]
        assert fsutil.sha256_file(wheel) == row["sha256"]
        wheelfile.check_tags(wheel, platform="manylinux2014_x86_64", python=row["python"])
        assert set(wheelfile.read_commits(wheel).values()) == {sha}
        stored = repo / ".artifacts" / "main" / sha / row["wheel"]
        assert stored.read_bytes() == wheel.read_bytes()
        assert (repo / ".artifacts" / "latest" / row["wheel"]).is_file()
    # The working tree is exactly as committed: stamping happened in a copy.
    assert git(repo, "status", "--porcelain") == ""
    assert 'commit = "{{COMMIT_SHA}}"' in (repo / "python/minray/_version.py").read_text()


def test_wheels_pass_auditwheel_show(built: tuple[Path, list[str], str]) -> None:
    repo, _versions, _log = built
    for wheel in sorted((repo / "dist").glob("*.whl")):
        out = subprocess.run(
            [sys.executable, "-m", "auditwheel", "show", str(wheel)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        found = re.search(
            r'consistent with the following platform tag:\s*"manylinux_(\d+)_(\d+)_', out
        )
        assert found is not None, out
        assert (int(found[1]), int(found[2])) <= (2, 17), out


def test_wheel_installs_and_imports_in_a_fresh_venv(
    built: tuple[Path, list[str], str], tmp_path: Path
) -> None:
    repo, versions, _log = built
    interp = pythons.find(versions[0])
    assert interp is not None
    sha = git(repo, "rev-parse", "HEAD")
    venv = tmp_path / "venv"
    subprocess.run([str(interp.path), "-m", "venv", str(venv)], check=True)
    tag = wheelfile.python_tag(versions[0])
    wheels = [str(w) for w in (repo / "dist").glob(f"*-{tag}-*.whl")]
    assert len(wheels) == 2
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", *wheels],
        check=True,
    )
    code = (
        "import minray, minray._core, minray_cpp; "
        "assert minray.HAVE_CORE; print(minray.__commit__, minray_cpp.__commit__)"
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [sha, sha]


def test_rerun_reuses_stored_wheels(built: tuple[Path, list[str], str]) -> None:
    repo, versions, _log = built
    before = json.loads((repo / "dist" / "wheels.json").read_text())["wheels"]
    proc = run_stage(repo, "manylinux2014_x86_64")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("unchanged inputs") == 2 * len(versions)
    assert "-m build --wheel" not in proc.stderr
    after = json.loads((repo / "dist" / "wheels.json").read_text())["wheels"]
    assert all(r["cached"] for r in after)
    assert sorted(r["sha256"] for r in after) == sorted(r["sha256"] for r in before)


def test_changed_source_misses_the_cache(built: tuple[Path, list[str], str]) -> None:
    """Only the edited project rebuilds; the other stays a cache hit."""
    repo, versions, _log = built
    readme = repo / "python" / "cpp" / "README.md"
    original = readme.read_text()
    readme.write_text(original + "\nedited\n")
    try:
        proc = run_stage(repo, "manylinux2014_x86_64", "--python", versions[0])
    finally:
        readme.write_text(original)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((repo / "dist" / "wheels.json").read_text())["wheels"]
    assert {r["project"]: r["cached"] for r in rows} == {"python": True, "python/cpp": False}


def test_missing_python_says_how_to_get_it(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, ["3.12"])
    empty = tmp_path / "empty"
    empty.mkdir()
    env = _clean_env(PYENV_ROOT=str(empty), PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin")
    proc = subprocess.run(
        [sys.executable, "-m", "build_support", "wheel", "--python", "3.13"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 4, proc.stderr
    assert "Python 3.13 not found" in proc.stderr
    assert "pyenv install 3.13" in proc.stderr


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_build_leaves_the_tree_unchanged(tmp_path: Path, sig: signal.Signals) -> None:
    repo = make_repo(tmp_path, ["3.12"])
    before = tree_digest(repo)
    seen: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-m", "build_support", "wheel", "--force", "--python", "3.12"],
        cwd=repo,
        env=_clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        assert proc.stderr is not None
        try:
            for line in proc.stderr:
                seen.append(line)
                if "-m build --wheel" in line:
                    time.sleep(3)  # mid-build: the isolated env is being made or compiling
                    break
            assert proc.poll() is None, "".join(seen)
            proc.send_signal(sig)
            proc.wait(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the orphaned build tools we started
            proc.wait(timeout=60)
    # SIGTERM runs the stage's cleanup and exits 128+15; SIGKILL cannot be caught.
    assert proc.returncode == (-sig if sig == signal.SIGKILL else 128 + sig), "".join(seen)
    assert git(repo, "status", "--porcelain", "--ignored") == ""
    assert tree_digest(repo) == before
    assert not list(repo.rglob("*.whl"))
