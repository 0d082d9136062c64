"""toposort on large graphs of a given shape: valid order, same as the fallback's."""

from __future__ import annotations

import argparse
import time

from _common import COMMAND_ERROR, fail, write_result
from minray import _fallback, toposort


def graph(shape: str, n: int) -> list[tuple[int, int]]:
    if shape == "chain":
        return [(i, i + 1) for i in range(n - 1)]
    if shape == "wide":
        return [(0, i) for i in range(1, n)]
    width = 100
    return [(i, j) for i in range(n - width) for j in (i + width, i + width - 1) if j < n]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--shape", choices=["chain", "wide", "layered"], required=True)
    p.add_argument("--nodes", type=int, required=True)
    args = p.parse_args()
    edges = graph(args.shape, args.nodes)
    start = time.perf_counter()
    order = toposort(args.nodes, edges)
    seconds = time.perf_counter() - start
    position = {node: i for i, node in enumerate(order)}
    if len(order) != args.nodes or any(position[u] >= position[v] for u, v in edges):
        fail(COMMAND_ERROR, "toposort returned an invalid order")
    if order != _fallback.toposort(args.nodes, edges):
        fail(COMMAND_ERROR, "toposort: core and fallback disagree")
    write_result("toposort.json", {"shape": args.shape, "nodes": args.nodes, "seconds": seconds})
    print(f"OK {args.shape} {args.nodes} nodes in {seconds:.3f}s")


if __name__ == "__main__":
    main()
