"""The publish journal: ``publish/{sha}/journal.json`` in the artifact store.

One journal per commit, across every target, keyed by ``"<digest> <destination>"``. It
is written atomically (the store's put is write-then-rename) after every state change:

* ``pending``: the bytes may have left; the outcome is unknown until the target is asked.
  A rerun never retries a pending item blindly: the plan asks the target first.
* ``done``: the target holds exactly these bytes (checked after the send).
* ``skipped``: the target already held exactly these bytes.

The journal records; it never decides. Every plan is built from what the targets hold.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

from build_support import cache, log
from build_support.errors import StoreError
from build_support.publish import credentials
from build_support.store import keys
from build_support.store.base import Store

VERSION = 1


def journal_key(sha: str) -> str:
    return keys.publish_journal_key(sha)


def backup_key(sha: str) -> str:
    """A second copy, written just before the journal: a kill can break at most one."""
    return journal_key(sha).removesuffix(".json") + ".prev.json"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class Journal:
    def __init__(
        self, store: Store, sha: str, branch: str, data: dict[str, Any] | None = None
    ) -> None:
        self.store = store
        self.sha = sha
        self.key = journal_key(sha)
        self.data: dict[str, Any] = data or {
            "version": VERSION,
            "commit": sha,
            "branch": branch,
            "entries": {},
            "runs": [],
        }

    @classmethod
    def load(cls, store: Store, sha: str, branch: str) -> Journal:
        """The journal, else its backup copy (a SIGKILL can break the one being written)."""
        problems: list[str] = []
        for key in (journal_key(sha), backup_key(sha)):
            if not store.exists(key):
                continue
            try:
                data = cls._read(store, key)
            except (StoreError, ValueError, TypeError) as exc:
                problems.append(f"{key}: {exc}")
                continue
            if data.get("version") != VERSION or data.get("commit") != sha:
                problems.append(f"{key}: not a version-{VERSION} journal of {sha}")
                continue
            for p in problems:
                log.warn(f"publish journal: ignoring {p}")
            return cls(store, sha, branch, data)
        for p in problems:
            log.warn(f"publish journal: ignoring {p}; starting a new one (the plan is built "
                     "from what the targets hold, not from the journal)")  # fmt: skip
        return cls(store, sha, branch)

    @staticmethod
    def _read(store: Store, key: str) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="publish-journal-", dir=cache.scratch_dir()) as tmp:
            path = Path(tmp) / "journal.json"
            store.get(key, path)
            data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        return data

    @property
    def entries(self) -> dict[str, dict[str, Any]]:
        return self.data["entries"]  # type: ignore[no-any-return]

    def state(self, key: str) -> str | None:
        entry = self.entries.get(key)
        return None if entry is None else str(entry["state"])

    def record(self, key: str, state: str, *, target: str, name: str, **extra: str) -> None:
        """Set an entry's state and write the journal to the store, atomically."""
        entry = self.entries.setdefault(key, {"target": target, "name": name, "history": []})
        entry["state"] = state
        entry["updated"] = _now()
        entry["history"].append(f"{entry['updated']} {state}")
        for k, v in extra.items():
            entry[k] = credentials.scrub(v)
        self.write()

    def mark_present(self, key: str, *, target: str, name: str, destination: str) -> bool:
        """An item the target was seen to hold identically: ``skipped`` unless ``done``.

        This is how a ``pending`` entry (an upload whose outcome a kill left unknown) is
        resolved by looking. Returns whether the entry changed (the caller writes).
        """
        if self.state(key) in ("done", "skipped"):
            return False
        entry = self.entries.setdefault(key, {"target": target, "name": name, "history": []})
        entry["state"] = "skipped"
        entry["updated"] = _now()
        entry["history"].append(f"{entry['updated']} skipped (found on the target)")
        entry["destination"] = credentials.scrub(destination)
        return True

    def start_run(self, mode: str) -> None:
        self.data["runs"].append({"started": _now(), "mode": mode})

    def finish_run(self, outcome: str) -> None:
        if self.data["runs"]:
            self.data["runs"][-1].update(finished=_now(), outcome=outcome)
        self.write()

    def write(self) -> None:
        text = credentials.scrub(json.dumps(self.data, indent=2, sort_keys=True) + "\n")
        with tempfile.TemporaryDirectory(prefix="publish-journal-", dir=cache.scratch_dir()) as tmp:
            path = Path(tmp) / "journal.json"
            path.write_text(text, encoding="utf-8")
            self.store.put(backup_key(self.sha), path)
            self.store.put(self.key, path)
