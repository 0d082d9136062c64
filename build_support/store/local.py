"""The local-directory backend (the default: ``.artifacts/`` under the project).

Layout: the object for key ``a/b/f.whl`` is ``<root>/a/b/f.whl``; its SHA-256 is in the
sidecar ``<root>/a/b/f.whl.sha256`` in ``sha256sum`` format (so ``sha256sum -c`` works).
Writes go to a hidden temporary file in the same directory and are renamed into place,
the sidecar first, then the object: a reader never sees an object without its checksum,
nor half an object.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from build_support.errors import ArtifactNotFoundError, IntegrityError, StoreError
from build_support.store import keys
from build_support.store.base import CHUNK, ObjectInfo, Store, StoreSettings, temp_sibling
from build_support.store.progress import Progress

SIDECAR = keys.RESERVED_SUFFIX


def _is_hidden_temp(name: str) -> bool:
    return name.startswith(".") and (".tmp-" in name or ".part-" in name)


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
        return self.root.joinpath(*keys.validate_key(key).split("/"))

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
        path = self._path(key)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
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
                found.append(
                    ObjectInfo(key=key, size=path.stat().st_size, sha256=self._recorded(key, path))
                )
        return sorted(found, key=lambda o: o.key)

    def _write(self, key: str, dest: Path, src: Path, sha256: str, size: int) -> None:
        """Copy ``src`` to ``dest`` atomically, checking it hashes to ``sha256``."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp_obj = temp_sibling(dest, "tmp")
        tmp_sum = temp_sibling(self._sidecar(dest), "tmp")
        try:
            got = _copy_hashing(src, tmp_obj, Progress("put", key, size))
            if got != sha256:
                raise IntegrityError(
                    f"{src} changed while it was copied to {key} "
                    f"(sha256 {got[:12]}… != {sha256[:12]}…)",
                    hint="make sure nothing writes the file during the upload, then retry",
                )
            tmp_sum.write_text(f"{sha256}  {dest.name}\n", encoding="ascii")
            tmp_sum.replace(self._sidecar(dest))
            tmp_obj.replace(dest)
        finally:
            for tmp in (tmp_obj, tmp_sum):
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()

    def _upload(self, key: str, path: Path, size: int, sha256: str) -> None:
        self._write(key, self._path(key), path, sha256, size)

    def _download(self, key: str, dest: Path) -> ObjectInfo:
        src = self._path(key)
        for attempt in (1, 2):
            info = self.info(key)
            tmp = temp_sibling(dest, "part")
            try:
                got = _copy_hashing(src, tmp, Progress("get", key, info.size))
                if got == info.sha256:
                    tmp.replace(dest)
                    return info
            except FileNotFoundError:
                raise ArtifactNotFoundError(f"{key} vanished from {self.url} while read") from None
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
            # A concurrent put may have replaced object and sidecar between our reads.
            if attempt == 1 and self._recorded(key, src) != info.sha256:
                continue
            break
        raise IntegrityError(
            f"{key} in {self.url} is corrupt: its content hashes to {got[:16]}…, "
            f"the recorded SHA-256 is {info.sha256[:16]}…; nothing was written to {dest}",
            hint="re-run the stage that produces it, or delete it with "
            f"'python -m build_support.store rm {key}'",
        )

    def copy(self, src: str, dst: str) -> ObjectInfo:
        info = self.info(src)
        keys.validate_key(dst)
        try:
            self._write(dst, self._path(dst), self._path(src), info.sha256, info.size)
        except IntegrityError as exc:
            raise IntegrityError(
                f"cannot copy {src} to {dst}: {src} is corrupt ({exc.message})",
                hint=f"re-run the stage that produces {src}",
            ) from exc
        return ObjectInfo(key=dst, size=info.size, sha256=info.sha256)

    def delete(self, key: str) -> bool:
        path = self._path(key)
        existed = path.is_file()
        for p in (path, self._sidecar(path)):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        parent = path.parent
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
