from __future__ import annotations

import random

import pytest

from build_support.errors import ArtifactNotFoundError, StoreError
from build_support.retry import RetryPolicy, Transient


class FakeTime:
    """An injected clock whose sleep advances it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Flaky:
    def __init__(self, failures: int, exc: Exception) -> None:
        self.calls = 0
        self.failures = failures
        self.exc = exc

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc
        return "ok"


def classify(exc: BaseException) -> BaseException:
    if isinstance(exc, ConnectionError):
        return Transient(f"connection error: {exc}")
    if isinstance(exc, KeyError):
        return ArtifactNotFoundError(f"missing {exc}")
    return exc


def policy(t: FakeTime, **kw: float) -> RetryPolicy:
    return RetryPolicy(clock=t.clock, sleep=t.sleep, rng=random.Random(1), **kw)  # type: ignore[arg-type]


def test_transient_errors_are_retried_until_success() -> None:
    t = FakeTime()
    fn = Flaky(3, ConnectionError("reset"))
    assert (
        policy(t, attempts=5).call(fn, what="put k", classify=classify, give_up=StoreError) == "ok"
    )
    assert fn.calls == 4
    assert len(t.sleeps) == 3


def test_attempts_are_a_floor_when_each_try_is_slow() -> None:
    """Tries that each eat the budget (slow timeouts) still get ``attempts`` tries."""
    t = FakeTime()

    def slow_refusal() -> str:
        t.now += 50.0  # a connect timeout
        raise ConnectionError("refused")

    with pytest.raises(StoreError, match=r"put k failed after 3 attempt\(s\).*refused") as info:
        policy(t, attempts=3, total_seconds=60.0).call(
            slow_refusal, what="put k", classify=classify, give_up=StoreError
        )
    assert len(t.sleeps) == 2
    assert isinstance(info.value.__cause__, ConnectionError)


def test_short_outage_is_ridden_out_beyond_the_attempt_count() -> None:
    """An outage shorter than total_seconds is survived, however many tries it takes."""
    t = FakeTime()
    calls = 0

    def down_for_30s() -> str:
        nonlocal calls
        calls += 1
        if t.now < 30.0:
            raise ConnectionError("refused")
        return "ok"

    p = policy(t, attempts=3, total_seconds=120.0, base_delay=0.5, max_delay=4.0)
    assert p.call(down_for_30s, what="put k", classify=classify, give_up=StoreError) == "ok"
    assert calls > 3
    assert 30.0 <= t.now <= 34.0


def test_the_last_pause_is_cut_to_the_budget() -> None:
    t = FakeTime()
    fn = Flaky(1000, ConnectionError("down"))
    p = policy(t, attempts=2, total_seconds=10.0, base_delay=8.0, max_delay=8.0)
    with pytest.raises(StoreError, match="failed after"):
        p.call(fn, what="x", classify=classify, give_up=StoreError)
    assert t.now == pytest.approx(10.0)  # the budget is used to its end, not cut short


def test_non_retryable_errors_raise_at_once() -> None:
    t = FakeTime()
    fn = Flaky(100, KeyError("k"))
    with pytest.raises(ArtifactNotFoundError):
        policy(t).call(fn, what="get k", classify=classify, give_up=StoreError)
    assert fn.calls == 1
    assert t.sleeps == []


def test_unknown_errors_are_not_retried() -> None:
    t = FakeTime()
    fn = Flaky(100, ValueError("bug"))
    with pytest.raises(ValueError, match="bug"):
        policy(t).call(fn, what="x", classify=classify, give_up=StoreError)
    assert fn.calls == 1


def test_total_time_is_bounded() -> None:
    t = FakeTime()
    fn = Flaky(1000, ConnectionError("down"))
    p = policy(t, attempts=3, total_seconds=10.0, base_delay=1.0, max_delay=4.0)
    with pytest.raises(StoreError, match="failed after"):
        p.call(fn, what="x", classify=classify, give_up=StoreError)
    assert t.now <= 10.0
    assert sum(t.sleeps) <= 10.0
    assert fn.calls > 3


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    p = RetryPolicy(base_delay=0.5, max_delay=4.0, rng=random.Random(7))
    for failures, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (10, 4.0)]:
        delays = [p.delay(failures) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # jitter spans the range
        assert min(delays) < ceiling * 0.2
