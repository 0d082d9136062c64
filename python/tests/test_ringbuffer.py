from __future__ import annotations

from types import ModuleType

import pytest


def test_fills_then_wraps(impl: ModuleType) -> None:
    rb = impl.RingBuffer(3)
    assert rb.capacity == 3
    assert len(rb) == 0
    assert rb.to_list() == []
    rb.push(1)
    rb.push(2.5)
    assert rb.to_list() == [1.0, 2.5]
    rb.extend([3, 4, 5])
    assert len(rb) == 3
    assert rb.to_list() == [3.0, 4.0, 5.0]
    assert rb.mean() == pytest.approx(4.0)


def test_wraps_many_times(impl: ModuleType) -> None:
    rb = impl.RingBuffer(4)
    rb.extend(range(1003))
    assert rb.to_list() == [999.0, 1000.0, 1001.0, 1002.0]
    assert rb.mean() == 1000.5


def test_capacity_one(impl: ModuleType) -> None:
    rb = impl.RingBuffer(1)
    rb.extend([1.0, 2.0, 3.0])
    assert rb.to_list() == [3.0]
    assert rb.mean() == 3.0


def test_values_are_floats(impl: ModuleType) -> None:
    rb = impl.RingBuffer(2)
    rb.push(True)
    rb.push(7)
    assert [type(x) for x in rb.to_list()] == [float, float]


def test_clear(impl: ModuleType) -> None:
    rb = impl.RingBuffer(2)
    rb.extend([1, 2, 3])
    rb.clear()
    assert len(rb) == 0
    rb.push(9)
    assert rb.to_list() == [9.0]


def test_mean_of_empty_raises(impl: ModuleType) -> None:
    with pytest.raises(ValueError, match="empty"):
        impl.RingBuffer(2).mean()


@pytest.mark.parametrize("capacity", [0, -3])
def test_bad_capacity(impl: ModuleType, capacity: int) -> None:
    with pytest.raises(ValueError, match="capacity must be > 0"):
        impl.RingBuffer(capacity)


def test_rejects_non_numbers(impl: ModuleType) -> None:
    rb = impl.RingBuffer(2)
    with pytest.raises(TypeError):
        rb.push("1.0")
    with pytest.raises(TypeError):
        rb.extend([1.0, None])
    assert rb.to_list() == [1.0]  # values before the bad one were pushed, in both


def test_repr(impl: ModuleType) -> None:
    rb = impl.RingBuffer(2)
    rb.push(1)
    assert repr(rb) == "RingBuffer(capacity=2, values=[1.0])"
