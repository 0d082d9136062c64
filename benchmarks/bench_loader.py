"""Loading a Ray-sized release_tests.yaml: the harness's loader against Ray's reader.

One file of Ray's schema and size (270 entries expanding to 432 tests, written by
``tests/raylike.py``: DEFAULTS, variations, matrices, smoke tests, duplicate keys), then
in the same run, median of ``--repeat`` (default 7):

- ``safe_load``: ``yaml.safe_load`` of the text alone, what Ray's reader does first (the
  baseline; it neither expands nor validates);
- ``loader``: :func:`build_support.releasetests.loader.load`: parse with line numbers
  (libyaml when present), validate each entry once, expand, merge DEFAULTS, build the
  typed tests, collect every problem and warning;
- ``loader_smoke``: the same with smoke tests applied.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from tests import raylike

ENTRIES = 270


def _median(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(argv: list[str]) -> dict[str, Any]:
    from build_support.releasetests import loader

    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 7
    with tempfile.TemporaryDirectory(prefix="bench-loader-") as tmp:
        path = Path(tmp) / "release_tests.yaml"
        path.write_text(raylike.collection(ENTRIES))
        tests = len(loader.load(path, warn=None).tests)
        safe = _median(lambda: yaml.safe_load(path.read_text()), repeat)
        load = _median(lambda: loader.load(path, warn=None), repeat)
        smoke = _median(lambda: loader.load(path, smoke=True, warn=None), repeat)
    return {
        "entries": ENTRIES,
        "tests": tests,
        "libyaml": bool(getattr(yaml, "__with_libyaml__", False)),
        "repeat": repeat,
        "safe_load_seconds": round(safe, 4),
        "loader_seconds": round(load, 4),
        "loader_smoke_seconds": round(smoke, 4),
        "loader_vs_safe_load_ratio": round(load / safe, 2),
    }
