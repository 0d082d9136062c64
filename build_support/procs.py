"""Processes and containers the harness starts are owned: none outlives its stage.

* :func:`sigterm_raises` turns SIGTERM into :class:`Terminated` (a ``BaseException``
  like ``KeyboardInterrupt``), so ``finally`` blocks run: temporary folders are removed,
  ``subprocess.run`` kills its child, containers are removed.
* :func:`kill_marked` finds every process that carries an owner marker in its
  environment (``BUILD_SUPPORT_OWNER=<token>``), wherever it went (a new session with
  ``setsid``, re-parented to init), and kills it. A process that both leaves the session
  and drops the variable from its environment is not found here; release tests also
  run in a cgroup each (:mod:`build_support.cgroups`), which finds it.
* :func:`owned_container` removes a named container (``docker rm -f``) on every path
  (success, failure, timeout, SIGTERM, Ctrl-C) and deletes the build's temporary folder
  unless the block succeeded.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any

from build_support import cmd

#: The variable that marks a process (and all it starts) as owned by one run.
OWNER_VAR = "BUILD_SUPPORT_OWNER"
_PR_SET_CHILD_SUBREAPER = 36


class Terminated(BaseException):
    """The process received SIGTERM; raised so that cleanup code runs."""

    exit_code = 128 + signal.SIGTERM


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(f"received {signal.Signals(signum).name}")


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """While active (main thread only), SIGTERM raises :class:`Terminated`."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def new_owner_token() -> str:
    return uuid.uuid4().hex


def _environ_has(pid: int, marker: bytes) -> bool:
    try:
        data = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return marker in data.split(b"\0")


def marked_pids(token: str, *, proc: Path = Path("/proc")) -> list[int]:
    """Processes (other than this one) whose environment carries ``OWNER_VAR=token``."""
    marker = f"{OWNER_VAR}={token}".encode()
    me = os.getpid()
    found = []
    with contextlib.suppress(OSError):
        for entry in proc.iterdir():
            if (
                entry.name.isdigit()
                and int(entry.name) != me
                and _environ_has(int(entry.name), marker)
            ):
                found.append(int(entry.name))
    return sorted(found)


def process_state(pid: int) -> str:
    """The state letter of ``/proc/PID/stat`` (R, S, Z, …), or ``gone``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return stat.rsplit(")", 1)[1].split()[0]


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie does not count)."""
    if pid <= 0:
        return False
    if Path("/proc/self").exists():
        return process_state(pid) not in ("Z", "X", "gone")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_time(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, from ``/proc``): with the pid, it names
    one process even after the pid is reused. None where ``/proc`` is not there."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def host_tag() -> str:
    """8 hex digits that name this host in file names (a hash of its host name)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def kill_marked(token: str, *, rounds: int = 20) -> list[int]:
    """SIGKILL every process marked with ``token``; reap those that are our children.

    Returns the pids that were killed. Zombies (already dead, waiting for a parent) are
    not counted.
    """
    killed: list[int] = []
    for _ in range(rounds):
        alive = [p for p in marked_pids(token) if process_state(p) not in ("Z", "X", "gone")]
        if not alive:
            break
        for pid in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        for pid in alive:  # our children (see subreaper) are reaped; others are init's
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)
        time.sleep(0.02)
    return sorted(set(killed))


@contextlib.contextmanager
def subreaper() -> Iterator[bool]:
    """While active, orphaned descendants are re-parented to this process (Linux).

    So a process that escapes with ``setsid`` stays our child and can be reaped after
    it is killed. Yields whether the kernel accepted it.
    """
    ok = False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        libc = None
    try:
        yield ok
    finally:
        if ok and libc is not None:
            libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block ends (cleanup is not cut short)."""
    wanted = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, wanted)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def remove_container(docker: str, name: str) -> None:
    """``docker rm -f NAME``; a container that is already gone is fine."""
    cmd.run([docker, "rm", "-f", name], capture=True, check=False, echo=False, timeout=120)


@contextlib.contextmanager
def owned_container(docker: str, name: str, work: Path | None = None) -> Iterator[None]:
    """The container ``name`` started in this block never outlives it; nor does ``work``
    when the block fails.

    A timeout or a signal stops only the ``docker`` client, and the container would run
    on (``--rm`` acts only when it exits): so it is removed here on every path.
    """
    ok = False
    try:
        yield
        ok = True
    finally:
        with signals_deferred():
            remove_container(docker, name)
            if not ok and work is not None:
                shutil.rmtree(work, ignore_errors=True)


#: Signals a session forwards to its stage (and the exit code it then ends with: 128 + n).
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Seconds the rest of a signalled stage's process group gets, after the stage itself
#: ended, before it is killed. A second signal kills the group at once.
GROUP_GRACE_SECONDS = 30.0
_PR_SET_PDEATHSIG = 1


@dataclasses.dataclass(frozen=True)
class GroupExit:
    """How a stage run by :func:`run_forwarding` ended."""

    returncode: int
    #: The first signal received and forwarded, if any.
    signum: int | None = None

    @property
    def exit_code(self) -> int:
        """What the caller ends with: 128 + the signal it received, else the stage's code
        (a stage killed by signal N: 128 + N, as a shell reports it)."""
        if self.signum is not None:
            return 128 + self.signum
        return self.returncode if self.returncode >= 0 else 128 - self.returncode


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (Linux), even by SIGKILL."""
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(128 + signal.SIGTERM)


def _pgid_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return None


def group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not Path("/proc/self").exists():
        return True
    with contextlib.suppress(OSError):
        return any(
            e.name.isdigit() and _pgid_of(int(e.name)) == pgid and alive(int(e.name))
            for e in Path("/proc").iterdir()
        )
    return True


def run_forwarding(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    grace: float = GROUP_GRACE_SECONDS,
    on_signal: Callable[[int], None] | None = None,
) -> GroupExit:
    """Run ``argv`` (a stage) as a new process group and wait for it; SIGINT, SIGTERM and
    SIGHUP received meanwhile are forwarded to the whole group (main thread only).

    After a signal, this waits for the stage, then up to ``grace`` seconds for the rest of
    its group; what is still there then is killed (SIGKILL), as is the whole group at a
    second signal. The stage also gets SIGTERM if this process dies (Linux), so even a
    SIGKILL of the caller does not leave it running. stdin is inherited.
    """
    received: list[int] = []
    proc: subprocess.Popen[bytes] | None = None

    def handler(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        if on_signal is not None and len(received) == 1:
            on_signal(signum)
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signum if len(received) == 1 else signal.SIGKILL)

    import threading

    main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, handler) for s in FORWARDED} if main else {}
    try:
        proc = cmd.spawn(
            argv,
            env=env,
            stdout=stdout,
            stderr=stderr,
            new_session=True,
            echo=False,
            stdin=None,  # inherited: ci-plan --changed-from - reads it
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        if received:  # a signal came before the group existed
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, received[0])
        proc.wait()
        if received:  # the rest of the group: a grace period, then SIGKILL
            deadline = time.monotonic() + grace
            while group_alive(proc.pid) and time.monotonic() < deadline and len(received) == 1:
                time.sleep(0.05)
            if group_alive(proc.pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return GroupExit(proc.returncode, received[0] if received else None)
