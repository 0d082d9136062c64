"""The compiled core and the pure-Python fallback agree on random inputs."""

from __future__ import annotations

import random
from collections.abc import Callable
from types import ModuleType

import pytest

SEEDS = range(25)


def random_dag(rng: random.Random) -> tuple[int, list[tuple[int, int]]]:
    n = rng.randint(0, 200)
    rank = list(range(n))
    rng.shuffle(rank)
    edges = []
    for _ in range(rng.randint(0, 4 * n)):
        a, b = rng.randrange(n), rng.randrange(n)
        if a != b:
            u, v = (a, b) if rank[a] < rank[b] else (b, a)
            edges.append((u, v))
    return n, edges


def random_graph(rng: random.Random) -> tuple[int, list[tuple[int, int]]]:
    n = rng.randint(1, 60)
    edges = [(rng.randrange(n), rng.randrange(n)) for _ in range(rng.randint(0, 2 * n))]
    return n, edges


def outcome(fn: Callable[..., object], *args: object) -> tuple[str, object]:
    """The result, or the exception's type and message: behaviour includes errors."""
    try:
        return ("ok", fn(*args))
    except Exception as exc:
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("seed", SEEDS)
def test_toposort_dags(core: ModuleType, fallback: ModuleType, seed: int) -> None:
    n, edges = random_dag(random.Random(seed))
    expected = fallback.toposort(n, edges)
    assert core.toposort(n, edges) == expected


@pytest.mark.parametrize("seed", SEEDS)
def test_toposort_graphs_with_cycles(core: ModuleType, fallback: ModuleType, seed: int) -> None:
    n, edges = random_graph(random.Random(1000 + seed))
    assert outcome(core.toposort, n, edges) == outcome(fallback.toposort, n, edges)


def test_toposort_some_random_graphs_are_cyclic(fallback: ModuleType) -> None:
    results = [outcome(fallback.toposort, *random_graph(random.Random(1000 + s))) for s in SEEDS]
    kinds = {kind for kind, _ in results}
    assert kinds == {"ok", "ValueError"}, "the random graphs should cover both outcomes"


@pytest.mark.parametrize("seed", SEEDS)
def test_checksum(core: ModuleType, fallback: ModuleType, seed: int) -> None:
    rng = random.Random(seed)
    data = rng.randbytes(rng.randint(0, 5000))
    assert core.checksum32(data) == fallback.checksum32(data)


@pytest.mark.parametrize("seed", SEEDS)
def test_ringbuffer_random_operations(core: ModuleType, fallback: ModuleType, seed: int) -> None:
    rng = random.Random(seed)
    capacity = rng.randint(1, 20)
    fast, slow = core.RingBuffer(capacity), fallback.RingBuffer(capacity)
    for _ in range(300):
        op = rng.random()
        if op < 0.5:
            value = rng.uniform(-1e6, 1e6) if rng.random() < 0.8 else rng.randint(-5, 5)
            fast.push(value)
            slow.push(value)
        elif op < 0.8:
            values = [rng.uniform(-1e12, 1e12) for _ in range(rng.randint(0, 3 * capacity))]
            fast.extend(values)
            slow.extend(values)
        elif op < 0.82:
            fast.clear()
            slow.clear()
        assert len(fast) == len(slow)
        assert fast.to_list() == slow.to_list()
        # Bit-identical: both sum oldest to newest with plain float addition.
        assert outcome(fast.mean) == outcome(slow.mean)
    assert repr(fast) == repr(slow)


def test_public_api_uses_core_when_built(core: ModuleType) -> None:
    import minray

    assert minray.HAVE_CORE
    assert minray.toposort is core.toposort
    assert minray.RingBuffer is core.RingBuffer
