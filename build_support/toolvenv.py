"""The one builder of cached tool venvs (build, auditwheel, pip-tools, …) per interpreter,
and where uv is (:func:`find_uv`).

A tool venv is keyed by the interpreter (path and full version) and the exact requirement
list; it is made once under a file lock (a second job waits instead of racing) in place,
and counts only when its ``.complete`` marker is written after every install succeeded.
A venv left half-made by a killed run has no marker and is made again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from build_support import cache, cmd, indexes, log, tools

MARKER = ".complete"


def find_uv() -> str | None:
    """The uv executable: the ``uv`` package's binary if importable, else ``uv`` on PATH,
    else one in a pyenv version; None when there is none.

    pyenv shims are skipped (each call through one costs a shell start).
    """
    if importlib.util.find_spec("uv") is not None:
        from uv import find_uv_bin  # type: ignore[import-not-found,unused-ignore]

        return str(find_uv_bin())
    path = os.pathsep.join(
        d for d in os.environ.get("PATH", "").split(os.pathsep) if "shims" not in Path(d).parts
    )
    found = shutil.which("uv", path=path)
    if not found:
        pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
        found = next((str(p) for p in sorted(pyenv.glob("versions/*/bin/uv"))), None)
    return found


def with_pinned_pip(requirements: Sequence[str]) -> list[str]:
    """``requirements``, with the pinned pip (:data:`build_support.tools.PINS`) first unless
    they name pip themselves: every pip the harness runs is a pinned one from a tool venv,
    never an interpreter's own (whose version varies by host: pip 23.2 refuses a locked
    extra under ``--require-hashes``)."""
    names = {re.split(r"[\s<>=!~;\[]", r.strip(), maxsplit=1)[0].lower() for r in requirements}
    return list(requirements) if "pip" in names else [tools.pin("pip"), *requirements]


def venv_dir(
    python: Path, requirements: Sequence[str], *, version: str, root: Path | None = None
) -> Path:
    """Where the tool venv of ``python`` with ``requirements`` lives."""
    key = json.dumps([str(python), version, sorted(requirements)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return (root or cache.cache_root() / "tool-venvs") / f"py{version}-{digest}"


def ensure(
    python: Path,
    requirements: Sequence[str],
    *,
    version: str,
    root: Path | None = None,
    uv: str | None = None,
) -> Path:
    """The python of a cached venv of ``python`` holding ``requirements`` (made if needed).

    ``uv`` (a path to uv) makes and fills the venv with uv, else ``venv`` + pip. The
    venv's pip is the pinned one (:func:`with_pinned_pip`).
    """
    requirements = with_pinned_pip(requirements)
    venv = venv_dir(python, requirements, version=version, root=root)
    exe = venv / "bin" / "python"
    with cache.locked(venv.with_name(venv.name + ".lock")):
        if (venv / MARKER).is_file() and exe.exists():
            return exe
        shutil.rmtree(venv, ignore_errors=True)
        log.step(f"tool venv for Python {version} in {venv}: {' '.join(requirements)}")
        try:
            if uv:
                # uv follows its own UV_* index variables, else pip's configuration.
                env, args, _sources = indexes.uv_env()
                argv: list[str | os.PathLike[str]] = [uv, "venv", "-q", "--seed"]
                cmd.run([*argv, "--python", python, venv], env=env, capture=True)
                argv = [uv, "pip", "install", "-q", "--python", exe, *args, *requirements]
                cmd.run(argv, env=env, capture=True)
            else:
                cmd.run([python, "-m", "venv", venv], capture=True)
                cmd.run([exe, "-m", "pip", "install", "-q", *requirements], capture=True)
        except BaseException:
            shutil.rmtree(venv, ignore_errors=True)
            raise
        (venv / MARKER).write_text("\n".join(requirements) + "\n", encoding="utf-8")
    return exe
