"""CI planning: a 1,000-file change against a 300-rule file (target: under 0.5 s).

One plan = read the rules (parse, declared tags, the shadowing report; regex caches
purged first, so every run compiles), match every changed file (first match wins; a
quarter of the files fall through to the catch-all), select the steps with their
dependencies, and render the Buildkite YAML and the JSON.
Baseline, in the same run: the same matching one pattern at a time (the reference
matcher the one-regex matcher is tested against). Best of ``--repeat=N`` (default 5).
Also the whole command, ``python -m build_support ci-plan --changed-from … --format json``,
in a fresh process (interpreter start and imports included).
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TAGS = [f"t{i:02d}" for i in range(20)]


def rules_text(n_rules: int = 300) -> str:
    lines = ["! " + " ".join(TAGS), ""]
    for i in range(n_rules - 1):
        tag = TAGS[i % len(TAGS)]
        kind = i % 6
        if kind < 3:
            lines.append(f"pkg{i:03d}/sub/")
        elif kind < 5:
            lines.append(f"pkg{i:03d}/*.py")
        else:
            lines.append(f"pkg{i:03d}/setup.cfg")
        lines += [f"@ {tag}", ";", ""]
    lines += ["*", "@ " + " ".join(TAGS[:3]), ";"]
    return "\n".join(lines) + "\n"


def changed_files(n: int = 1000, n_rules: int = 300, seed: int = 1) -> tuple[str, ...]:
    rng = random.Random(seed)
    files = []
    for j in range(n):
        i = rng.randrange(n_rules - 1)
        if j % 4 == 0:
            files.append(f"unknown{j}/deep/path/file{j}.txt")  # the catch-all
        elif i % 6 < 3:
            files.append(f"pkg{i:03d}/sub/mod{j}/file.py")
        elif i % 6 < 5:
            files.append(f"pkg{i:03d}/a/b/c{j}.py")
        else:
            files.append(f"pkg{i:03d}/setup.cfg")
    return tuple(files)


def run(argv: list[str]) -> dict[str, Any]:
    repeat = 5
    for arg in argv:
        if arg.startswith("--repeat="):
            repeat = int(arg.split("=", 1)[1])
    from build_support import config
    from build_support.ciplan import plan, render, rules

    text = rules_text()
    files = changed_files()
    with tempfile.TemporaryDirectory(prefix="bench-ciplan-") as tmp:
        tags = {
            t: [("wheel", "jars", "images", "release_tests")[k % 4]] for k, t in enumerate(TAGS)
        }
        cfg = config.from_table({"ciplan": {"tags": tags}}, Path(tmp))
        settings = plan.load_settings(cfg)
        steps = plan.build_steps(cfg, settings)

        def plan_once() -> int:
            re.purge()
            rf = rules.parse(text, Path("ci/bench.rules.txt"))
            rules.shadowed(rf)
            plan.check_tags(settings, [rf])
            selection = plan.select(steps, [rf], plan.Changes(files, "--changed"), settings)
            render.buildkite(steps, selection, settings, "main")
            render.as_json(steps, selection, settings, "main")
            return len(selection.selected)

        def baseline_once() -> int:
            rf = rules.parse(text, Path("ci/bench.rules.txt"))
            return len({t for f in files for t in rf.match_slow(f).tags})

        def best(fn: Any) -> float:
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            return min(times)

        selected = plan_once()
        rf = rules.parse(text, Path("ci/bench.rules.txt"))
        match_only = best(lambda: [rf.match(f) for f in files])
        slow_only = best(lambda: [rf.match_slow(f) for f in files])
        total = best(plan_once)
        baseline = best(baseline_once)
        root = Path(tmp)
        (root / "ci").mkdir()
        (root / "ci/bench.rules.txt").write_text(text)
        (root / "changed.txt").write_text("\n".join(files) + "\n")
        toml_tags = "\n".join(f"{t} = {json.dumps(g)}" for t, g in tags.items())
        (root / "pyproject.toml").write_text(
            f"[tool.build_support]\n[tool.build_support.ciplan.tags]\n{toml_tags}\n"
        )
        here = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": here}
        argv = [sys.executable, "-m", "build_support", "ci-plan", "--changed-from", "changed.txt"]
        argv += ["--format", "json"]

        def cli_once() -> None:
            subprocess.run(argv, cwd=root, env=env, check=True, capture_output=True)

        cli = best(cli_once)
    return {
        "rules": len(rf.rules),
        "changed_files": len(files),
        "steps": len(steps),
        "selected_steps": selected,
        "plan_total_s": round(total, 4),
        "target_s": 0.5,
        "under_target": total < 0.5,
        "match_1000_files_s": round(match_only, 4),
        "baseline_match_pattern_at_a_time_s": round(slow_only, 4),
        "baseline_parse_and_match_s": round(baseline, 4),
        "match_speedup_vs_baseline": round(slow_only / match_only, 1),
        "cli_process_s": round(cli, 3),
        "repeat": repeat,
    }
