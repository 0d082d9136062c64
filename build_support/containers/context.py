"""Reproducible ``docker build`` contexts and the input digest of an image build.

A :class:`BuildContext` is written as a tar with sorted entries, fixed mtimes, root
ownership and normalized modes (as Ray's ``tar --mtime``), and digested without writing
it; :func:`input_digest` (context, build args, labels, base image ID, platform) is
recorded as the :data:`DIGEST_LABEL` label, so equal digests mean equal images.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from build_support import fsutil
from build_support.reproducible import FIXED_MTIME

DIGEST_LABEL = "io.build-support.input-digest"


#: Part of every input digest: bump when the way images are built changes.
FORMAT_VERSION = 1


@dataclass
class BuildContext:
    """Files for a ``docker build`` context; written as a reproducible tar."""

    files: dict[str, Path | bytes] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)

    def add(self, name: str, source: Path | bytes) -> None:
        if name.startswith("/") or ".." in name.split("/"):
            raise ValueError(f"bad context path {name!r}")
        self.files[name] = source

    def add_dir(self, name: str) -> None:
        self.dirs.add(name)

    def _all_dirs(self) -> set[str]:
        out = set(self.dirs)
        for name in self.files:
            parts = name.split("/")[:-1]
            out.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return out

    def _entries(self) -> list[tuple[str, Path | bytes | None]]:
        entries: list[tuple[str, Path | bytes | None]] = [(d, None) for d in self._all_dirs()]
        entries += list(self.files.items())
        return sorted(entries, key=lambda e: e[0])

    def digest(self) -> str:
        """SHA-256 over names, kinds and contents, without writing the tar."""
        h = hashlib.sha256(f"context-v{FORMAT_VERSION}\0".encode())
        for name, source in self._entries():
            if source is None:
                h.update(f"d {name}\0".encode())
                continue
            content = _sha256_of(source)
            h.update(f"f {name} {_mode(source):o} {content}\0".encode())
        return h.hexdigest()

    def write_tar(self, out: IO[bytes]) -> None:
        """Sorted entries, fixed mtimes, root-owned, normalized modes (as Ray's ``tar --mtime``)."""
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for name, source in self._entries():
                info = tarfile.TarInfo(name)
                info.mtime = FIXED_MTIME
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if source is None:
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    tar.addfile(info)
                    continue
                info.mode = _mode(source)
                if isinstance(source, bytes):
                    info.size = len(source)
                    tar.addfile(info, io.BytesIO(source))
                else:
                    info.size = source.stat().st_size
                    with source.open("rb") as fh:
                        tar.addfile(info, fh)


def _mode(source: Path | bytes) -> int:
    if isinstance(source, Path) and source.stat().st_mode & 0o111:
        return 0o755
    return 0o644


def _sha256_of(source: Path | bytes) -> str:
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    return fsutil.sha256_file(source)


def input_digest(
    *,
    context_digest: str,
    build_args: Mapping[str, str],
    labels: Mapping[str, str],
    base_image_id: str,
    platform: str,
) -> str:
    """The digest recorded as :data:`DIGEST_LABEL`; equal digests mean equal images."""
    payload = {
        "format": FORMAT_VERSION,
        "context": context_digest,
        "build_args": dict(sorted(build_args.items())),
        "labels": dict(sorted(labels.items())),
        "base": base_image_id,
        "platform": platform,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
