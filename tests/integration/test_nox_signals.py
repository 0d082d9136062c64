"""SIGTERM and SIGINT sent to ``nox`` reach the stage's process group (issue 18, item 7).

Before, a signal killed nox alone: the stage (and its ``twine``, ``docker push``) ran on
orphaned and finished. The real ``nox`` runs the real ``noxfile.py`` of a copy of this
project (the worktree's session venvs reused); a release test sleeps; nox gets the
signal; nox must exit 128 + the signal and nothing of the stage may be left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integration.test_exit_codes import _collection, _copy_project, _nox
from tests.integration.test_release_runner import (  # noqa: F401 - a session fixture
    FAKE_SHA,
    minray_wheel,
)
from tests.integration.test_wheel import _clean_env

pytestmark = pytest.mark.integration


def _pids_under(tree: Path) -> list[int]:
    """Processes whose working folder or command line is inside ``tree``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            cwd = str((entry / "cwd").readlink())
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            if cwd.startswith(str(tree)) or str(tree) in cmdline:
                found.append(int(entry.name))
    return found


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _start_nox(project: Path, *args: str, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """``nox`` on the copy's noxfile, reusing this worktree's session venvs (``.nox``)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [_nox(), "-f", str(project / "noxfile.py"), "--envdir", str(ROOT / ".nox"), *args],
            cwd=project,
            env=_clean_env(**env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # like a CI agent's job: signals go to nox's pid only
        )


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_to_nox_stops_the_whole_stage_and_nox_exits_128_plus_it(
    minray_wheel: Path,  # noqa: F811
    tmp_path: Path,
    signum: int,
    code: int,
) -> None:
    project = _copy_project(tmp_path / "proj")
    started = tmp_path / "started"
    tests = _collection(project, {"sleeper": f"touch {started} && sleep 300"})
    log = tmp_path / "nox.log"
    nox = _start_nox(
        project, "-s", "release-tests", "--", "sleeper", "--file", str(tests),
        "--wheel", str(minray_wheel), "--results-dir", str(tmp_path / "results"),
        "--run-id", "sig", "--max-retries", "0", log=log, BUILD_SUPPORT_COMMIT=FAKE_SHA,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while not started.exists() and nox.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert started.exists(), log.read_text()[-3000:]
        working = _pids_under(tmp_path)
        assert len(working) >= 3, working  # nox, the stage, the test's shell and sleep
        os.kill(nox.pid, signum)
        returncode = nox.wait(timeout=180)
        out = log.read_text()
        left = _pids_under(tmp_path)
        assert left == [], (left, out[-3000:])
        assert returncode == code, out[-3000:]
        name = signal.Signals(signum).name
        assert f"received {name}: passed on to the release-tests stage" in out, out[-3000:]
        assert f"nox exits {code}" in out
    finally:
        _kill_all(_pids_under(tmp_path))
        if nox.poll() is None:
            nox.kill()
            nox.wait()
