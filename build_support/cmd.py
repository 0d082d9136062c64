"""The one subprocess seam.

Every external command goes through :func:`run`: it resolves the tool with
``shutil.which`` (a clear :class:`ToolMissingError` when it is absent), echoes the
command shell-quoted, and raises :class:`CommandFailedError` with the output tail
when it fails.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from build_support import log
from build_support.errors import CommandFailedError, ToolMissingError

#: How to get a tool that is missing, by executable name.
INSTALL_HINTS: dict[str, str] = {
    "docker": "install Debian's docker.io (apt-get install docker.io) and start dockerd",
    "mvn": "install Maven (apt-get install maven)",
    "java": "install a JDK 17 (apt-get install openjdk-17-jdk-headless)",
    "javac": "install a JDK 17 (apt-get install openjdk-17-jdk-headless)",
    "git": "install git (apt-get install git)",
    "gcc": "install gcc (apt-get install gcc)",
    "aarch64-linux-gnu-gcc": "install Debian's gcc-aarch64-linux-gnu",
    "debootstrap": "install Debian's debootstrap",
    "gpg": "install gnupg (apt-get install gnupg)",
    "uv": "pip install uv",
    "chromium": "install Debian's chromium",
}

TAIL_LINES = 40


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
            hint=INSTALL_HINTS.get(Path(tool).name, f"install {tool} and make sure it is on PATH"),
        )
    return found


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
    shown = quote(args)
    args[0] = which(args[0], path=search_path)
    if echo:
        log.info(f"+ {shown}" + (f"  (in {os.fspath(cwd)})" if cwd else ""))
    try:
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
            f"command timed out after {timeout}s: {quote(args)}",
            returncode=124,
            hint=hint,
        ) from exc
    if check and proc.returncode != 0:
        output = ""
        if capture:
            output = (proc.stdout or "") + (proc.stderr or "")
        tail = "\n".join(output.splitlines()[-TAIL_LINES:])
        message = f"command failed with exit code {proc.returncode}: {quote(args)}"
        if tail:
            message += "\n" + tail
        raise CommandFailedError(message, returncode=proc.returncode, output=output, hint=hint)
    return proc


def output(argv: Sequence[str | os.PathLike[str]], **kwargs: object) -> str:
    """Run a command quietly and return its stripped stdout."""
    proc = run(argv, capture=True, echo=False, **kwargs)  # type: ignore[arg-type]
    return proc.stdout.strip()


def python_exe() -> str:
    """The interpreter running the harness."""
    return sys.executable
