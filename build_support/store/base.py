"""The store interface shared by both backends, and its settings."""

from __future__ import annotations

import abc
import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from build_support import log, procs
from build_support.errors import ConfigError, InputError, StoreTimeoutError
from build_support.fsutil import sha256_file
from build_support.settings import StoreSettings as StoreSettings  # noqa: PLC0414 - re-exported
from build_support.store import keys
from build_support.store.progress import Progress

if TYPE_CHECKING:
    from build_support.commits import BuildContext

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its key (relative to the store), size and SHA-256 (hex)."""

    key: str
    size: int
    sha256: str


def resolve_dest(key: str, dest: Path | str) -> Path:
    """Where ``get`` writes ``key``: ``dest`` itself, or ``dest/<basename of key>``.

    ``dest`` is a folder when it is an existing directory or when it is given as a string
    ending in ``/`` (the folder is then created). Anything in the way is an InputError.
    """
    as_dir = isinstance(dest, str) and dest.endswith(("/", os.sep))
    path = Path(dest)
    name = key.rsplit("/", 1)[-1]
    try:
        if as_dir:
            path.mkdir(parents=True, exist_ok=True)
        target = path / name if path.is_dir() else path
        if target.is_dir():
            raise InputError(
                f"cannot get {key} to {target}: a directory of that name is in the way",
                hint="pass another destination, or remove the directory",
            )
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot get {key} to {dest}: {exc.strerror or exc}",
            hint="pass a writable file or folder (a folder ends with '/')",
        ) from None
    return target


def temp_sibling(path: Path, tag: str) -> Path:
    """A hidden temporary name in ``path``'s directory, for write-then-rename:
    ``.<name>.<tag>-<host>-<pid>-<random>``, so a later put can tell whose it is
    (:func:`build_support.store.local.sweep_temps`)."""
    return path.with_name(
        f".{path.name}.{tag}-{procs.host_tag()}-{os.getpid()}-{os.urandom(4).hex()}"
    )


class Store(abc.ABC):
    """An artifact store. Keys are ``/``-separated; see :mod:`build_support.store.keys`."""

    url: str

    def __init__(
        self,
        settings: StoreSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings or StoreSettings()
        self.clock = clock
        self.sleep = sleep

    # -- backend primitives -------------------------------------------------------
    @abc.abstractmethod
    def info(self, key: str) -> ObjectInfo:
        """The object's size and SHA-256; ArtifactNotFoundError if absent."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Objects whose key starts with ``prefix``, sorted by key."""

    @abc.abstractmethod
    def _copy(self, src: str, dst: str) -> ObjectInfo:
        """Copy an object inside the store (checksum kept); returns the new object."""

    @abc.abstractmethod
    def delete(self, key: str) -> bool:
        """Remove an object; returns whether it existed (deleting nothing is fine)."""

    @abc.abstractmethod
    def _upload(self, key: str, path: Path, size: int, sha256: str) -> None: ...

    @abc.abstractmethod
    def _download(self, key: str, dest: Path) -> ObjectInfo:
        """Fetch ``key`` into ``dest`` atomically, verified; IntegrityError on mismatch."""

    @abc.abstractmethod
    def _holds(self, key: str, path: Path, size: int, sha256: str) -> ObjectInfo | None:
        """The stored object if it provably has ``path``'s content, else None.

        Not only the recorded checksum: the stored bytes themselves are checked (the
        local backend re-hashes them), so a corrupt object is never taken as unchanged.
        """

    # -- conditional writes of small objects, for :mod:`build_support.store.lease` ----------
    @abc.abstractmethod
    def _create_if_absent(self, key: str, body: bytes) -> str | None:
        """Write ``body`` as ``key`` only if there is no such object: its tag, else None."""

    @abc.abstractmethod
    def _read_tagged(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and tag (a value that changes with every write), or None."""

    @abc.abstractmethod
    def _replace_if(self, key: str, body: bytes, tag: str) -> str | None:
        """Overwrite ``key`` only if its tag is still ``tag``: the new tag, else None."""

    @abc.abstractmethod
    def _delete_if(self, key: str, tag: str) -> bool:
        """Delete ``key`` only if its tag is still ``tag``; whether it was deleted."""

    def lease(
        self, key: str, *, what: str, wait: bool = True
    ) -> contextlib.AbstractContextManager[object]:
        """Hold the lock ``key`` for a block: one holder at a time, on any host; others
        wait (or, ``wait=False``, fail with exit 12). See :mod:`build_support.store.lease`."""
        from build_support.store import lease

        keys.validate_key(key)
        return lease.hold(self, key, what=what, wait=wait)

    def _locked(self, key: str) -> contextlib.AbstractContextManager[None]:
        """Held around a put's check-then-write (the local backend locks the key)."""
        return contextlib.nullcontext()

    def _check_waitable(self, key: str) -> None:
        """Called once when ``key`` is not there yet: fail now if it can never appear."""
        del key  # a local folder can always be waited on

    # -- the shared operations -------------------------------------------------------
    def put(self, key: str, path: Path) -> ObjectInfo:
        """Upload ``path`` as ``key``, atomically; identical content is a no-op.

        ``latest/…`` is refused (GateError): only :meth:`promote` writes there.
        """
        keys.validate_key(key)
        keys.check_writable(key)
        path = Path(path)
        if not path.is_file():
            raise InputError(f"cannot put {path}: not a file", hint="build the artifact first")
        size = path.stat().st_size
        progress = Progress("hashing", path.name, size)
        sha = sha256_file(path, progress)
        progress.finish()
        with self._locked(key):
            current = self._holds(key, path, size, sha)
            if current is not None:
                log.info(f"store: {key} unchanged (sha256 {sha[:12]}…), not re-uploaded")
                return current
            self._upload(key, path, size, sha)
        log.info(f"store: put {key} ({log.human_size(size)}, sha256 {sha[:12]}…)")
        return ObjectInfo(key=key, size=size, sha256=sha)

    def copy(self, src: str, dst: str) -> ObjectInfo:
        """Copy ``src`` to ``dst`` inside the store; ``latest/…`` only via :meth:`promote`."""
        keys.validate_key(src)
        keys.validate_key(dst)
        keys.check_writable(dst)
        return self._copy(src, dst)

    def promote(self, src: str, *, ctx: BuildContext, default_branch: str) -> ObjectInfo:
        """Copy ``src`` to ``latest/<its file name>``: the default branch only, never a PR
        (:func:`keys.check_promotion`)."""
        keys.validate_key(src)
        keys.check_promotion(ctx, default_branch)
        return self._copy(src, keys.latest_key(src.rsplit("/", 1)[-1]))

    def get(self, key: str, dest: Path | str) -> ObjectInfo:
        """Download ``key`` to ``dest`` (a file, or a folder to put it in), verified.

        ``dest`` is a folder if it exists as one or is a string ending in ``/``.
        """
        keys.validate_key(key)
        target = resolve_dest(key, dest)
        info = self._download(key, target)
        log.info(f"store: got {key} -> {target} (sha256 {info.sha256[:12]}… verified)")
        return info

    def wait_for(
        self,
        key: str,
        *,
        timeout: float | None = None,
        interval: float | None = None,
        producer: str | None = None,
    ) -> ObjectInfo:
        """Poll until ``key`` exists; StoreTimeoutError once ``timeout`` seconds passed."""
        keys.validate_key(key)
        timeout = self.settings.wait_timeout_seconds if timeout is None else timeout
        interval = self.settings.wait_interval_seconds if interval is None else interval
        if not (math.isfinite(interval) and math.isfinite(timeout)) or interval <= 0 or timeout < 0:
            raise ConfigError(
                f"wait_for: timeout {timeout} / interval {interval} invalid",
                hint="both are finite seconds; the interval is above 0",
            )
        start = self.clock()
        deadline = start + timeout
        source = f" (produced by {producer})" if producer else ""
        announced = False
        while True:
            if self.exists(key):
                return self.info(key)
            if not announced:
                self._check_waitable(key)  # no bucket, denied: StoreError now, not at timeout
            now = self.clock()
            remaining = deadline - now
            if remaining <= 0:
                who = f"the {producer} stage" if producer else "the job that produces it"
                raise StoreTimeoutError(
                    f"{key}{source} did not appear in {self.url} after waiting "
                    f"{now - start:.0f}s (timeout {timeout:.0f}s)",
                    hint=f"check that {who} succeeded for this commit; or raise "
                    "wait_timeout_seconds in [tool.build_support.store]",
                )
            if not announced:
                log.info(f"store: waiting up to {timeout:.0f}s for {key}{source}")
                announced = True
            self.sleep(min(interval, remaining))
