"""The input-digest cache: one lookup/save pair for every stage that skips unchanged work.

A stage hashes everything its output depends on (:func:`digest`), looks the digest up in
the artifact store (:func:`lookup`, a typed record from :mod:`build_support.manifests`)
and, on a miss, does the work and saves a record (:func:`save`). The wheel, jars and
release-tests stages share this; each keeps its record type and key in ``manifests``.
An unreadable record is a miss (with a warning), never a failure: the stage rebuilds.

Every stage also reports each output it reused or made with :func:`note`; the pipeline
reads them per step (:func:`take`) to say which steps were reused.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TypeVar

from build_support import fsutil, log, manifests, store
from build_support.errors import InputError, StoreError

R = TypeVar("R")

_NOTES: list[tuple[str, bool]] = []


def note(what: str, *, reused: bool) -> None:
    """Record that this process reused (or made) the output ``what``."""
    _NOTES.append((what, reused))


def take() -> list[tuple[str, bool]]:
    """The notes since the last call, oldest first (and forget them)."""
    taken = list(_NOTES)
    _NOTES.clear()
    return taken


def digest(recipe: object, files: Mapping[str, str], facts: Mapping[str, object]) -> str:
    """A content hash of ``files`` (``{relative path: SHA-256}``) and ``facts``.

    ``recipe`` names the stage's recipe version (bump it when the way the output is
    made changes). Order-independent: the same inputs give the same digest.
    """
    payload = {
        "recipe": recipe,
        "files": sorted(files.items()),
        "facts": {k: facts[k] for k in sorted(facts)},
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def file_hashes(root: Path, files: Iterable[str]) -> dict[str, str]:
    """``{relative path: SHA-256}`` for ``files`` under ``root``."""
    return {rel: fsutil.sha256_file(root / rel) for rel in files}


def lookup(s: store.Store, key: str, cls: type[R], *, what: str) -> R | None:
    """The ``cls`` record at ``key`` in the store, or None (absent or unreadable)."""
    if not s.exists(key):
        return None
    with tempfile.TemporaryDirectory(prefix="bs-inputcache-") as tmp:
        local = Path(tmp) / "record.json"
        try:
            s.get(key, local)
            return manifests.read(local, cls)
        except InputError as exc:
            log.warn(f"unreadable cache record for {what} ({exc.message}); not reusing it")
        except StoreError as exc:
            log.warn(f"cache record for {what} could not be fetched ({exc}); not reusing it")
    return None


def save(s: store.Store, key: str, record: manifests.Record) -> None:
    """Put ``record`` in the store as ``key`` (written by :func:`manifests.write`)."""
    with tempfile.TemporaryDirectory(prefix="bs-inputcache-") as tmp:
        local = manifests.write(Path(tmp) / "record.json", record)
        s.put(key, local)
