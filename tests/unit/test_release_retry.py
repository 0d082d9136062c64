"""Retry policy: explicit list, max count, random backoff; sleep and rng injected."""

from __future__ import annotations

import random

import pytest

from build_support.errors import ConfigError
from build_support.releasetests.retry import (
    RetryPolicy,
    parse_backoff,
    run_with_retries,
    with_env,
)


def _run(codes: list[int], policy: RetryPolicy) -> tuple[list[int], list[float], list[int]]:
    calls: list[int] = []
    slept: list[float] = []

    def attempt(n: int) -> int:
        calls.append(n)
        return codes[n - 1]

    result = run_with_retries(attempt, policy, sleep=slept.append, rng=random.Random(1))
    return result.codes, slept, calls


def test_retryable_then_success() -> None:
    policy = RetryPolicy(backoff_min=1800, backoff_max=5400)
    codes, slept, calls = _run([31, 0], policy)
    assert codes == [31, 0]
    assert calls == [1, 2]
    assert len(slept) == 1
    assert 1800 <= slept[0] <= 5400


def test_not_retried_when_not_listed() -> None:
    codes, slept, _ = _run([40, 0], RetryPolicy())
    assert codes == [40]
    assert slept == []


def test_max_retries_bounds_attempts() -> None:
    codes, slept, _ = _run(
        [30, 30, 30, 0], RetryPolicy(max_retries=2, backoff_min=0, backoff_max=0)
    )
    assert codes == [30, 30, 30]
    assert slept == [0.0, 0.0]


def test_zero_retries() -> None:
    codes, _, _ = _run([30, 0], RetryPolicy(max_retries=0))
    assert codes == [30]


def test_before_retry_and_stop() -> None:
    seen: list[tuple[int, int, float]] = []
    stop = {"now": False}

    def attempt(n: int) -> int:
        return 30

    def before(n: int, code: int, wait: float) -> None:
        seen.append((n, code, wait))
        stop["now"] = True

    result = run_with_retries(
        attempt,
        RetryPolicy(max_retries=3, backoff_min=0.5, backoff_max=0.5),
        sleep=lambda _s: None,
        rng=random.Random(0),
        before_retry=before,
        stop=lambda: stop["now"],
    )
    assert seen == [(2, 30, 0.5)]
    assert result.codes == [30]  # the interrupt stopped the loop before attempt 2


def test_backoff_env() -> None:
    policy = with_env(RetryPolicy(), {"RELEASE_TEST_BACKOFF": "0.001,0.002"})
    assert (policy.backoff_min, policy.backoff_max) == (0.001, 0.002)
    assert with_env(RetryPolicy(), {}).backoff_min == 1800
    assert parse_backoff("5") == (5.0, 5.0)


@pytest.mark.parametrize("value", ["a,b", "5,1", "1,2,3", "-1,2"])
def test_bad_backoff_env(value: str) -> None:
    with pytest.raises(ConfigError, match="RELEASE_TEST_BACKOFF"):
        parse_backoff(value)


def test_bad_policy() -> None:
    with pytest.raises(ConfigError):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ConfigError):
        RetryPolicy(backoff_min=10, backoff_max=1)
