"""Long-running stress of RingBuffer: push for --duration seconds, compare with the fallback."""

from __future__ import annotations

import argparse
import random
import time

from _common import COMMAND_ERROR, fail, write_result
from minray import RingBuffer, _fallback


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--capacity", type=int, default=1024)
    args = p.parse_args()
    rng = random.Random(7)  # noqa: S311 - reproducible test data
    fast, ref = RingBuffer(args.capacity), _fallback.RingBuffer(args.capacity)
    deadline = time.monotonic() + args.duration
    rounds = pushes = 0
    while time.monotonic() < deadline:
        batch = [rng.uniform(-1e6, 1e6) for _ in range(rng.randrange(1, 4 * args.capacity))]
        fast.extend(batch)
        ref.extend(batch)
        pushes += len(batch)
        rounds += 1
        if len(fast) != len(ref) or fast.mean() != ref.mean():
            fail(COMMAND_ERROR, f"round {rounds}: core and fallback diverged")
        if rounds % 50 == 0:
            fast.clear()
            ref.clear()
    write_result("stress.json", {"rounds": rounds, "pushes": pushes, "seconds": args.duration})
    print(f"OK {rounds} rounds, {pushes} pushes")


if __name__ == "__main__":
    main()
