"""The release-test fan-out: a 400-test release_tests.yaml rendered as one CI step per
test (target: under 1 s for load, select, steps and both renderings).

One fan-out = load the YAML (schema-checked, with line numbers), select
``--frequency nightly``, build the steps (one per test, then collect), and render the
Buildkite pipeline and the GitHub Actions workflow. Baseline, in the same run: loading
alone (the part every ``nox -s release-tests`` pays too). Best of ``--repeat=N``
(default 5); the synthetic file is the one the unit tests check for count and schema
validity (``tests/unit/test_ciplan_fanout.py``).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

TESTS = 400


def run(argv: list[str]) -> dict[str, Any]:
    repeat = 5
    for arg in argv:
        if arg.startswith("--repeat="):
            repeat = int(arg.split("=", 1)[1])
    from build_support import config
    from build_support.ciplan import plan, render
    from build_support.releasetests import loader
    from build_support.releasetests.cli import select
    from tests.unit.test_ciplan_fanout import synthetic_yaml

    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        root = Path(tmp)
        cfg = config.from_table({"python_versions": ["3.12"]}, root)
        settings = plan.load_settings(cfg)
        path = synthetic_yaml(root / "release" / "release_tests.yaml", TESTS)
        counts: dict[str, int] = {}

        def fanout_once() -> None:
            tests = select(loader.load(path).tests, [], "nightly")
            steps = plan.release_test_steps(
                cfg, settings, tests, selection_args=["--frequency", "nightly"]
            )
            bk = render.buildkite_release(steps, settings, "main", what="nightly")
            gh = render.github_release_workflow(
                steps, settings, pythons=cfg.python_versions, what="nightly"
            )
            counts.update(steps=len(steps), buildkite_bytes=len(bk), github_bytes=len(gh))

        def best(fn: Any) -> float:
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            return min(times)

        total = best(fanout_once)
        load_only = best(lambda: loader.load(path))
    return {
        "tests": TESTS,
        **counts,
        "fanout_total_s": round(total, 4),
        "target_s": 1.0,
        "under_target": total < 1.0,
        "baseline_load_only_s": round(load_only, 4),
        "steps_and_render_s": round(total - load_only, 4),
        "repeat": repeat,
    }
