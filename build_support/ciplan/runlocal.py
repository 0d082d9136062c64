"""``ci-plan -- --run-local``: replay the selected steps on this host, in dependency order.

A test aid, not a CI engine: it runs each step's command exactly as CI would (``python``
is the harness's interpreter), one after another, skips steps for other platforms (and
what depends on them), and stops at the first failure with that step's exit code. Steps
hand artifacts to each other only through the store, as on CI.

As CI does, a step that exits with its ``retry_exit_status`` runs again (a new process),
up to ``retry_limit`` times. With ``keep_going`` (the release-test fan-out) a failure does
not stop the steps that do not need the failed one, a step with
``allow_dependency_failure`` runs anyway, and the exit code is the last failed step's;
with ``nox_direct`` a ``nox -s STAGE -- ARGS`` step runs the command that session runs
(:func:`direct_command`), here, in one interpreter instead of a nox venv per step.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from build_support import cmd, log
from build_support.ciplan.plan import Selection, Step, check_graph


def direct_command(argv: Sequence[str]) -> list[str]:
    """``nox -s STAGE -- ARGS`` as the command the session runs: ``python -m build_support
    STAGE ARGS`` with this interpreter (the harness's; no session venv to make)."""
    stage, rest = argv[2], list(argv[3:])
    return (
        [sys.executable, "-m", "build_support", stage, *rest[1:]]
        if rest
        else [sys.executable, "-m", "build_support", stage]
    )


def run_local(
    steps: Sequence[Step],
    selection: Selection,
    root: Path,
    *,
    host_platform: str,
    env: Mapping[str, str] | None = None,
    keep_going: bool = False,
    nox_direct: bool = False,
) -> int:
    by_key = {s.key: s for s in steps}
    order = [k for k in check_graph(steps) if selection.is_selected(k)]
    summary = log.Summary("ci-plan --run-local", headers=("step", "result", "time"))
    not_run: dict[str, str] = {}
    failed: set[str] = set()
    code = 0
    for key in order:
        step = by_key[key]
        blocked = next(
            (
                d
                for d in step.depends_on
                if d in not_run and not (step.allow_dependency_failure and d in failed)
            ),
            None,
        )
        if step.platform != host_platform:
            not_run[key] = f"skipped: runs on {step.platform}, this host is {host_platform}"
        elif blocked is not None:
            not_run[key] = f"skipped: needs {blocked}, which did not run here"
        elif code != 0 and not keep_going:
            not_run[key] = "not run: an earlier step failed"
        if key in not_run:
            summary.add(step=key, result=not_run[key], time="")
            continue
        argv = list(step.command)
        if argv[0] == "python":
            argv[0] = sys.executable
        elif nox_direct and argv[:2] == ["nox", "-s"]:
            argv = direct_command(argv)
        start = time.monotonic()
        tries = 0
        while True:
            tries += 1
            with log.group(
                f"step {key}: {step.command_line}" + (f" (try {tries})" if tries > 1 else "")
            ):
                proc = cmd.run(argv, cwd=root, env=dict(env or {}), check=False)
            if proc.returncode != step.retry_exit_status or tries > step.retry_limit:
                break
            log.warn(f"step {key} exited {proc.returncode}: retried, as CI does")
        elapsed = f"{time.monotonic() - start:.1f}s"
        retried = f" after {tries} tries" if tries > 1 else ""
        if proc.returncode != 0:
            code = proc.returncode
            failed.add(key)
            not_run[key] = f"failed (exit {code}){retried}"
            summary.add(step=key, result=not_run[key], time=elapsed)
        else:
            summary.add(step=key, result="ok" + retried, time=elapsed)
    summary.emit()
    return code
