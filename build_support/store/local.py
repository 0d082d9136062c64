"""The local-directory backend (the default: ``.artifacts/`` under the project).

Layout: the object for key ``a/b/f.whl`` is ``<root>/a/b/f.whl``; its SHA-256 is in the
sidecar ``<root>/a/b/f.whl.sha256`` in ``sha256sum`` format (so ``sha256sum -c`` works).

Writes go to a hidden temporary file in the same directory and are renamed into place,
the sidecar first, then the object: a reader never sees half an object. Every write
(put, copy, rm) holds an exclusive per-key lock, and every read of an object with its
sidecar (info, get) a shared one: ``flock(2)`` on ``<root>/.locks/<hash of key>.lock``,
so two jobs writing one key can never leave object and checksum disagreeing. Lock files
are small, kept, and never listed.

A put killed before its rename (SIGKILL, power loss) leaves its hidden temporary file
behind. The next put or copy into the same folder removes such files
(:func:`sweep_temps`): those of this host whose writer (the pid in the name) is gone,
and any not modified for :data:`TEMP_LEASE_SECONDS` (a writer on another host sharing
the folder); it says what it removed.

Everything stays inside the root: a key whose path would pass through a symbolic link,
or that names a folder of other objects, is refused with a StoreError.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from build_support import log, procs
from build_support.errors import (
    ArtifactNotFoundError,
    InputError,
    IntegrityError,
    StoreError,
)
from build_support.fsutil import sha256_file
from build_support.store import keys
from build_support.store.base import (
    CHUNK,
    ObjectInfo,
    Store,
    StoreSettings,
    temp_sibling,
)
from build_support.store.progress import Progress

SIDECAR = keys.RESERVED_SUFFIX
#: Hidden folder under the root that holds the per-key lock files.
LOCKS = ".locks"


#: A temporary file that nothing modified for this long is a dead writer's (seconds).
TEMP_LEASE_SECONDS = 3600.0
#: ``.<name>.tmp-<host>-<pid>-<random>`` (:func:`~build_support.store.base.temp_sibling`);
#: names from before the host tag (``.<name>.tmp-<pid>-<random>``) match too.
_TEMP = re.compile(
    r"\.(?P<name>.+)\.(?:tmp|part)-(?:(?P<host>[0-9a-f]{8})-)?(?P<pid>\d+)-[0-9a-f]{8}"
)


def _is_hidden_temp(name: str) -> bool:
    return name.startswith(".") and (".tmp-" in name or ".part-" in name)


def _stale_temp(
    name: str, mtime: float, *, now: float, host: str, alive: Callable[[int], bool]
) -> str | None:
    """Why the temporary file ``name`` is a dead writer's, or None (not one, or live)."""
    m = _TEMP.fullmatch(name)
    if m is None:
        return None
    pid = int(m["pid"])
    if m["host"] == host and not alive(pid):
        return f"its writer, pid {pid} on this host, is gone"
    if now - mtime > TEMP_LEASE_SECONDS:
        return f"untouched for {now - mtime:.0f}s (over {TEMP_LEASE_SECONDS:.0f}s)"
    return None


def sweep_temps(
    folder: Path,
    *,
    now: Callable[[], float] = time.time,
    alive: Callable[[int], bool] = procs.alive,
) -> list[Path]:
    """Remove the temporary files of killed writers in ``folder``; return them."""
    removed: list[Path] = []
    freed = 0
    host = procs.host_tag()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        why = _stale_temp(entry.name, st.st_mtime, now=now(), host=host, alive=alive)
        if why is None or not entry.is_file(follow_symlinks=False):
            continue
        with contextlib.suppress(FileNotFoundError):
            Path(entry.path).unlink()
            removed.append(Path(entry.path))
            freed += st.st_size
            log.info(f"store: removed {entry.path} ({log.human_size(st.st_size)}): {why}")
    if removed:
        log.info(
            f"store: removed {len(removed)} temporary file(s) of killed writes in {folder}, "
            f"{log.human_size(freed)} freed"
        )
    return removed


class LocalStore(Store):
    def __init__(
        self,
        root: Path,
        settings: StoreSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(settings, clock=clock, sleep=sleep)
        self.root = Path(root).resolve()
        self.url = f"file://{self.root}"
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(
                f"local artifact store {self.root} is not a directory",
                hint="point artifact_store / BUILD_SUPPORT_STORE at a directory",
            )

    def _path(self, key: str) -> Path:
        """The object's path; StoreError if it would leave the root through a symlink."""
        path = self.root.joinpath(*keys.validate_key(key).split("/"))
        for p in (path, self._sidecar(path)):
            if p.resolve() != p:
                raise StoreError(
                    f"{key} in {self.url} passes through a symbolic link "
                    f"({p} resolves to {p.resolve()})",
                    hint="the local store follows no links; replace the link in the store "
                    "folder with a real directory, or point the store at the link's target",
                )
        return path

    def _as_object(self, key: str, path: Path) -> None:
        """StoreError if ``key`` cannot be an object because of what is on disk."""
        if path.is_dir():
            raise StoreError(
                f"{key} is a folder in {self.url} (it holds other objects), not an object",
                hint=f"use another key, or list it: 'python -m build_support.store ls {key}/'",
            )
        for parent in path.parents:
            if parent == self.root:
                break
            if parent.exists() and not parent.is_dir():
                prefix = parent.relative_to(self.root).as_posix()
                raise StoreError(
                    f"{key} cannot be stored in {self.url}: {prefix} is an object, "
                    "so it cannot also be a folder",
                    hint="the local store cannot hold both 'a' and 'a/b'; use another key",
                )

    @contextlib.contextmanager
    def _lock(self, key: str, *, shared: bool = False) -> Iterator[None]:
        """``flock`` on the key's lock file: exclusive for writers, shared for readers."""
        lock_dir = self.root / LOCKS
        name = hashlib.sha256(key.encode()).hexdigest()[:40] + ".lock"
        try:
            lock_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_dir / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(
                f"cannot lock {key} in {self.url}: {exc.strerror or exc}",
                hint=f"check that {lock_dir} is writable",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _locked(self, key: str) -> contextlib.AbstractContextManager[None]:
        return self._lock(key)

    @staticmethod
    def _sidecar(path: Path) -> Path:
        return path.with_name(path.name + SIDECAR)

    def _recorded(self, key: str, path: Path) -> str:
        try:
            text = self._sidecar(path).read_text(encoding="ascii")
        except FileNotFoundError:
            raise IntegrityError(
                f"{key} in {self.url} has no recorded SHA-256 ({path.name}{SIDECAR} missing)",
                hint="it was not written by the store; put it again with "
                "'python -m build_support.store put'",
            ) from None
        return text.split()[0] if text.split() else ""

    # -- primitives -------------------------------------------------------------
    def info(self, key: str) -> ObjectInfo:
        with self._lock(key, shared=True):
            return self._info(key)

    def _info(self, key: str) -> ObjectInfo:
        """``info`` for a caller that holds the key's lock."""
        path = self._path(key)
        if path.is_dir():
            raise ArtifactNotFoundError(
                f"{key} is a folder in the store {self.url}, not an object",
                hint=f"list it: 'python -m build_support.store ls {key}/'",
            )
        try:
            size = path.stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            raise ArtifactNotFoundError(
                f"{key} is not in the store {self.url}",
                hint=f"run 'python -m build_support.store ls {key.rsplit('/', 1)[0]}/' to see "
                "what is there; the stage that produces it may not have run",
            ) from None
        return ObjectInfo(key=key, size=size, sha256=self._recorded(key, path))

    def exists(self, key: str) -> bool:
        path = self._path(key)
        return path.is_file() and self._sidecar(path).is_file()

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        keys.validate_prefix(prefix)
        base = self.root
        if "/" in prefix:
            base = self.root.joinpath(*prefix.rsplit("/", 1)[0].split("/"))
        found: list[ObjectInfo] = []
        if not base.is_dir():
            return found
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.endswith(SIDECAR) or _is_hidden_temp(name):
                    continue
                path = Path(dirpath, name)
                key = path.relative_to(self.root).as_posix()
                if not key.startswith(prefix) or not self._sidecar(path).is_file():
                    continue
                with contextlib.suppress(ArtifactNotFoundError):  # removed meanwhile
                    found.append(self.info(key))
        return sorted(found, key=lambda o: o.key)

    def _stage(self, key: str, dest: Path, src: Path, sha256: str, size: int) -> Path:
        """Copy ``src`` to a hidden temporary beside ``dest``, checking it hashes to ``sha256``."""
        self._as_object(key, dest)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the folder of {key} in {self.url}: {exc.strerror or exc}",
                hint="check that the store folder is writable",
            ) from None
        sweep_temps(dest.parent)
        tmp = temp_sibling(dest, "tmp")
        try:
            got = _copy_hashing(src, tmp, Progress("put", key, size))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        if got != sha256:
            tmp.unlink()
            raise IntegrityError(
                f"{src} changed while it was copied to {key} "
                f"(sha256 {got[:12]}… != {sha256[:12]}…)",
                hint="make sure nothing writes the file during the upload, then retry",
            )
        return tmp

    def _commit(self, key: str, dest: Path, tmp_obj: Path, sha256: str) -> None:
        """Rename a staged object and its new sidecar into place (caller holds the lock)."""
        tmp_sum = temp_sibling(self._sidecar(dest), "tmp")
        try:
            self._as_object(key, dest)
            tmp_sum.write_text(f"{sha256}  {dest.name}\n", encoding="ascii")
            tmp_sum.replace(self._sidecar(dest))
            tmp_obj.replace(dest)
        finally:
            for tmp in (tmp_obj, tmp_sum):
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()

    def _holds(self, key: str, path: Path, size: int, sha256: str) -> ObjectInfo | None:
        if not self.exists(key):
            return None
        try:
            current = self._info(key)
        except IntegrityError:
            return None  # no sidecar: rewrite both
        if current.size != size or current.sha256 != sha256:
            return None
        if sha256_file(self._path(key)) != sha256:
            log.warn(
                f"store: {key} in {self.url} is corrupt (content does not match its "
                "recorded SHA-256); replacing it with the file being put"
            )
            return None
        return current

    def _upload(self, key: str, path: Path, size: int, sha256: str) -> None:
        dest = self._path(key)
        try:
            tmp = self._stage(key, dest, path, sha256, size)
            self._commit(key, dest, tmp, sha256)
        except OSError as exc:
            raise StoreError(
                f"cannot write {key} to {self.url}: {exc.strerror or exc}",
                hint="check free space and permissions of the store folder",
            ) from None

    def _download(self, key: str, dest: Path) -> ObjectInfo:
        src = self._path(key)
        tmp = temp_sibling(dest, "part")
        try:
            with self._lock(key, shared=True):
                info = self._info(key)
                got = _copy_hashing(src, tmp, Progress("get", key, info.size))
            if got == info.sha256:
                tmp.replace(dest)
                return info
        except FileNotFoundError as exc:
            if exc.filename is not None and Path(exc.filename) == src:
                raise ArtifactNotFoundError(f"{key} vanished from {self.url} while read") from None
            raise InputError(
                f"cannot write {dest}: {exc.strerror}", hint="check the destination"
            ) from None
        except OSError as exc:
            raise StoreError(
                f"cannot get {key} from {self.url} to {dest}: {exc.strerror or exc}",
                hint="check free space and permissions",
            ) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise IntegrityError(
            f"{key} in {self.url} is corrupt: its content hashes to {got[:16]}…, "
            f"the recorded SHA-256 is {info.sha256[:16]}…; nothing was written to {dest}",
            hint="put the right file again (a put repairs it), re-run the stage that "
            f"produces it, or delete it with 'python -m build_support.store rm {key}'",
        )

    def _copy(self, src: str, dst: str) -> ObjectInfo:
        dest = self._path(dst)
        with self._lock(src, shared=True):
            info = self._info(src)
            try:
                tmp = self._stage(dst, dest, self._path(src), info.sha256, info.size)
            except IntegrityError as exc:
                raise IntegrityError(
                    f"cannot copy {src} to {dst}: {src} is corrupt ({exc.message})",
                    hint=f"re-run the stage that produces {src}",
                ) from exc
        with self._lock(dst):
            self._commit(dst, dest, tmp, info.sha256)
        return ObjectInfo(key=dst, size=info.size, sha256=info.sha256)

    # -- conditional writes (the key's flock makes compare-and-write one step) ----------
    def _read_unlocked(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _write_small(self, key: str, body: bytes) -> str:
        """Write ``body`` as ``key`` (caller holds the lock); its tag (SHA-256)."""
        dest = self._path(key)
        sha = hashlib.sha256(body).hexdigest()
        self._as_object(key, dest)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = temp_sibling(dest, "tmp")
            with tmp.open("wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            self._commit(key, dest, tmp, sha)
        except OSError as exc:
            raise StoreError(
                f"cannot write {key} to {self.url}: {exc.strerror or exc}",
                hint="check free space and permissions of the store folder",
            ) from None
        return sha

    def _create_if_absent(self, key: str, body: bytes) -> str | None:
        with self._lock(key):
            if self._read_unlocked(key) is not None:
                return None
            return self._write_small(key, body)

    def _read_tagged(self, key: str) -> tuple[bytes, str] | None:
        with self._lock(key, shared=True):
            body = self._read_unlocked(key)
        return None if body is None else (body, hashlib.sha256(body).hexdigest())

    def _replace_if(self, key: str, body: bytes, tag: str) -> str | None:
        with self._lock(key):
            current = self._read_unlocked(key)
            if current is None or hashlib.sha256(current).hexdigest() != tag:
                return None
            return self._write_small(key, body)

    def _delete_if(self, key: str, tag: str) -> bool:
        with self._lock(key):
            current = self._read_unlocked(key)
            if current is None or hashlib.sha256(current).hexdigest() != tag:
                return False
            path = self._path(key)
            for p in (path, self._sidecar(path)):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
        return True

    def delete(self, key: str) -> bool:
        path = self._path(key)
        with self._lock(key):
            if path.is_dir():
                raise StoreError(
                    f"{key} is a folder in {self.url}, not an object; nothing was deleted",
                    hint=f"delete its objects: 'python -m build_support.store ls {key}/'",
                )
            existed = path.is_file()
            for p in (path, self._sidecar(path)):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
        parent = path.parent
        with contextlib.suppress(OSError):  # another put may be filling it again
            while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
        return existed


def _copy_hashing(src: Path, dest: Path, progress: Callable[[int], None]) -> str:
    digest = hashlib.sha256()
    with src.open("rb") as fin, dest.open("wb") as fout:
        while chunk := fin.read(CHUNK):
            digest.update(chunk)
            fout.write(chunk)
            progress(len(chunk))
        fout.flush()
        os.fsync(fout.fileno())
    if isinstance(progress, Progress):
        progress.finish()
    return digest.hexdigest()
