from __future__ import annotations

from types import ModuleType

import pytest


def assert_topological(n: int, edges: list[tuple[int, int]], order: list[int]) -> None:
    assert sorted(order) == list(range(n))
    position = {node: i for i, node in enumerate(order)}
    for u, v in edges:
        assert position[u] < position[v], (u, v)


def test_empty_graph(impl: ModuleType) -> None:
    assert impl.toposort(0, []) == []


def test_no_edges_keeps_index_order(impl: ModuleType) -> None:
    assert impl.toposort(4, []) == [0, 1, 2, 3]


def test_diamond(impl: ModuleType) -> None:
    edges = [(0, 1), (0, 2), (1, 3), (2, 3)]
    order = impl.toposort(4, edges)
    assert order == [0, 1, 2, 3]
    assert_topological(4, edges, order)


def test_successors_released_in_edge_order(impl: ModuleType) -> None:
    assert impl.toposort(4, [(0, 3), (0, 1), (0, 2)]) == [0, 3, 1, 2]


def test_accepts_any_iterable_of_pairs(impl: ModuleType) -> None:
    edges = ((i, i + 1) for i in range(9))
    assert impl.toposort(10, edges) == list(range(10))
    assert impl.toposort(3, [[2, 1], [1, 0]]) == [2, 1, 0]


def test_duplicate_edges(impl: ModuleType) -> None:
    assert impl.toposort(2, [(1, 0), (1, 0)]) == [1, 0]


@pytest.mark.parametrize(
    ("n", "edges"),
    [
        (1, [(0, 0)]),
        (2, [(0, 1), (1, 0)]),
        (5, [(0, 1), (1, 2), (2, 3), (3, 1), (3, 4)]),
    ],
    ids=["self-loop", "two-cycle", "cycle-in-chain"],
)
def test_cycle_raises(impl: ModuleType, n: int, edges: list[tuple[int, int]]) -> None:
    with pytest.raises(ValueError, match="graph has a cycle"):
        impl.toposort(n, edges)


def test_cycle_message_counts_blocked_nodes(impl: ModuleType) -> None:
    with pytest.raises(ValueError, match=r"cycle: 4 of 5 nodes"):
        impl.toposort(5, [(0, 1), (1, 2), (2, 3), (3, 1), (3, 4)])


@pytest.mark.parametrize("edge", [(0, 3), (-1, 0), (3, 0), (0, 2**70)])
def test_node_out_of_range(impl: ModuleType, edge: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.2"):
        impl.toposort(3, [edge])


def test_negative_n(impl: ModuleType) -> None:
    with pytest.raises(ValueError, match="n must be >= 0"):
        impl.toposort(-1, [])


@pytest.mark.parametrize("bad", [[(0.0, 1)], [(0, "1")], [(0, 1, 2)], [0]])
def test_malformed_edges(impl: ModuleType, bad: list[object]) -> None:
    with pytest.raises((TypeError, ValueError)):
        impl.toposort(3, bad)


def test_long_chain(impl: ModuleType) -> None:
    n = 20_000
    edges = [(i + 1, i) for i in range(n - 1)]
    assert impl.toposort(n, edges) == list(range(n - 1, -1, -1))
