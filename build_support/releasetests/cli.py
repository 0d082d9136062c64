"""``nox -s release-tests -- [NAME|GLOB...] [--smoke] [--frequency F] [--in-image]``."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from build_support import commits, log, manifests, platforms
from build_support.args import StageParser, non_negative_int, python_version
from build_support.config import Config, require
from build_support.errors import UsageError
from build_support.images.settings import ImagesSettings
from build_support.releasetests import fleet, loader, reports, runs, selection
from build_support.releasetests.environments import EnvProvider, ImageProvider, VenvProvider
from build_support.releasetests.exitcodes import code_name, run_exit_code
from build_support.releasetests.loader import ReleaseTest
from build_support.releasetests.results import ReleaseTestResult
from build_support.releasetests.retry import RetryPolicy, with_env
from build_support.releasetests.runner import (
    LOCAL_RUN_TYPES,
    PassedResults,
    Runner,
    RunnerOptions,
    store_access_env,
)
from build_support.releasetests.schema import FREQUENCIES
from build_support.releasetests.selection import select as select  # noqa: PLC0414 - re-exported
from build_support.releasetests.settings import ReleaseTestsSettings
from build_support.releasetests.sources import LocalWheels, StoreWheels, WheelSource
from build_support.store import keys


def settings(cfg: Config) -> ReleaseTestsSettings:
    return cfg.section("release_tests", ReleaseTestsSettings)


def add_selection_arguments(p: argparse.ArgumentParser, *, recorded: bool = False) -> None:
    """The arguments that select tests (:func:`chosen_tests`), the same for a run and for
    ``collect`` (``recorded``: they name the selection a fleet run was made with)."""
    was = "the run's selection: " if recorded else ""
    p.add_argument("names", nargs="*", metavar="NAME|GLOB", help=f"{was}tests (default: all)")
    p.add_argument("--smoke", action="store_true", help=f"{was}each test's smoke_test block")
    p.add_argument("--frequency", choices=FREQUENCIES, help=f"{was}tests of this frequency")
    p.add_argument(
        "--run-unstable", action="store_true", help=f"{was}also tests marked 'stable: false'"
    )
    p.add_argument(
        "--run-jailed", action="store_true", help=f"{was}also jailed tests (release_tests.jailed)"
    )
    p.add_argument("--file", type=Path, help="release_tests.yaml to use")


def _parser() -> argparse.ArgumentParser:
    p = StageParser(
        prog="nox -s release-tests --",
        description="Run release tests from release_tests.yaml against the stored wheel.",
    )
    add_selection_arguments(p)
    p.add_argument(
        "--in-image",
        action="store_true",
        help="run inside the product image the images stage built",
    )
    p.add_argument("--image", help="with --in-image: this image instead of the manifest's")
    p.add_argument(
        "--python", type=python_version, help="Python version for tests that do not set one"
    )
    p.add_argument(
        "--wheel",
        type=Path,
        action="append",
        default=[],
        help="use this wheel file instead of the artifact store (repeatable)",
    )
    p.add_argument("--store", help="artifact store URL (default: config/BUILD_SUPPORT_STORE)")
    p.add_argument("--results-dir", type=Path, help="where results go")
    p.add_argument("--run-id", help="name of this run's results folder")
    p.add_argument("--max-retries", type=non_negative_int, help="override max_retries")
    p.add_argument("--list", action="store_true", help="list the selected tests and exit")
    p.add_argument(
        "--reuse-passed",
        action="store_true",
        help="reuse a passing result when nothing the test depends on changed",
    )
    p.add_argument("--no-reuse", action="store_true", help="run every test (wins over reuse)")
    p.add_argument(
        "--fleet",
        nargs="?",
        const="",
        metavar="RUN",
        help="one step of a fleet run: CI retries (no retry here), results to the store under "
        "release-tests/{sha}/{RUN}/ (RUN default: the CI build, see docs/release-tests.md)",
    )
    return p


def _some(names: Iterable[str], limit: int = 10) -> str:
    """Up to ``limit`` names, then how many more."""
    items = list(names)
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _note_held_out(chosen: selection.Selection) -> None:
    """One stderr line per rule that left tests out (never on stdout: ``--list`` owns it)."""
    if chosen.unstable:
        log.info(
            f"left out {len(chosen.unstable)} unstable test(s) (--run-unstable runs them): "
            + _some(chosen.unstable)
        )
    if chosen.jailed:
        log.info(
            f"left out {len(chosen.jailed)} jailed test(s) (--run-jailed runs them): "
            + _some(chosen.jailed)
        )


def _wheel_source(
    args: argparse.Namespace, st: ReleaseTestsSettings, cfg: Config, ctx: commits.BuildContext
) -> tuple[WheelSource, str]:
    """Wheels from ``--wheel`` files, else from the artifact store at this commit."""
    platform = platforms.host_wheel_platform()
    if args.wheel:
        names = ", ".join(str(w) for w in args.wheel)
        return LocalWheels(args.wheel, dist=st.distribution, platform=platform), f"files: {names}"
    from build_support import store

    s = store.open_store(cfg, args.store)
    wheels = StoreWheels(s, branch=ctx.branch, sha=ctx.sha, dist=st.distribution, platform=platform)
    prefix = store.keys.commit_prefix(ctx.branch, ctx.sha)
    return wheels, f"store {getattr(s, 'url', '')} prefix {prefix}"


def _image_name(cfg: Config) -> str:
    """``--in-image`` without ``release_tests.image_name``: the images stage's product image."""
    images = cfg.section("images", ImagesSettings)
    require(
        "tool.build_support.images",
        images,
        "image_name",
        example='image_name = "myproj" (or [tool.build_support.release_tests] image_name)',
    )
    return images.image_name


#: Subcommands; any other first argument is a test name or pattern.
SUBCOMMANDS = {
    "collect": "build_support.releasetests.collect:main",
    "history": "build_support.releasetests.history:main",
}


def new_run_dir(results_root: Path, run_id: str) -> Path:
    """A fresh folder for one run's results: ``run_id``, or ``run_id-2``, ``-3``… when an
    earlier run has it (created here, so two runs never share one)."""
    results_root.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        candidate = results_root / (run_id if n == 1 else f"{run_id}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            n += 1
            continue
        if n > 1:
            log.warn(
                f"{results_root / run_id} holds an earlier run; this run's results go to "
                f"{candidate}"
            )
        return candidate


def selected_tests(
    args: argparse.Namespace, path: Path, jailed: Sequence[str] = ()
) -> tuple[list[ReleaseTest], list[ReleaseTest]]:
    """The tests ``args`` select from ``path``: (runnable here, of another run type)."""
    selected = chosen_tests(args, path, jailed)
    runnable = [t for t in selected if t.run.type in LOCAL_RUN_TYPES]
    skipped = [t for t in selected if t.run.type not in LOCAL_RUN_TYPES]
    return runnable, skipped


def chosen_tests(
    args: argparse.Namespace, path: Path, jailed: Sequence[str] = ()
) -> list[ReleaseTest]:
    """The tests ``args`` select from ``path``, in file order, every run type.

    Ray's rules (:mod:`selection`); ``args`` without ``run_unstable``/``run_jailed``
    (``collect``'s) select as a plain run does. What the rules held out is said on stderr.
    """
    collection = loader.load(path)
    chosen = selection.choose(
        collection.tests,
        args.names,
        args.frequency,
        smoke=args.smoke,
        run_unstable=getattr(args, "run_unstable", False),
        run_jailed=getattr(args, "run_jailed", False),
        jailed=jailed,
    )
    _note_held_out(chosen)
    return list(chosen.tests)


def main(argv: list[str], cfg: Config) -> int:  # noqa: PLR0912, PLR0915
    if argv and argv[0] in SUBCOMMANDS:
        import importlib

        module, func = SUBCOMMANDS[argv[0]].split(":")
        sub: Any = getattr(importlib.import_module(module), func)
        return int(sub(argv[1:], cfg))
    args = _parser().parse_args(argv)
    st = settings(cfg)
    path = args.file.resolve() if args.file else cfg.path("release_tests")
    if args.list:
        for t in chosen_tests(args, path, st.jailed):
            smoke = "smoke" if t.smoke else ""
            print(f"{t.name}\t{t.frequency}\t{t.python or '-'}\t{smoke}\t{t.run.type}")
        return 0
    runnable, skipped = selected_tests(args, path, st.jailed)
    if args.fleet is not None and not args.names:
        raise UsageError(
            "--fleet runs the tests it names: one step per test",
            hint="nox -s release-tests -- NAME --fleet (render the steps with "
            "`nox -s ci-plan -- --release-tests`)",
        )
    if skipped:
        log.warn(
            "no runner here for run type(s) "
            + ", ".join(sorted({t.run.type for t in skipped}))
            + "; not running: "
            + _some(t.name for t in skipped)
        )
        if args.names and not runnable:
            raise UsageError(
                "none of the selected tests can run here",
                hint="runnable run types: " + ", ".join(LOCAL_RUN_TYPES),
            )

    require(
        "tool.build_support.release_tests",
        st,
        "distribution",
        "package",
        example='distribution = "myproj", package = "myproj"',
    )
    ctx = commits.context(cfg.root)
    default_python = args.python or st.python or cfg.python_versions[0]
    fleet_run = None if args.fleet is None else fleet.run_id(args.fleet, os.environ)
    max_retries = st.max_retries if args.max_retries is None else args.max_retries
    if fleet_run is not None:
        max_retries = 0  # a fleet step is retried by CI (exit 79), each retry a new step
    policy = with_env(
        RetryPolicy(
            retry_codes=st.retry_codes,
            max_retries=max_retries,
            backoff_min=st.backoff_min_seconds,
            backoff_max=st.backoff_max_seconds,
            time_limit=st.time_limit_seconds,
        )
    )
    provider: EnvProvider
    if args.in_image or args.image:
        provider = ImageProvider(
            manifest=manifests.images_path(cfg.path("dist")),
            image_name=st.image_name or _image_name(cfg),
            expected_commit=ctx.sha,
            package=st.package,
            arch=platforms.canonical_arch(platforms.current_host().machine),
            image=args.image,
        )
        if not args.python:
            default_python = provider.default_python(default_python)
        source = f"image {args.image or 'from ' + str(manifests.images_path(cfg.path('dist')))}"
    else:
        wheels, source = _wheel_source(args, st, cfg, ctx)
        provider = VenvProvider(
            wheels=wheels,
            cache_dir=cfg.root / st.venv_cache,
            requirements_dir=cfg.path("requirements"),
            expected_commit=ctx.sha,
            package=st.package,
            search_paths=cfg.python_search_paths,
        )
    results_root = args.results_dir or (cfg.root / st.results_dir)
    started = dt.datetime.now(dt.timezone.utc)
    run_dir = new_run_dir(results_root, args.run_id or f"{started:%Y%m%d-%H%M%S}-{ctx.short_sha}")
    run_id = run_dir.name
    store_env = {"BUILD_SUPPORT_ROOT": str(cfg.root), "BUILD_SUPPORT_BRANCH": ctx.branch,
                 "BUILD_SUPPORT_COMMIT": ctx.sha}  # fmt: skip
    if not args.wheel:
        store_env["BUILD_SUPPORT_STORE"] = args.store or cfg.store_url()
        store_env.update(store_access_env(store_env["BUILD_SUPPORT_STORE"], os.environ))
    from build_support import store

    passed = PassedResults(
        store.open_store(cfg, args.store),
        run_id=run_id,
        branch=ctx.branch,
        sha=ctx.sha,
        reuse=args.reuse_passed and not args.no_reuse,
    )
    runner = Runner(
        provider,
        RunnerOptions(
            results_dir=run_dir,
            default_python=default_python,
            policy=policy,
            kill_grace=st.kill_grace_seconds,
            extra_env=store_env,
            env_allowlist=st.env_passthrough,
        ),
        sleep=time.sleep,
        rng=random.Random(),  # noqa: S311 - backoff jitter
        passed=passed,
    )
    log.step(
        f"{len(runnable)} release test(s){' (smoke)' if args.smoke else ''} at "
        f"{ctx.branch}@{ctx.short_sha}, wheels from {source}; results in {run_dir}"
    )
    meta: dict[str, Any] = {
        "run_id": run_id,
        "branch": ctx.branch,
        "commit": ctx.sha,
        "smoke": args.smoke,
        "started_at": started.isoformat(timespec="seconds"),
        "file": str(path),
        "file_digest": runs.file_digest(path),
        "selection": runs.selection_name(args.names, args.frequency, smoke=args.smoke),
        "skipped_run_types": [t.name for t in skipped],
    }
    fleet_store = None
    if fleet_run is not None:
        fleet_store = store.open_store(cfg, args.store)
        first = {
            t.name: fleet.next_attempt(fleet_store, ctx.sha, fleet_run, t.name) for t in runnable
        }
        log.step(f"fleet run {fleet_run}: results to {keys.release_run_prefix(ctx.sha, fleet_run)}")
    exit_code: int | None = None
    try:
        results = runner.run(runnable, run_dir)
        exit_code = run_exit_code(
            [r.exit_code for r in results]
            + ([2] if len(results) < len(runnable) and runner.interrupt.signum is None else []),
            retry_codes=policy.retry_codes,
            runtime=runner.elapsed,
            time_limit=policy.time_limit,
        )
        if runner.interrupt.signum is not None:
            exit_code = 128 + runner.interrupt.signum
    finally:
        _write_reports(runner, runnable, meta, run_dir, exit_code)
        if fleet_store is not None and fleet_run is not None:
            for r in runner.results:
                if r.attempts:
                    fleet.put_result(
                        fleet_store,
                        r,
                        run=fleet_run,
                        branch=ctx.branch,
                        sha=ctx.sha,
                        digest=meta["file_digest"],
                        first=first[r.name],
                    )
    return exit_code


def _write_reports(
    runner: Runner,
    runnable: Sequence[ReleaseTest],
    meta: dict[str, Any],
    run_dir: Path,
    exit_code: int | None,
) -> None:
    """JUnit, JSON and HTML reports of whatever ran, also when the run was cut short."""
    meta["exit_code"] = exit_code  # None: the runner itself failed
    meta["duration_seconds"] = round(runner.elapsed, 3)
    ran = {r.name for r in runner.results}
    meta["not_run"] = [t.name for t in runnable if t.name not in ran]
    if runner.stopped_by is not None:
        meta["stopped_by"] = str(runner.stopped_by)
    # A test whose setup raised past the runner has no attempt to report.
    finished = [r for r in runner.results if r.attempts]
    paths = reports.write_reports(finished, meta, run_dir)
    _print_summary(finished, paths)
    if runner.stopped_by is not None:
        log.error(
            f"release-tests stopped (not run: {', '.join(meta['not_run']) or '-'}): "
            f"{runner.stopped_by}"
        )


def _print_summary(results: Sequence[ReleaseTestResult], paths: dict[str, Path]) -> None:
    summary = log.Summary("release-tests", headers=("test", "status", "attempts", "exit", "time"))
    for r in results:
        reused = f" (reused from run {r.reused_from})" if r.reused_from else ""
        summary.add(
            test=r.name,
            status=r.status + (" (flaky)" if r.flaky else "") + reused,
            attempts=str(len(r.attempts)),
            exit=f"{r.exit_code} {code_name(r.exit_code)}",
            time=f"{r.duration:.1f}s",
        )
    for kind, p in paths.items():
        summary.note(f"{kind}: {p}")
    summary.emit()
