"""``python -m benchmarks [NAME…]``: run benchmark modules, print and record ratios.

Every module ``benchmarks/bench_<name>.py`` defines ``run(argv: list[str]) -> dict``
returning its measurements (seconds, bytes/s, and ratios against its baseline). The
results go to ``benchmarks/results/<name>.json`` and are printed; docs quote them.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(HERE)])
        if m.name.startswith("bench_")
    )


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")] or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(available())}")
        return 2
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"==> benchmark {name}", flush=True)
        start = time.monotonic()
        result = module.run([a for a in argv if a.startswith("-")])
        result["_wall_seconds"] = round(time.monotonic() - start, 2)
        text = json.dumps(result, indent=2, sort_keys=True)
        (out_dir / f"{name}.json").write_text(text + "\n")
        print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
