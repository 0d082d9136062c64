"""Where a release test's wheel comes from: the artifact store at this commit, or files
given with ``--wheel``; matched by :func:`build_support.wheelfile.matches`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from build_support import fsutil, wheelfile
from build_support.errors import ArtifactNotFoundError


class WheelSource(Protocol):
    """Where wheels come from: the artifact store, or files given on the command line."""

    def fetch(self, python_version: str, dest_dir: Path) -> tuple[Path, str]:
        """The wheel for ``python_version`` in ``dest_dir``, and its SHA-256."""
        ...


class StoreWheels:
    """Wheels under ``{branch}/{sha}/`` in the artifact store (``store.list`` + ``get``)."""

    def __init__(self, store: Any, *, branch: str, sha: str, dist: str, platform: str) -> None:
        from build_support.store import keys

        self.store = store
        self.prefix = keys.commit_prefix(branch, sha)
        self.dist = dist
        self.platform = platform

    def fetch(self, python_version: str, dest_dir: Path) -> tuple[Path, str]:
        objects = self.store.list(self.prefix)
        matches = [
            o
            for o in objects
            if wheelfile.matches(
                o.key.rsplit("/", 1)[-1], self.dist, python=python_version, platform=self.platform
            )
        ]
        if not matches:
            tag = wheelfile.python_tag(python_version)
            expected = f"{self.prefix}{self.dist}-<version>-{tag}-{tag}-{self.platform}.whl"
            have = ", ".join(o.key.rsplit("/", 1)[-1] for o in objects) or "nothing"
            raise ArtifactNotFoundError(
                f"no {self.dist} wheel for Python {python_version} in the store "
                f"{getattr(self.store, 'url', '')}: expected key {expected} (the prefix holds: "
                f"{have})",
                hint=f"build and store it: nox -s wheel -- --python {python_version}",
            )
        chosen = matches[-1]
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
        for path in self.paths:
            if wheelfile.matches(
                path.name, self.dist, python=python_version, platform=self.platform
            ):
                if not path.is_file():
                    raise ArtifactNotFoundError(f"--wheel {path} does not exist")
                return path, fsutil.sha256_file(path)
        tag = wheelfile.python_tag(python_version)
        raise ArtifactNotFoundError(
            f"none of the --wheel files is a {self.dist} wheel for Python {python_version} "
            f"({tag}-{tag}-{self.platform}): " + ", ".join(p.name for p in self.paths),
            hint=f"pass its wheel, or build it: nox -s wheel -- --python {python_version}",
        )
