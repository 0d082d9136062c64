"""The machine-wide cache folder, and a lock for work two jobs may start at once."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

CACHE_ENV = "BUILD_SUPPORT_CACHE"


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """``$BUILD_SUPPORT_CACHE`` or ``~/.cache/build-support``."""
    env = os.environ if env is None else env
    configured = env.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "build-support"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive file lock at ``path``: a second job making the same thing waits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
