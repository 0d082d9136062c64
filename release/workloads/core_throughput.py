"""Throughput of the Cython core against the pure-Python fallback; alert (41) if too slow."""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from _common import COMMAND_ALERT, COMMAND_ERROR, fail, write_result
from minray import HAVE_CORE, _fallback


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, default=20000)
    p.add_argument("--bytes", type=int, default=400000)
    p.add_argument("--min-speedup", type=float, default=2.0)
    args = p.parse_args()
    if not HAVE_CORE:
        fail(COMMAND_ERROR, "minray._core is not importable; nothing to benchmark")
    from minray import _core

    rng = random.Random(42)  # noqa: S311 - reproducible test data
    n = args.nodes
    edges = [(i, rng.randrange(i + 1, n)) for i in range(n - 1) for _ in range(2)]
    data = bytes(rng.getrandbits(8) for _ in range(args.bytes))
    if _core.toposort(n, edges) != _fallback.toposort(n, edges):
        fail(COMMAND_ERROR, "toposort: core and fallback disagree")
    if _core.checksum32(data) != _fallback.checksum32(data):
        fail(COMMAND_ERROR, "checksum32: core and fallback disagree")
    result = {}
    for label, args_ in (("toposort", (n, edges)), ("checksum32", (data,))):
        fast_fn, slow_fn = getattr(_core, label), getattr(_fallback, label)
        core = best_of(lambda f=fast_fn, a=args_: f(*a))
        slow = best_of(lambda f=slow_fn, a=args_: f(*a), repeat=1)
        result[label] = {"core_s": core, "fallback_s": slow, "speedup": slow / max(core, 1e-9)}
    speedup = min(v["speedup"] for v in result.values())
    result["min_speedup"] = speedup
    result["required"] = args.min_speedup
    write_result("throughput.json", result)
    if speedup < args.min_speedup:
        fail(COMMAND_ALERT, f"ALERT: speed-up {speedup:.1f}x is below {args.min_speedup}x")
    print(f"OK speed-up {speedup:.1f}x >= {args.min_speedup}x")


if __name__ == "__main__":
    main()
