"""The one builder of cached wheelhouses: binary wheels for a target platform and Python.

The wheel stage stages its build requirements for build containers; the images stage
stages the lockfile's wheels for ``base-deps``. Both download on the host with
``pip download --only-binary=:all:`` for the target (platform tags, CPython version and
ABI), into a temporary folder beside the cache entry that replaces it only when the
download is complete (:func:`fsutil.atomic_dir`), under a file lock. A wheelhouse
without its ``.complete`` marker does not exist.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

from build_support import cache, cmd, fsutil, log, tools, toolvenv
from build_support.config import PythonVersion

#: Part of every key: bump when the download command changes.
FORMAT_VERSION = 2
MARKER = ".complete"


def _pip() -> list[str]:
    """The pinned pip, from a tool venv of this interpreter (never an interpreter's own)."""
    exe = toolvenv.ensure(
        Path(sys.executable), [tools.pin("pip")], version=platform.python_version()
    )
    return [str(exe), "-m", "pip"]


def ensure(
    args: Sequence[str],
    *,
    platforms: Sequence[str],
    python: str,
    name: str,
    inputs: Sequence[str] = (),
    hint: str = "",
    timeout: float = 3600,
) -> Path:
    """A folder of wheels ``pip download`` gets for ``args`` (requirements, ``-r FILE``, …).

    ``inputs`` are extra cache-key parts (e.g. a requirements file's SHA-256); ``name``
    prefixes the folder name.
    """
    abi = PythonVersion(python).cp_tag
    key_src = json.dumps([FORMAT_VERSION, list(args), list(platforms), python, list(inputs)])
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    parent = cache.cache_root() / "wheelhouse"
    final = parent / f"{name}-{key}"
    with cache.locked(parent / f"{final.name}.lock"):
        if (final / MARKER).is_file():
            log.info(f"wheelhouse cached: {final}")
            return final
        with fsutil.atomic_dir(final) as work:
            argv = [*_pip(), "download", "-q", "--only-binary=:all:"]
            for plat in platforms:
                argv += ["--platform", plat]
            argv += [
                "--python-version",
                python,
                "--implementation",
                "cp",
                "--abi",
                abi,
                "--disable-pip-version-check",
                "--dest",
                str(work),
                *args,
            ]
            with log.group(f"wheelhouse {final.name} for Python {python} ({', '.join(platforms)})"):
                cmd.run(argv, capture=True, timeout=timeout, hint=hint or None)
            (work / MARKER).write_text("ok\n")
    log.success(f"wheelhouse {final} ({len(list(final.glob('*.whl')))} wheels)")
    return final
