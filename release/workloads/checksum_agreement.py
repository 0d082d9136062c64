"""checksum32 of the core equals the fallback's on random buffers of --size bytes."""

from __future__ import annotations

import argparse
import os

from _common import COMMAND_ERROR, fail, write_result
from minray import _fallback, checksum32


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--rounds", type=int, default=10)
    args = p.parse_args()
    for i in range(args.rounds):
        data = os.urandom(args.size)
        if checksum32(data) != _fallback.checksum32(data):
            fail(COMMAND_ERROR, f"round {i}: checksum32 differs for a {args.size}-byte buffer")
    write_result("checksum.json", {"size": args.size, "rounds": args.rounds})
    print(f"OK {args.rounds} x {args.size} bytes")


if __name__ == "__main__":
    main()
