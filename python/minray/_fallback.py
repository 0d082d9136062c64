"""Pure-Python implementations, behaviour-identical to the compiled ``minray._core``.

Identical means: same results (bit for bit, including float means: values are summed
oldest to newest with plain left-to-right addition), same exception types and messages.
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Iterable
from typing import SupportsFloat, SupportsIndex

__all__ = ["RingBuffer", "checksum32", "toposort"]

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK32 = 0xFFFFFFFF


def checksum32(data: bytes | bytearray | memoryview) -> int:
    """32-bit FNV-1a hash of a bytes-like object (any C-contiguous buffer, read as bytes)."""
    h = _FNV_OFFSET
    for byte in memoryview(data).cast("B"):
        h = ((h ^ byte) * _FNV_PRIME) & _MASK32
    return h


def toposort(n: SupportsIndex, edges: Iterable[tuple[int, int]]) -> list[int]:
    """Order nodes ``0..n-1`` so that for each edge ``(u, v)`` ``u`` comes before ``v``.

    Kahn's algorithm with a FIFO queue: ready nodes start in increasing order, and a
    node's successors are released in the order their edges were given, so the result
    is deterministic. Raises ``ValueError`` on a cycle or on a node outside ``0..n-1``.
    """
    count = operator.index(n)
    if count < 0:
        raise ValueError(f"n must be >= 0, got {count}")
    successors: list[list[int]] = [[] for _ in range(count)]
    indegree = [0] * count
    for edge in edges:
        u, v = edge
        src = operator.index(u)
        dst = operator.index(v)
        if not (0 <= src < count and 0 <= dst < count):
            raise ValueError(f"edge ({src}, {dst}) has a node outside 0..{count - 1}")
        successors[src].append(dst)
        indegree[dst] += 1
    queue = deque(i for i in range(count) if indegree[i] == 0)
    order: list[int] = []
    while queue:
        node = queue.popleft()
        order.append(node)
        for succ in successors[node]:
            indegree[succ] -= 1
            if indegree[succ] == 0:
                queue.append(succ)
    if len(order) < count:
        raise ValueError(
            f"graph has a cycle: {count - len(order)} of {count} nodes are on or after a cycle"
        )
    return order


def _as_double(value: SupportsFloat | SupportsIndex) -> float:
    # Mirrors CPython's PyFloat_AsDouble, which the compiled version uses: __float__,
    # then __index__; strings and other objects are a TypeError (float("1") is not).
    kind = type(value)
    if hasattr(kind, "__float__"):
        return float(value)
    if hasattr(kind, "__index__"):
        return float(operator.index(value))  # type: ignore[arg-type]
    raise TypeError(f"must be real number, not {kind.__name__}")


class RingBuffer:
    """Fixed-capacity ring buffer of floats; when full, a push overwrites the oldest value."""

    __slots__ = ("_capacity", "_data", "_size", "_start")

    def __init__(self, capacity: SupportsIndex) -> None:
        cap = operator.index(capacity)
        if cap <= 0:
            raise ValueError(f"capacity must be > 0, got {cap}")
        self._capacity = cap
        self._data = [0.0] * cap
        self._start = 0
        self._size = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    def __len__(self) -> int:
        return self._size

    def push(self, value: SupportsFloat | SupportsIndex) -> None:
        x = _as_double(value)
        if self._size < self._capacity:
            self._data[(self._start + self._size) % self._capacity] = x
            self._size += 1
        else:
            self._data[self._start] = x
            self._start = (self._start + 1) % self._capacity

    def extend(self, values: Iterable[SupportsFloat | SupportsIndex]) -> None:
        for value in values:
            self.push(value)

    def clear(self) -> None:
        self._start = 0
        self._size = 0

    def mean(self) -> float:
        if self._size == 0:
            raise ValueError("mean of an empty RingBuffer")
        total = 0.0
        for i in range(self._size):
            total += self._data[(self._start + i) % self._capacity]
        return total / self._size

    def to_list(self) -> list[float]:
        """The values, oldest first."""
        return [self._data[(self._start + i) % self._capacity] for i in range(self._size)]

    def __repr__(self) -> str:
        return f"RingBuffer(capacity={self._capacity}, values={self.to_list()!r})"
