"""Process control for a test's commands: a new process group per command, output
pumped to capped log files, a timeout that sends SIGTERM then SIGKILL after a grace
period, SIGINT/SIGTERM forwarded to the running group, and nothing left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from build_support import cgroups, cmd, log, procs, redact


@dataclass
class Interrupt:
    """The signal the runner received (if any), and the process group to forward it to."""

    signum: int | None = None
    pgid: int | None = None


@dataclass(frozen=True)
class ProcessOutcome:
    returncode: int
    duration: float
    timed_out: bool = False
    signal: int | None = None


def _killpg(pgid: int, signum: int) -> bool:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class _Pump(threading.Thread):
    """Copies a child's pipe into its log file through a :class:`redact.StreamRedactor`."""

    def __init__(self, fd: int, path: Path, redactor: redact.Redactor) -> None:
        super().__init__(name=f"pump-{path.name}", daemon=True)
        self.fd = fd
        self.path = path
        self.stream = redact.StreamRedactor(redactor)

    def run(self) -> None:
        with self.path.open("ab") as out:
            try:
                while chunk := os.read(self.fd, 1 << 16):
                    out.write(self.stream.feed(chunk))
                    out.flush()
            finally:
                out.write(self.stream.close())
                os.close(self.fd)


#: Notes already printed (the missing-cgroup note once per run, not per attempt).
_SAID: set[str] = set()


def run_group(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    grace: float,
    stdout: Path,
    stderr: Path,
    interrupt: Interrupt,
    clock: Callable[[], float] = time.monotonic,
    cleanup: Callable[[], None] | None = None,
    redactor: redact.Redactor | None = None,
) -> ProcessOutcome:
    """Run ``argv`` as a new process group; never leave it behind.

    On timeout or interrupt the group gets SIGTERM (or the received signal), then
    SIGKILL after ``grace`` seconds. Whatever happens, the group is SIGKILLed at the
    end, and so is every process in the attempt's cgroup (:mod:`cgroups`, where one can
    be made) or that still carries this run's owner marker (:func:`procs.kill_marked`:
    a daemon that left the group with ``setsid``);
    ``cleanup`` then removes what lives outside the group (a container). The output is
    written to ``stdout``/``stderr`` redacted (``redactor``: by default the secrets of
    ``env`` and of this process's environment).
    """
    start = clock()
    token = procs.new_owner_token()
    red = redactor or redact.Redactor.from_env({**os.environ, **env}, extra=redact.current().values)
    group, why_not = cgroups.create(f"build-support-{token}")
    if group is None and why_not not in _SAID:
        _SAID.add(why_not)
        log.info(f"release tests run without a cgroup each ({why_not}): a process that leaves")
        log.info("  the session and drops BUILD_SUPPORT_OWNER can outlive its test")
    with procs.subreaper(), contextlib.ExitStack() as stack:
        proc, pumps = _start_piped(
            argv if group is None else group.wrap(argv),
            cwd,
            env={**env, procs.OWNER_VAR: token},
            stdout=stdout,
            stderr=stderr,
            red=red,
        )
        stack.callback(_join_pumps, pumps)
        interrupt.pgid = proc.pid
        timed_out = False
        try:
            timed_out = _supervise(
                proc, interrupt, start=start, timeout=timeout, grace=grace, clock=clock
            )
        finally:
            interrupt.pgid = None
            _killpg(proc.pid, signal.SIGKILL)
            if proc.poll() is None:
                proc.wait()
            escaped = sorted({*(group.kill() if group else ()), *procs.kill_marked(token)})
            if escaped:
                log.warn(
                    f"killed {len(escaped)} process(es) that outlived the test's process group "
                    f"(pids {', '.join(map(str, escaped))})"
                )
            if cleanup is not None:
                cleanup()
    return ProcessOutcome(
        returncode=proc.returncode,
        duration=clock() - start,
        timed_out=timed_out,
        signal=None if timed_out else interrupt.signum,
    )


def _start_piped(
    argv: Sequence[str],
    cwd: Path,
    *,
    env: Mapping[str, str],
    stdout: Path,
    stderr: Path,
    red: redact.Redactor,
) -> tuple[subprocess.Popen[bytes], list[_Pump]]:
    """Start ``argv`` in a new session, its output pumped (redacted) into two files."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        # A process group of its own: signals reach the whole tree.
        proc = cmd.spawn(
            argv, cwd=cwd, env=env, stdout=out_w, stderr=err_w, new_session=True, echo=False
        )
    except BaseException:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    pumps = [_Pump(out_r, stdout, red), _Pump(err_r, stderr, red)]
    for pump in pumps:
        pump.start()
    return proc, pumps


def _supervise(
    proc: subprocess.Popen[bytes],
    interrupt: Interrupt,
    *,
    start: float,
    timeout: float,
    grace: float,
    clock: Callable[[], float],
) -> bool:
    """Wait for ``proc``; signal its group on interrupt or timeout. Whether it timed out."""
    pgid = proc.pid
    timed_out = False
    sent: int | None = None
    kill_at: float | None = None
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.05)
        if proc.returncode is not None:
            return timed_out
        now = clock()
        if sent is None and interrupt.signum is not None:
            sent = interrupt.signum
            _killpg(pgid, sent)
            kill_at = now + grace
        elif sent is None and now - start >= timeout:
            timed_out = True
            sent = signal.SIGTERM
            _killpg(pgid, sent)
            kill_at = now + grace
        elif kill_at is not None and now >= kill_at:
            _killpg(pgid, signal.SIGKILL)
            kill_at = None


def _join_pumps(pumps: Sequence[_Pump], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    for pump in pumps:
        if pump.is_alive() or pump.ident is not None:
            pump.join(max(0.0, deadline - time.monotonic()))
        if pump.is_alive():
            log.warn(f"{pump.path} is still held open by a process outside this run; not waiting")


@contextlib.contextmanager
def forward_signals(interrupt: Interrupt) -> Iterator[None]:
    """While active, SIGINT/SIGTERM are recorded and forwarded to the running group."""
    if os.name != "posix" or not _main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        if interrupt.signum is None:
            interrupt.signum = signum
        if interrupt.pgid is not None:
            _killpg(interrupt.pgid, signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
