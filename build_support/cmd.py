"""The one subprocess seam.

Every external command goes through :func:`run`: it resolves the tool with
``shutil.which`` (a clear :class:`ToolMissingError` when it is absent), echoes the
command shell-quoted, and raises :class:`CommandFailedError` with the output tail
when it fails. Long-running processes start through :func:`spawn`. Both refuse an
executable that :mod:`build_support.tools` does not declare for the running stage
(:class:`~build_support.tools.UndeclaredToolError`), so provisioning cannot miss one.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from build_support import log, redact, tools
from build_support.errors import CommandFailedError, ToolMissingError

TAIL_LINES = 40
#: Seconds between "still running" lines while a command runs (0 turns them off).
PROGRESS_ENV = "BUILD_SUPPORT_PROGRESS_SECONDS"
PROGRESS_SECONDS = 10.0


def progress_interval(env: Mapping[str, str] | None = None) -> float:
    """``$BUILD_SUPPORT_PROGRESS_SECONDS`` or 10; 0 or a bad value: as set / the default."""
    raw = (os.environ if env is None else env).get(PROGRESS_ENV, "")
    try:
        value = float(raw) if raw else PROGRESS_SECONDS
    except ValueError:
        return PROGRESS_SECONDS
    return value if value >= 0 else PROGRESS_SECONDS


@contextlib.contextmanager
def heartbeat(what: str, interval: float | None = None) -> Iterator[None]:
    """Print ``… still running: WHAT (Ns elapsed)`` every ``interval`` seconds until done.

    A long command (Maven, debootstrap, a Docker or QEMU build) whose output is captured
    or quiet never looks hung; a command that ends sooner prints nothing.
    """
    every = progress_interval() if interval is None else interval
    if every <= 0:
        yield
        return
    done = threading.Event()
    started = time.monotonic()

    def beat() -> None:
        while not done.wait(every):
            log.info(f"... still running: {what} ({time.monotonic() - started:.0f}s elapsed)")

    thread = threading.Thread(target=beat, name="cmd-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def which(tool: str, *, path: str | None = None) -> str:
    """The absolute path of ``tool``, or a ToolMissingError that says how to get it."""
    if os.sep in tool:
        if Path(tool).exists():
            return tool
        found = None
    else:
        found = shutil.which(tool, path=path)
    if found is None:
        raise ToolMissingError(
            f"required tool {tool!r} was not found on PATH",
            hint=tools.install_hint(tool),
        )
    return found


def _resolve(tool: str, path: str | None) -> str:
    """``which``, after checking that the current stage declares ``tool`` (tools.STAGES)."""
    tools.check_declared(tool)
    return which(tool, path=path)


def quote(argv: Sequence[str | os.PathLike[str]]) -> str:
    return " ".join(shlex.quote(os.fspath(a)) for a in argv)


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
    check: bool = True,
    echo: bool = True,
    timeout: float | None = None,
    input_text: str | None = None,
    hint: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command.

    ``env`` entries are added to (not substituted for) the current environment.
    With ``capture`` the output is returned (and shown on failure); otherwise it
    streams to the terminal.
    """
    if not argv:
        raise ValueError("empty command")
    args = [os.fspath(a) for a in argv]
    full_env = None
    search_path = None
    if env is not None:
        full_env = {**os.environ, **env}
        search_path = full_env.get("PATH")
    shown = redact.text(quote(args))
    args[0] = _resolve(args[0], search_path)
    if echo:
        log.info(f"+ {shown}" + (f"  (in {os.fspath(cwd)})" if cwd else ""))
    try:
        with heartbeat(shown if len(shown) <= 120 else shown[:117] + "..."):
            proc = subprocess.run(
                args,
                cwd=cwd,
                env=full_env,
                text=True,
                capture_output=capture,
                timeout=timeout,
                input=input_text,
                check=False,
            )
    except subprocess.TimeoutExpired as exc:
        raise CommandFailedError(
            f"command timed out after {timeout}s: {shown}",
            returncode=124,
            hint=hint,
        ) from exc
    if check and proc.returncode != 0:
        output = ""
        if capture:
            output = (proc.stdout or "") + (proc.stderr or "")
        message = f"command failed with exit code {proc.returncode}: {shown}"
        if capture:
            message += "".join(_tail(s) for s in (proc.stdout, proc.stderr))
        raise CommandFailedError(message, returncode=proc.returncode, output=output, hint=hint)
    return proc


def _tail(stream: str | None) -> str:
    """The end of one captured stream for a message: 40 lines, at most 4 KB, redacted."""
    lines = (stream or "").rstrip("\n").splitlines()[-TAIL_LINES:]
    return "\n" + redact.tail("\n".join(lines)) if lines else ""


def spawn(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    new_session: bool = False,
    echo: bool = True,
    stdin: int | IO[Any] | None = subprocess.DEVNULL,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running process (a daemon, a release test) and return it.

    The same checks as :func:`run` (declared, on PATH); ``env`` replaces the environment
    here, since callers of a long-running process build it whole. stdin is closed unless
    ``stdin`` says otherwise (``None``: inherited); ``preexec_fn`` runs in the child.
    """
    if not argv:
        raise ValueError("empty command")
    args = [os.fspath(a) for a in argv]
    shown = redact.text(quote(args))
    args[0] = _resolve(args[0], None if env is None else env.get("PATH"))
    if echo:
        log.info(f"+ {shown} &" + (f"  (in {os.fspath(cwd)})" if cwd else ""))
    return subprocess.Popen(
        args,
        cwd=cwd,
        env=None if env is None else dict(env),
        stdout=stdout,
        stderr=stderr,
        stdin=stdin,
        start_new_session=new_session,
        preexec_fn=preexec_fn,  # noqa: PLW1509 - the caller's, e.g. procs._die_with_parent
    )


def output(argv: Sequence[str | os.PathLike[str]], **kwargs: object) -> str:
    """Run a command quietly and return its stripped stdout."""
    proc = run(argv, capture=True, echo=False, **kwargs)  # type: ignore[arg-type]
    return proc.stdout.strip()


def python_exe() -> str:
    """The interpreter running the harness."""
    return sys.executable
