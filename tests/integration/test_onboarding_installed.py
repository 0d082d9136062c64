"""docs/onboarding.md's installed harness, tried end to end outside this repository.

The harness is built into a wheel (``python -m build`` from a pinned tool venv, from a
copy of this checkout's files) and installed with nox into a fresh venv outside the
repository. A throwaway git project (one C-extension module in ``plain/``, reused from
test_onboarding.py) then gets ``build-support init`` (which refuses a second run and
writes nothing), is committed, and runs ``nox -s pipeline`` with that venv's nox: the
stages ``init`` chose (wheel, release-tests, publish in plan mode; the project has no
``requirements/*.in``, ``java/`` or Dockerfiles, so ``stages`` leaves lock, jars and
images out). The artifacts are read back: the stored wheel carries git's HEAD, the
release test passed against it, the pipeline record lists exactly those steps.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from build_support import cmd, manifests, pythons, tools, toolvenv, wheelfile
from tests.conftest import git
from tests.integration.test_onboarding import PLAIN, _write
from tests.integration.test_wheel import _clean_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.uname().machine not in ("x86_64", "amd64") or sys.platform != "linux",
        reason="the starter config builds for the host; this test reads manylinux2014_x86_64",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
PYTHON = "3.12"  # the tool Python of the sessions


def _harness_wheel(tmp_path: Path) -> Path:
    """This checkout's files (tracked and not ignored) built into the harness wheel."""
    src = tmp_path / "harness-src"
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for rel in filter(None, listed.split("\0")):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    interp = pythons.require([PYTHON])[PYTHON]
    build = toolvenv.ensure(
        interp.path, [tools.pin("build")], version=interp.full_version, root=tmp_path / "tools"
    )
    out = tmp_path / "harness-dist"
    cmd.run([build, "-m", "build", "--wheel", "--outdir", out, src], capture=True)
    (wheel,) = out.glob("build_support-*.whl")
    return wheel


def _run(
    argv: list[str], cwd: Path, venv: Path, timeout: float = 1200
) -> subprocess.CompletedProcess[str]:
    env = _clean_env(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)  # the installed harness, not this checkout
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_init_and_pipeline_of_an_installed_harness(tmp_path: Path) -> None:
    wheel = _harness_wheel(tmp_path)
    venv = tmp_path / "venv"
    interp = pythons.require([PYTHON])[PYTHON]
    cmd.run([interp.path, "-m", "venv", venv], capture=True)
    cmd.run([venv / "bin/python", "-m", "pip", "install", "-q", wheel, "nox"], capture=True)

    project = tmp_path / "proj"
    _write(project, {**PLAIN, ".gitignore": "dist/\n.artifacts/\nresults/\n.cache/\n.nox/\n"})
    git(project, "init", "-q", "-b", "main")
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "a project that has never seen the harness")

    init = _run([str(venv / "bin/build-support"), "init"], project, venv)
    assert init.returncode == 0, init.stdout + init.stderr
    written = ["pyproject.toml", "noxfile.py", "ci/build.rules.txt", "release/release_tests.yaml"]
    assert [ln.removeprefix("wrote ") for ln in init.stdout.splitlines()[:4]] == written
    assert "found 1 Python project(s)" in init.stderr
    noxfile = (project / "noxfile.py").read_text()
    assert "from build_support.nox import sessions\n\nsessions.install(globals())" in noxfile
    texts = {rel: (project / rel).read_bytes() for rel in written}
    # A second init overwrites nothing, writes nothing and says why (exit 2).
    again = _run([str(venv / "bin/build-support"), "init"], project, venv)
    assert again.returncode == 2, again.stderr
    assert "init would overwrite pyproject.toml ([tool.build_support]), noxfile.py" in again.stderr
    assert {rel: (project / rel).read_bytes() for rel in written} == texts
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "build-support init")
    sha = git(project, "rev-parse", "HEAD")

    listed = _run([str(venv / "bin/nox"), "-l"], project, venv)
    assert listed.returncode == 0, listed.stderr
    assert "* pipeline -> The main job" in listed.stdout
    assert "- release-tests -> Run release/release_tests.yaml" in listed.stdout

    proc = _run([str(venv / "bin/nox"), "-s", "pipeline"], project, venv, timeout=1800)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    # The session venv got the same harness wheel the outer venv was installed from.
    assert f"build-support @ {wheel.as_uri()}" in out

    dist = project / "dist"
    record = manifests.read(manifests.pipeline_path(dist), manifests.PipelineManifest)
    assert [(s.name, s.exit_code) for s in record.steps] == [
        ("wheel", 0),
        ("release-tests", 0),
        ("publish", 0),
    ]
    (row,) = manifests.read(manifests.wheels_path(dist), manifests.WheelsManifest).wheels
    assert row.project == "plain"
    stored = project / ".artifacts" / "main" / sha / row.wheel
    assert wheelfile.read_commit(stored, "plainc") == sha  # from inside the wheel, vs git
    (summary,) = (project / "results" / "release-tests").glob("*/summary.json")
    result = json.loads(summary.read_text())
    assert (result["commit"], result["passed"], result["failed"]) == (sha, 1, 0)
    assert git(project, "status", "--porcelain") == ""
