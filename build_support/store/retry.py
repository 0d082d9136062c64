"""The store's one retry policy: exponential backoff with full jitter, bounded twice.

What is retryable is decided by the caller's ``classify`` function (the S3 backend
lists its transient faults explicitly); this module only decides *when* and *how
often*. Clock, sleep and randomness are injected so that tests run without waiting.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from build_support import log
from build_support.errors import StoreError

T = TypeVar("T")


class Transient(Exception):  # noqa: N818 - a marker, not an error the user sees
    """Raised by a classifier to mark a fault as worth retrying."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """At most ``attempts`` tries and ``total_seconds`` of waiting in all."""

    attempts: int = 5
    total_seconds: float = 120.0
    base_delay: float = 0.5
    max_delay: float = 20.0
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, failures: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, base_delay * 2**(failures-1))]."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (failures - 1)))
        return self.rng.uniform(0.0, ceiling)

    def call(
        self,
        fn: Callable[[], T],
        *,
        what: str,
        classify: Callable[[BaseException], BaseException],
    ) -> T:
        """Run ``fn``; retry while ``classify(exc)`` returns a :class:`Transient`.

        ``classify`` maps a raised exception either to a :class:`Transient` (retry) or
        to the error to raise now (a :class:`StoreError` subclass, typically).
        """
        start = self.clock()
        failures = 0
        while True:
            try:
                return fn()
            except Exception as exc:
                verdict = classify(exc)
                if verdict is exc:
                    raise
                if not isinstance(verdict, Transient):
                    raise verdict from exc
                failures += 1
                elapsed = self.clock() - start
                pause = self.delay(failures)
                if failures >= self.attempts or elapsed + pause > self.total_seconds:
                    raise StoreError(
                        f"{what} failed after {failures} attempt(s) in {elapsed:.1f}s: "
                        f"{verdict.reason}",
                        hint="check that the store is reachable; raise "
                        "[tool.build_support.store] retry_attempts / retry_total_seconds "
                        "if the service is just slow",
                    ) from exc
                log.warn(
                    f"{what}: {verdict.reason}; retry {failures}/{self.attempts - 1} "
                    f"in {pause:.1f}s"
                )
                self.sleep(pause)
