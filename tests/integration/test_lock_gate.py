"""The CI staleness gate at the outermost command: ``nox -s lock-3.12 -- --check
--backend uv`` on a lockfile pip-tools compiled, in a copy of this project whose lock
inputs resolve from a local folder of tiny real wheels. Fresh: exit 0; a constraint
moves a pin: exit 8 (StaleError), naming the pin; the lockfile is left as it was."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.integration.test_exit_codes import _copy_project, _out, _run_nox
from tests.integration.test_wheel import _clean_env
from tests.unit.test_locks import make_project


def _stage(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "build_support", "lock", "--python", "3.12", *args],
        cwd=project,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_nox_lock_check_with_uv_gates_a_pip_tools_lockfile(tmp_path: Path) -> None:
    project = _copy_project(tmp_path / "proj")
    index, req = make_project(tmp_path / "inputs")
    shutil.rmtree(project / "requirements")
    shutil.copytree(req, project / "requirements")
    local = ("--no-index", "--find-links", str(index))
    compiled = _stage(project, "--backend", "pip-tools", *local)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    lock = project / "requirements" / "compiled" / "requirements_compiled_py3.12.txt"
    assert "with pip-tools 7.4.1" in lock.read_text()
    committed = lock.read_bytes()

    fresh = _run_nox(
        project, tmp_path / "nox", "-s", "lock-3.12", "--", "--check", "--backend", "uv", *local
    )
    assert fresh.returncode == 0, _out(fresh)
    assert "up to date" in _out(fresh)

    (project / "requirements" / "constraints.txt").write_text("tool==2.0\n")
    stale = _run_nox(
        project, tmp_path / "nox", "-s", "lock-3.12", "--", "--check", "--backend", "uv", *local
    )
    assert stale.returncode == 8, _out(stale)
    assert "-tool==1.0 (1 hash)" in _out(stale)
    assert "+tool==2.0 (1 hash)" in _out(stale)
    assert lock.read_bytes() == committed
