"""``nox -s release-tests -- collect [--fleet RUN] [selection]``: gather a fleet run.

Reads every selected test's attempts of this commit and run from the store, writes the
one JUnit, HTML and ``summary.json`` of the run (locally, under the results folder, and
in the store beside the attempts), and exits 0 only when every selected test passed.
A selected test with no result is a failure named as missing (exit 18, Ray's
FETCH_RESULT_ERROR, unless another test failed first).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path
from typing import Any

from build_support import commits, log, store
from build_support.args import StageParser, python_version
from build_support.config import Config
from build_support.releasetests import fleet, reports, runs
from build_support.releasetests.cli import (
    _print_summary,
    add_selection_arguments,
    new_run_dir,
    selected_tests,
    settings,
)
from build_support.releasetests.exitcodes import run_exit_code


def _parser() -> argparse.ArgumentParser:
    p = StageParser(
        prog="nox -s release-tests -- collect",
        description="Gather a fleet run's results from the store into one report.",
    )
    add_selection_arguments(p, recorded=True)
    p.add_argument(
        "--fleet",
        nargs="?",
        const="",
        default="",
        metavar="RUN",
        help="the fleet run (default: BUILD_SUPPORT_RELEASE_RUN, or the CI build)",
    )
    p.add_argument("--store", help="artifact store URL (default: config/BUILD_SUPPORT_STORE)")
    p.add_argument("--results-dir", type=Path, help="where the gathered reports go")
    p.add_argument(
        "--python", type=python_version, help="Python version for tests that do not set one"
    )
    return p


def main(argv: list[str], cfg: Config) -> int:
    args = _parser().parse_args(argv)
    st = settings(cfg)
    ctx = commits.context(cfg.root)
    run = fleet.run_id(args.fleet, os.environ)
    path = args.file.resolve() if args.file else cfg.path("release_tests")
    runnable, skipped = selected_tests(args, path, st.jailed)
    digest = runs.file_digest(path)
    started = dt.datetime.now(dt.timezone.utc)
    s = store.open_store(cfg, args.store)
    log.step(
        f"collect fleet run {run} of {ctx.branch}@{ctx.short_sha}: {len(runnable)} test(s) "
        f"from {store.keys.release_run_prefix(ctx.sha, run)}"
    )
    results, missing = fleet.gather(
        s,
        runnable,
        run=run,
        sha=ctx.sha,
        digest=digest,
        default_python=args.python or st.python or cfg.python_versions[0],
    )
    exit_code = run_exit_code(
        [r.exit_code for r in results], retry_codes=(), runtime=0.0, time_limit=0.0
    )
    meta: dict[str, Any] = {
        "run_id": run,
        "branch": ctx.branch,
        "commit": ctx.sha,
        "smoke": args.smoke,
        "started_at": started.isoformat(timespec="seconds"),
        "file": str(path),
        "file_digest": digest,
        "selection": runs.selection_name(args.names, args.frequency, smoke=args.smoke),
        "skipped_run_types": [t.name for t in skipped],
        "exit_code": exit_code,
        "duration_seconds": round(sum(r.duration for r in results), 3),
        "missing": missing,
    }
    results_root = args.results_dir or (cfg.root / st.results_dir)
    run_dir = new_run_dir(results_root, run)
    paths = reports.write_reports(results, meta, run_dir)
    fleet.put_reports(s, run_dir, sha=ctx.sha, run=run)
    _print_summary(reports.redacted(results), paths)
    if missing:
        log.error(
            f"collect: {len(missing)} selected test(s) have no result for {ctx.short_sha} in "
            f"run {run}: {', '.join(missing)}"
        )
    return exit_code
