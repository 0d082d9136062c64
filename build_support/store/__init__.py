"""The artifact store: one interface, two backends (local directory, S3).

Every stage hands its outputs to the next through here::

    from build_support import store

    s = store.open_store(cfg)  # BUILD_SUPPORT_STORE or [tool.build_support] artifact_store
    s.put(store.keys.wheel_key(ctx.branch, ctx.sha, wheel.name), wheel)
    s.get(key, dest_dir)  # verifies the SHA-256; IntegrityError on mismatch
    s.wait_for(key, producer="wheel")  # StoreTimeoutError after wait_timeout_seconds

URLs: a path or ``file://`` URL selects :class:`LocalStore`; ``s3://bucket/prefix``
selects :class:`S3Store` (imported lazily, so local use never imports boto3).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from build_support.config import Config
from build_support.errors import UsageError
from build_support.store import keys
from build_support.store.base import ObjectInfo, Store, StoreSettings
from build_support.store.local import LocalStore

if TYPE_CHECKING:
    from build_support.store.s3 import S3Store

__all__ = [
    "LocalStore",
    "ObjectInfo",
    "S3Store",
    "Store",
    "StoreSettings",
    "cli_main",
    "keys",
    "open_store",
    "open_url",
    "settings_from",
]


def settings_from(cfg: Config) -> StoreSettings:
    """``[tool.build_support.store]``, validated."""
    return cfg.section("store", StoreSettings)


def open_url(
    url: str,
    settings: StoreSettings | None = None,
    *,
    root: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Store:
    """The store at ``url``: a path (relative to ``root``), ``file://…`` or ``s3://…``."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        from build_support.store.s3 import S3Store

        return S3Store(url, settings, clock=clock, sleep=sleep)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise UsageError(f"unsupported store URL {url!r}: file URLs must be local")
        return LocalStore(Path(unquote(parsed.path)), settings, clock=clock, sleep=sleep)
    if "://" in url:
        raise UsageError(
            f"unsupported store URL {url!r}",
            hint="use a directory, file:///abs/path or s3://bucket/prefix",
        )
    path = Path(url)
    if not path.is_absolute() and root is not None:
        path = root / path
    return LocalStore(path, settings, clock=clock, sleep=sleep)


def open_store(cfg: Config, url: str | None = None) -> Store:
    """The configured store (``url`` > ``BUILD_SUPPORT_STORE`` > ``artifact_store``)."""
    return open_url(url or cfg.store_url(), settings_from(cfg), root=cfg.root)


def cli_main(argv: list[str], cfg: Config) -> int:
    """The ``store`` stage: ``put|get|ls|promote|rm|wait``."""
    from build_support.store.cli import main

    return main(argv, cfg)


def __getattr__(name: str) -> object:
    if name == "S3Store":
        from build_support.store.s3 import S3Store

        return S3Store
    raise AttributeError(name)
