"""The harness's one retry policy for transient faults: exponential backoff with full
jitter, bounded by time (the artifact store, the publish stage's HTTP client).

A transient fault is retried until ``total_seconds`` have passed since the first try (so
a short outage is ridden out, however many attempts that takes), and at least
``attempts`` tries are made (so slow timeouts do not leave a single try). The last
pause is cut to what is left of the budget, so the final try happens at its end.

What is retryable is decided by the caller's ``classify`` function (the S3 backend
lists its transient faults explicitly), and what to raise when the tries are spent by
its ``give_up``; this module only decides *when* and *how often*. Clock, sleep and
randomness are injected so that tests run without waiting. (A release test's retry is
another policy, Ray's exit-code list: :mod:`build_support.releasetests.retry`.)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from build_support import log

T = TypeVar("T")


class Transient(Exception):  # noqa: N818 - a marker, not an error the user sees
    """Raised by a classifier to mark a fault as worth retrying."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Retry for ``total_seconds``, and at least ``attempts`` tries in all."""

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
        give_up: Callable[[str], BaseException],
    ) -> T:
        """Run ``fn``; retry while ``classify(exc)`` returns a :class:`Transient`.

        ``classify`` maps a raised exception either to a :class:`Transient` (retry) or
        to the error to raise now (a :class:`StoreError` subclass, typically). When the
        tries and the time are spent, ``give_up(message)`` is raised, from the last fault.
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
                remaining = self.total_seconds - elapsed
                if remaining <= 0 and failures >= self.attempts:
                    raise give_up(
                        f"{what} failed after {failures} attempt(s) in {elapsed:.1f}s: "
                        f"{verdict.reason}"
                    ) from exc
                pause = self.delay(failures)
                if remaining > 0:
                    pause = min(pause, remaining)
                left = (
                    f"{remaining:.0f}s of the retry budget left"
                    if remaining > 0
                    else f"try {failures + 1} of at least {self.attempts}"
                )
                log.warn(f"{what}: {verdict.reason}; retry {failures} in {pause:.1f}s ({left})")
                self.sleep(pause)
