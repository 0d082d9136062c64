"""A lock held in the artifact store, for work that two jobs must not do at once (the
publish of one commit). It works the same on every backend and across hosts:

* **Take**: create the lock object only if it is absent (the local backend under its
  per-key ``flock``; S3 with a conditional put, ``If-None-Match: *``). The object is JSON
  that names its holder: a random token, host, pid (with the process's start time, so a
  reused pid is not taken for the holder), what it is doing, when it started.
* **Hold**: a thread renews the object every ``lease / 5`` seconds, replacing it only if
  it is still the one written last (local: compared under the ``flock``; S3:
  ``If-Match: <ETag>``).
* **Release**: delete it, again only if it is still ours (S3: ``If-Match`` on delete).
* **Wait**: a second job polls, printing who holds the lock every 30 s; with
  ``wait=False`` it fails at once (:class:`~build_support.errors.StoreTimeoutError`,
  exit 12) naming the holder.
* **Stale**: a lock is broken (replaced by the waiter, conditionally, so two waiters
  cannot both take it) when its holder ran on this host and that process is gone, or
  when it was not renewed for :data:`LEASE_SECONDS` (a holder on another host that died,
  or lost the store for that long). Breaking says which rule applied. By hand:
  ``python -m build_support store rm <key>``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from build_support import log, procs
from build_support.errors import StoreError, StoreTimeoutError


class Store(Protocol):
    """What a lease needs of a store: its conditional writes of small objects
    (:class:`build_support.store.base.Store` implements them per backend)."""

    @property
    def url(self) -> str: ...

    def _create_if_absent(self, key: str, body: bytes) -> str | None: ...

    def _read_tagged(self, key: str) -> tuple[bytes, str] | None: ...

    def _replace_if(self, key: str, body: bytes, tag: str) -> str | None: ...

    def _delete_if(self, key: str, tag: str) -> bool: ...


#: A lock not renewed for this long is stale (seconds); its holder renews every fifth.
LEASE_SECONDS = 300.0
#: Seconds between two tries to take a held lock.
POLL_SECONDS = 1.0
#: Seconds between two "waiting for the lock" lines.
REPORT_SECONDS = 30.0


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: the content of the lock object."""

    token: str
    host: str
    pid: int
    pid_start: str | None
    what: str
    started: float
    renewed: float
    lease: float

    def body(self) -> bytes:
        return (json.dumps(asdict(self), sort_keys=True) + "\n").encode()

    @classmethod
    def parse(cls, body: bytes) -> Holder | None:
        try:
            data: dict[str, Any] = json.loads(body)
            return cls(
                token=str(data["token"]), host=str(data["host"]), pid=int(data["pid"]),
                pid_start=None if data.get("pid_start") is None else str(data["pid_start"]),
                what=str(data["what"]), started=float(data["started"]),
                renewed=float(data["renewed"]), lease=float(data["lease"]),
            )  # fmt: skip
        except (ValueError, TypeError, KeyError):
            return None

    def describe(self, now: float) -> str:
        since = dt.datetime.fromtimestamp(self.started, dt.timezone.utc).isoformat(
            timespec="seconds"
        )
        return (
            f"{self.what} (pid {self.pid} on {self.host}, since {since}, "
            f"renewed {max(0.0, now - self.renewed):.0f}s ago)"
        )


def _alive(pid: int, start: str | None) -> bool:
    """The holder's process runs here: the pid is alive and started when it said."""
    if not procs.alive(pid):
        return False
    return start is None or procs.start_time(pid) in (None, start)


def stale_reason(
    holder: Holder, *, now: float, host: str, alive: Callable[[int, str | None], bool] = _alive
) -> str | None:
    """Why ``holder``'s lock may be broken, or None while it holds it."""
    if holder.host == host and not alive(holder.pid, holder.pid_start):
        return f"its holder, pid {holder.pid} on this host ({host}), is gone"
    if now - holder.renewed > holder.lease:
        return (
            f"it was not renewed for {now - holder.renewed:.0f}s, over its "
            f"{holder.lease:.0f}s lease (its holder on {holder.host} died or lost the store)"
        )
    return None


class _Renewer(threading.Thread):
    """Rewrites the lock every ``lease / 5`` seconds while it is held."""

    def __init__(
        self, store: Store, key: str, holder: Holder, tag: str, now: Callable[[], float]
    ) -> None:
        super().__init__(name=f"lease-{key}", daemon=True)
        self.store, self.key, self.holder, self.tag, self.now = store, key, holder, tag, now
        self.stop = threading.Event()
        self.lost: str | None = None

    def run(self) -> None:
        while not self.stop.wait(self.holder.lease / 5):
            renewed = replace(self.holder, renewed=self.now())
            try:
                tag = self.store._replace_if(self.key, renewed.body(), self.tag)
            except StoreError as exc:  # the next round tries again, within the lease
                log.warn(f"store: could not renew the lock {self.key}: {exc.message}")
                continue
            if tag is None:
                self.lost = f"the lock {self.key} in {self.store.url} was taken by another job"
                log.error(f"store: {self.lost}: it thought this one dead")
                return
            self.holder, self.tag = renewed, tag


@contextlib.contextmanager
def hold(
    store: Store,
    key: str,
    *,
    what: str,
    wait: bool = True,
    lease: float = LEASE_SECONDS,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    poll: float = POLL_SECONDS,
    report: float = REPORT_SECONDS,
) -> Iterator[Holder]:
    """Hold the lock ``key`` in ``store`` for the block (see the module docstring)."""
    host = socket.gethostname()
    pid = os.getpid()
    mine = Holder(
        token=uuid.uuid4().hex, host=host, pid=pid, pid_start=procs.start_time(pid),
        what=what, started=now(), renewed=now(), lease=lease,
    )  # fmt: skip
    tag = _take(store, key, mine, wait=wait, now=now, sleep=sleep, poll=poll, report=report)
    renewer = _Renewer(store, key, mine, tag, now)
    renewer.start()
    try:
        yield mine
    finally:
        with procs.signals_deferred():
            renewer.stop.set()
            renewer.join()
            if renewer.lost is None:
                try:
                    store._delete_if(key, renewer.tag)
                except StoreError as exc:
                    log.warn(
                        f"store: could not remove the lock {key} ({exc.message}); the next "
                        "job breaks it once its holder is seen gone"
                    )


def _take(
    store: Store,
    key: str,
    mine: Holder,
    *,
    wait: bool,
    now: Callable[[], float],
    sleep: Callable[[float], None],
    poll: float,
    report: float,
) -> str:
    """Create or break-and-take the lock; the tag of the object written."""
    waited_since = now()
    reported_at: float | None = None
    while True:
        mine = replace(mine, renewed=now())
        tag = store._create_if_absent(key, mine.body())
        if tag is not None:
            return tag
        current = store._read_tagged(key)
        if current is None:  # released meanwhile
            continue
        body, their_tag = current
        theirs = Holder.parse(body)
        if theirs is not None and theirs.token == mine.token:
            return their_tag  # our own create went through before a retry
        why = (
            "its content is not a lock record" if theirs is None
            else stale_reason(theirs, now=now(), host=mine.host)
        )  # fmt: skip
        if why is not None:
            tag = store._replace_if(key, mine.body(), their_tag)
            if tag is not None:
                held = theirs.describe(now()) if theirs else "unknown"
                log.warn(f"store: broke the stale lock {key} in {store.url}, held by {held}: {why}")
                return tag
            continue  # another job changed it first: look again
        assert theirs is not None  # noqa: S101 - why is None only for a parsed holder
        if not wait:
            raise StoreTimeoutError(
                f"{key} in {store.url} is held by {theirs.describe(now())}; not waiting "
                "(--no-wait)",
                hint="another run is doing this now: rerun without --no-wait to wait for it. "
                f"A lock whose holder died is broken by the next run (at once on the same "
                f"host, else after {theirs.lease:.0f}s without renewal); to break it by hand: "
                f"python -m build_support store rm {key}",
            )
        t = now()
        if reported_at is None or t - reported_at >= report:
            reported_at = t
            log.info(
                f"store: waiting for the lock {key} ({t - waited_since:.0f}s so far): held by "
                f"{theirs.describe(t)}"
            )
        sleep(poll)
