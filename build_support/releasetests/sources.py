"""Where a release test's wheel comes from: the artifact store at this commit, or files
given with ``--wheel``; the one that fits best (:func:`build_support.wheelfile.best_fit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from build_support import fsutil, wheelfile
from build_support.errors import ArtifactNotFoundError
from build_support.store import wheels as store_wheels
from build_support.store.base import Store


class WheelSource(Protocol):
    """Where wheels come from: the artifact store, or files given on the command line."""

    def fetch(self, python_version: str, dest_dir: Path) -> tuple[Path, str]:
        """The wheel for ``python_version`` in ``dest_dir``, and its SHA-256."""
        ...


class StoreWheels:
    """The wheel under ``{branch}/{sha}/`` in the artifact store that fits best
    (:func:`build_support.store.wheels.best_wheel`, as the images stage picks)."""

    def __init__(self, store: Store, *, branch: str, sha: str, dist: str, platform: str) -> None:
        self.store = store
        self.branch = branch
        self.sha = sha
        self.dist = dist
        self.platform = platform

    def fetch(self, python_version: str, dest_dir: Path) -> tuple[Path, str]:
        chosen = store_wheels.best_wheel(
            self.store,
            branch=self.branch,
            sha=self.sha,
            dist=self.dist,
            python=python_version,
            platform=self.platform,
        )
        dest = dest_dir / chosen.key.rsplit("/", 1)[-1]
        if dest.is_file() and fsutil.sha256_file(dest) == chosen.sha256:
            return dest, str(chosen.sha256)
        dest_dir.mkdir(parents=True, exist_ok=True)
        info = self.store.get(chosen.key, dest)
        return dest, str(info.sha256)


class LocalWheels:
    """Wheel files given with ``--wheel`` (one per Python tag)."""

    def __init__(self, paths: Sequence[Path], *, dist: str, platform: str) -> None:
        self.paths = [Path(p).resolve() for p in paths]
        self.dist = dist
        self.platform = platform

    def fetch(self, python_version: str, dest_dir: Path) -> tuple[Path, str]:
        by_name = {p.name: p for p in self.paths}
        chosen = wheelfile.best_fit(
            by_name, self.dist, python=python_version, platform=self.platform
        )
        if chosen is not None:
            path = by_name[chosen]
            if not path.is_file():
                raise ArtifactNotFoundError(f"--wheel {path} does not exist")
            return path, fsutil.sha256_file(path)
        tag = wheelfile.python_tag(python_version)
        raise ArtifactNotFoundError(
            f"none of the --wheel files is a {self.dist} wheel for Python {python_version} "
            f"({tag}-{tag}-{self.platform}): " + ", ".join(p.name for p in self.paths),
            hint=f"pass its wheel, or build it: nox -s wheel -- --python {python_version}",
        )
