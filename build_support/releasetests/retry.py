"""When a release test is tried again: an explicit list of codes, a count, a backoff.

The loop lives here, in Python, with the sleep and the random source injected, so the
policy is tested without waiting 30 minutes (Ray keeps the same rules in a bash loop
"kept in sync" with a Python enum; here there is one copy).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from build_support.errors import ConfigError
from build_support.releasetests.exitcodes import DEFAULT_RETRY_CODES

#: ``min,max`` backoff seconds before a retry; overrides the config.
BACKOFF_ENV = "RELEASE_TEST_BACKOFF"


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Retry only ``retry_codes``, at most ``max_retries`` times, after a random wait."""

    retry_codes: tuple[int, ...] = DEFAULT_RETRY_CODES
    max_retries: int = 1
    backoff_min: float = 1800.0
    backoff_max: float = 5400.0
    time_limit: float = 10800.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {self.max_retries}")
        if not 0 <= self.backoff_min <= self.backoff_max:
            raise ConfigError(
                f"backoff must satisfy 0 <= min <= max, got {self.backoff_min},{self.backoff_max}",
                hint=f"e.g. {BACKOFF_ENV}=1800,5400",
            )

    def should_retry(self, code: int, attempt: int) -> bool:
        """Whether a failed ``attempt`` (1-based) with ``code`` is tried again."""
        return code in self.retry_codes and attempt <= self.max_retries

    def backoff(self, rng: random.Random) -> float:
        return rng.uniform(self.backoff_min, self.backoff_max)


def parse_backoff(value: str) -> tuple[float, float]:
    """``"min,max"`` seconds (``"0.01,0.02"`` is fine) as a pair of floats."""
    parts = [p.strip() for p in value.split(",")]
    bad = ConfigError(
        f"{BACKOFF_ENV}={value!r} is not 'min,max' in seconds",
        hint=f"e.g. {BACKOFF_ENV}=1800,5400 (30-90 min) or {BACKOFF_ENV}=0.01,0.05",
    )
    if len(parts) not in (1, 2):
        raise bad
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise bad from None
    low, high = numbers[0], numbers[-1]
    if not 0 <= low <= high:
        raise ConfigError(f"{BACKOFF_ENV}={value!r}: need 0 <= min <= max")
    return low, high


def with_env(policy: RetryPolicy, env: Mapping[str, str] | None = None) -> RetryPolicy:
    """``policy`` with the backoff from ``RELEASE_TEST_BACKOFF`` when it is set."""
    env = os.environ if env is None else env
    raw = env.get(BACKOFF_ENV, "").strip()
    if not raw:
        return policy
    low, high = parse_backoff(raw)
    return RetryPolicy(
        retry_codes=policy.retry_codes,
        max_retries=policy.max_retries,
        backoff_min=low,
        backoff_max=high,
        time_limit=policy.time_limit,
    )


@dataclass
class Attempts:
    """The codes of every attempt, in order."""

    codes: list[int] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)

    @property
    def final(self) -> int:
        return self.codes[-1]


def run_with_retries(
    attempt: Callable[[int], int],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None],
    rng: random.Random,
    before_retry: Callable[[int, int, float], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> Attempts:
    """Call ``attempt(n)`` (n = 1, 2, ...) until it succeeds or may not be retried.

    ``before_retry(next_attempt, last_code, wait)`` runs before the wait (log, clear the
    results folder). ``stop()`` true (an interrupt) ends the loop early.
    """
    result = Attempts()
    n = 1
    while True:
        code = attempt(n)
        result.codes.append(code)
        if code == 0 or stop() or not policy.should_retry(code, n):
            return result
        wait = policy.backoff(rng)
        if before_retry is not None:
            before_retry(n + 1, code, wait)
        result.waits.append(wait)
        sleep(wait)
        if stop():
            return result
        n += 1
