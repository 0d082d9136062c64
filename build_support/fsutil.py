"""File facts and file writes every stage shares: SHA-256 of a file, atomic writes.

An atomic write goes to a uniquely named temporary file beside the target (so two
writers of the same path never share a temporary file), is flushed and fsynced, then
renamed over the target: a reader sees the old content or the new, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from build_support import redact

CHUNK = 1 << 20


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """The hex SHA-256 of ``path``, read in 1 MiB chunks (``progress`` gets each size)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            if progress is not None:
                progress(len(chunk))
    return digest.hexdigest()


def unsafe_member(name: str) -> bool:
    """An archive entry name that could write outside the folder it is unpacked into:
    absolute (``/x``, ``\\x``, ``C:x``), climbing (a ``..`` part, either separator), or
    holding a NUL. The one rule for wheels and JARs."""
    parts = name.replace("\\", "/").split("/")
    return (
        name.startswith(("/", "\\"))
        or (len(name) > 1 and name[1] == ":")
        or ".." in parts
        or "\0" in name
    )


def member_problems(archive: str, names: Sequence[str]) -> list[str]:
    """Unsafe (:func:`unsafe_member`) and repeated entry names of a zip ``archive``
    (a wheel or a JAR): an unpacker would write outside its folder, or pick one of two."""
    problems = [
        f"{archive} has an unsafe entry {n[:200]!r} (absolute, '..' or NUL): it could "
        "write outside the folder it is unpacked into"
        for n in names
        if unsafe_member(n)
    ]
    seen: set[str] = set()
    for n in names:
        if n in seen:
            problems.append(f"{archive} has the entry {n[:200]!r} more than once")
        seen.add(n)
    return problems


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_open(path: Path, *, mode: int | None = None) -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` when the block ends without an exception.

    The temporary name is unique (``.<name>.<random>.tmp`` in the same folder). The
    result keeps ``path``'s permission bits when it exists, else ``mode`` (default:
    0666 minus the umask, like a plain ``open``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if mode is None:
            mode = path.stat().st_mode & 0o777 if path.exists() else _umask_mode()
        tmp.chmod(mode)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes | str, *, mode: int | None = None) -> Path:
    """Write ``data`` (``str`` as UTF-8) to ``path`` atomically; returns ``path``."""
    blob = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_open(path, mode=mode) as fh:
        fh.write(blob)
    return path


def copy_atomic(src: Path, dest: Path, *, mode: int | None = None) -> Path:
    """Copy ``src`` to ``dest`` atomically (streamed); returns ``dest``."""
    with src.open("rb") as fin, atomic_open(dest, mode=mode) as fout:
        shutil.copyfileobj(fin, fout, CHUNK)
    return dest


@contextmanager
def atomic_dir(dest: Path) -> Iterator[Path]:
    """A fresh folder beside ``dest`` that replaces ``dest`` as a whole when the block ends
    without an exception (never a mix of old and new files); removed otherwise."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    old: Path | None = None
    try:
        yield staging
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
            dest.replace(old)  # onto the empty folder mkdtemp made
        staging.replace(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, data: Any, *, indent: int = 2) -> Path:
    """``data`` as JSON (sorted keys, trailing newline), written atomically.

    Every string goes through :func:`build_support.redact.scrub` first: no JSON the
    harness writes carries a secret.
    """
    text = json.dumps(redact.scrub(data), indent=indent, sort_keys=True)
    return write_atomic(path, text + "\n")
