"""Processes, containers and temporary folders the harness starts never outlive it.

Real docker (a ``FROM scratch`` image holding one static C program, built here), real
signals, and the real lock stage with a resolver that hangs on a silent loopback index.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from build_support import platforms
from build_support.containers import engine
from build_support.errors import CommandFailedError
from build_support.wheels.container import build_container
from build_support.wheels.plan import ContainerTarget, Job
from build_support.wheels.projects import Project
from build_support.wheels.settings import WheelSettings
from tests.helpers import pid_alive, wait_until

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "build-support-test/sleeper:1"
SHA = "d" * 40

SLEEPER_C = r"""
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    /* argv[0] "/fail": exit 3; anything else: sleep until killed. */
    if (strstr(argv[0], "fail")) return 3;
    for (;;) pause();
}
"""


@pytest.fixture(scope="module")
def sleeper_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny image with ``/sleep`` (never exits) and ``/fail`` (exits 3), built offline."""
    docker = engine.docker_client()
    ctx = tmp_path_factory.mktemp("sleeper")
    (ctx / "sleeper.c").write_text(SLEEPER_C)
    subprocess.run(
        ["gcc", "-static", "-O2", "-o", str(ctx / "sleep"), str(ctx / "sleeper.c")], check=True
    )
    os.link(ctx / "sleep", ctx / "fail")
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY sleep fail /\n")
    subprocess.run([docker, "build", "-q", "-t", IMAGE, str(ctx)], check=True, capture_output=True)
    return IMAGE


def _target(image: str) -> ContainerTarget:
    arch = platforms.canonical_arch(platforms.current_host().machine)
    return ContainerTarget(platform=f"manylinux2014_{arch}", arch=arch, image=image)


def _job(tmp_path: Path, target: ContainerTarget, interpreter: str) -> Job:
    project = tmp_path / "proj"
    (project / "pkg").mkdir(parents=True)
    (project / "pkg" / "_version.py").write_text('commit = "{{COMMIT_SHA}}"\n')
    (project / "pyproject.toml").write_text("[project]\nname = 'pkg'\nversion = '1'\n")
    return Job(
        project=Project(
            rel="proj",
            path=project,
            files=("pkg/_version.py", "pyproject.toml"),
            hashes={},
            requires=(),
            smoke="",
        ),
        target=target,
        python="3.12",
        full_version="3.12.0",
        interpreter=interpreter,
        digest="x",
    )


def _containers_mounting(path: Path) -> list[str]:
    """Names of containers (any state) with a bind mount from under ``path``."""
    docker = engine.docker_client()
    ids = subprocess.run(
        [docker, "ps", "-aq", "--filter", "name=bs-wheel-"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    found = []
    for cid in ids:
        out = subprocess.run(
            [docker, "inspect", "-f", "{{.Name}} {{range .Mounts}}{{.Source}} {{end}}", cid],
            capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        if str(path) in out:
            found.append(out.split()[0])
    return found


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TMPDIR for this test alone, so that leftovers can be counted."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    return tmp


def test_a_build_container_is_removed_when_its_timeout_fires(
    sleeper_image: str, tmp_path: Path, private_tmp: Path
) -> None:
    target = _target(sleeper_image)
    job = _job(tmp_path, target, "/sleep")
    settings = WheelSettings(container_timeout=3.0)
    start = time.monotonic()
    with pytest.raises(CommandFailedError, match="timed out"):
        build_container(job, target, settings, SHA, tmp_path)
    assert time.monotonic() - start < 60
    assert _containers_mounting(private_tmp) == []
    assert list(private_tmp.iterdir()) == []  # the build's temporary folder is gone


def test_a_failed_build_container_leaves_nothing(
    sleeper_image: str, tmp_path: Path, private_tmp: Path
) -> None:
    target = _target(sleeper_image)
    job = _job(tmp_path, target, "/fail")
    with pytest.raises(CommandFailedError) as info:
        build_container(job, target, WheelSettings(), SHA, tmp_path)
    assert info.value.returncode == 3
    assert _containers_mounting(private_tmp) == []
    assert list(private_tmp.iterdir()) == []


DRIVER = """\
import sys
from pathlib import Path
from build_support import procs
from build_support.wheels.container import build_container
from build_support.wheels.plan import ContainerTarget, Job
from build_support.wheels.projects import Project
from build_support.wheels.settings import WheelSettings
from tests.integration.test_owned_processes import _job, _target, SHA
tmp = Path(sys.argv[1])
target = _target(sys.argv[2])
job = _job(tmp, target, "/sleep")
with procs.sigterm_raises():
    try:
        build_container(job, target, WheelSettings(), SHA, tmp)
    except procs.Terminated:
        sys.exit(143)
    except KeyboardInterrupt:
        sys.exit(130)
"""


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_or_ctrl_c_during_a_container_build_removes_it(
    sleeper_image: str, tmp_path: Path, signum: int, code: int
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(tmp_path), sleeper_image],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: bool(_containers_mounting(tmp)) or proc.poll() is not None, 60)
        if proc.poll() is not None or not _containers_mounting(tmp):
            proc.kill()
            pytest.fail("the container never started:\n" + proc.communicate()[0])
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, out
    assert _containers_mounting(tmp) == []
    assert list(tmp.iterdir()) == []


# --------------------------------------------------------------------------- lock stage


@pytest.fixture
def silent_index() -> Iterator[str]:
    """A loopback "index" that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/simple"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        kids = {c for c, pp in parents.items() if pp == p}
        todo.extend(kids - found)
        found |= kids
    return found


def test_sigterm_to_the_lock_stage_leaves_no_resolver_and_no_temp_folder(
    tmp_path: Path, silent_index: str
) -> None:
    project = tmp_path / "project"
    (project / "requirements").mkdir(parents=True)
    (project / "requirements" / "base.in").write_text("somepackage\n")
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    (project / "pyproject.toml").write_text(
        textwrap.dedent(f"""\
        [tool.build_support]
        python_versions = ["{py}"]
        [tool.build_support.lock]
        backend = "uv"
        constraints = ""
        """)
    )
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "build_support", "lock", "--python", py,
         "--index-url", silent_index],
        cwd=project,
        env={**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        assert wait_until(
            lambda: (
                any(p.name.startswith("lock-") for p in tmp.iterdir())
                and len(_descendants(proc.pid)) > 0
            ),
            120,
        ), "the resolver never started"
        time.sleep(0.5)
        resolver = _descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    try:
        assert proc.returncode == 143, out
        assert "terminated" in out
        assert wait_until(lambda: not any(pid_alive(p) for p in resolver), 5), "resolver orphaned"
        assert not [p.name for p in tmp.iterdir() if p.name.startswith("lock-")]
    finally:
        for pid in resolver:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
