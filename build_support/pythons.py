"""Interpreter discovery: each configured Python, wherever it lives.

Looked for, in order: the user's explicit paths (config ``python_search_paths`` or the
``BUILD_SUPPORT_PYTHONS`` environment variable, ``os.pathsep``-separated directories or
executables), pyenv's versions folder (``$PYENV_ROOT/versions/X.Y.*/bin``; shims are
never used, since they refuse versions that are not selected), then ``pythonX.Y`` on
PATH. Every candidate is *run* to confirm its version, so a shim or a broken link does
not count as found.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from build_support import cmd
from build_support.errors import BuildSupportError, InterpreterNotFoundError

ENV_VAR = "BUILD_SUPPORT_PYTHONS"


@dataclass(frozen=True)
class Interpreter:
    version: str  # "3.12"
    full_version: str  # "3.12.1"
    path: Path


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in re.split(r"[.\-]", name))


def pyenv_root(env: Mapping[str, str]) -> Path:
    return Path(env.get("PYENV_ROOT") or Path.home() / ".pyenv")


def candidates(
    version: str, *, env: Mapping[str, str], extra: Sequence[str] = ()
) -> Iterator[Path]:
    """Possible executables for ``version``, best first (not yet confirmed)."""
    user = [*extra, *filter(None, env.get(ENV_VAR, "").split(os.pathsep))]
    for entry in user:
        p = Path(entry).expanduser()
        if p.is_dir():
            yield from (p / f"python{version}", p / "bin" / f"python{version}")
        else:
            yield p
    versions = pyenv_root(env) / "versions"
    if versions.is_dir():
        matches = [
            d for d in versions.iterdir() if re.fullmatch(rf"{re.escape(version)}\.\d+", d.name)
        ]
        for d in sorted(matches, key=lambda d: _version_key(d.name), reverse=True):
            yield d / "bin" / f"python{version}"
    for directory in env.get("PATH", "").split(os.pathsep):
        if not directory or "shims" in Path(directory).parts:
            continue
        found = shutil.which(f"python{version}", path=directory)
        if found:
            yield Path(found)


def probe(path: Path) -> str | None:
    """The full version an executable reports, or None if it does not run."""
    if not path.is_file() or not os.access(path, os.X_OK):
        return None
    try:
        proc = cmd.run(
            [path, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture=True,
            check=False,
            echo=False,
            timeout=20,
        )
    except (OSError, BuildSupportError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def find(
    version: str, *, env: Mapping[str, str] | None = None, extra: Sequence[str] = ()
) -> Interpreter | None:
    env = os.environ if env is None else env
    for path in candidates(version, env=env, extra=extra):
        full = probe(path)
        if full and (full == version or full.startswith(version + ".")):
            return Interpreter(version=version, full_version=full, path=path)
    return None


def install_hint(version: str) -> str:
    return (
        f"install Python {version}: `pyenv install {version}`, or `uv python install {version}`,"
        f" or point {ENV_VAR} (or [tool.build_support] python_search_paths) at its bin folder"
    )


def require(
    versions: Iterable[str], *, env: Mapping[str, str] | None = None, extra: Sequence[str] = ()
) -> dict[str, Interpreter]:
    """Every requested interpreter, or one error that lists all missing ones."""
    found: dict[str, Interpreter] = {}
    missing: list[str] = []
    for v in versions:
        interp = find(v, env=env, extra=extra)
        if interp is None:
            missing.append(v)
        else:
            found[v] = interp
    if missing:
        raise InterpreterNotFoundError(
            "Python " + ", ".join(missing) + " not found (looked in "
            f"{ENV_VAR}, pyenv's versions folder, and PATH without pyenv shims)",
            hint="; ".join(install_hint(v) for v in missing),
        )
    return found
