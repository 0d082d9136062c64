"""``ci-plan -- --run-local``: replay the selected steps on this host, in dependency order.

A test aid, not a CI engine: it runs each step's command exactly as CI would (``python``
is the harness's interpreter), one after another, skips steps for other platforms (and
what depends on them), and stops at the first failure with that step's exit code. Steps
hand artifacts to each other only through the store, as on CI.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from build_support import cmd, log
from build_support.ciplan.plan import Selection, Step, check_graph


def run_local(
    steps: Sequence[Step],
    selection: Selection,
    root: Path,
    *,
    host_platform: str,
    env: Mapping[str, str] | None = None,
) -> int:
    by_key = {s.key: s for s in steps}
    order = [k for k in check_graph(steps) if selection.is_selected(k)]
    summary = log.Summary("ci-plan --run-local", headers=("step", "result", "time"))
    not_run: dict[str, str] = {}
    code = 0
    for key in order:
        step = by_key[key]
        blocked = next((d for d in step.depends_on if d in not_run), None)
        if step.platform != host_platform:
            not_run[key] = f"skipped: runs on {step.platform}, this host is {host_platform}"
        elif blocked is not None:
            not_run[key] = f"skipped: needs {blocked}, which did not run here"
        elif code != 0:
            not_run[key] = "not run: an earlier step failed"
        if key in not_run:
            summary.add(step=key, result=not_run[key], time="")
            continue
        argv = list(step.command)
        if argv[0] == "python":
            argv[0] = sys.executable
        start = time.monotonic()
        with log.group(f"step {key}: {step.command_line}"):
            proc = cmd.run(argv, cwd=root, env=dict(env or {}), check=False)
        elapsed = f"{time.monotonic() - start:.1f}s"
        if proc.returncode != 0:
            code = proc.returncode
            not_run[key] = f"failed (exit {code})"
            summary.add(step=key, result=not_run[key], time=elapsed)
        else:
            summary.add(step=key, result="ok", time=elapsed)
    summary.emit()
    return code
