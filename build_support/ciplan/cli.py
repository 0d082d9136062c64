"""``nox -s ci-plan -- …`` / ``python -m build_support ci-plan …``.

Default output: the Buildkite pipeline for this build's changes, on stdout, for
``nox -s ci-plan | buildkite-agent pipeline upload``. Everything else (progress,
warnings) goes to stderr.
"""

from __future__ import annotations

import argparse
import difflib
import os
import time
from pathlib import Path

from build_support import commits, fsutil, log, platforms
from build_support.args import StageParser
from build_support.ciplan import changes as changes_mod
from build_support.ciplan import plan as plan_mod
from build_support.ciplan import render
from build_support.ciplan import rules as rules_mod
from build_support.config import Config
from build_support.errors import StaleError, UsageError

FORMATS = ("buildkite", "github", "json", "github-outputs")


def _parser() -> argparse.ArgumentParser:
    p = StageParser(
        prog="nox -s ci-plan --",
        description="Select the CI steps a change needs and render the CI pipeline.",
    )
    p.add_argument("--format", choices=FORMATS, default="buildkite", help="default: buildkite")
    p.add_argument("--explain", action="store_true", help="every step and why it runs or not")
    p.add_argument(
        "--check",
        action="store_true",
        help="fail when the committed workflow is stale, a golden case fails or a rule is shadowed",
    )
    p.add_argument("--write-workflow", action="store_true", help="(re)write the GitHub workflow")
    p.add_argument("--base", metavar="REF", help="diff against REF (default: the PR's base)")
    p.add_argument("--head", metavar="REF", default="HEAD")
    p.add_argument("--changed", nargs="+", default=[], metavar="FILE", help="the changed files")
    p.add_argument("--changed-from", metavar="FILE", help="changed files, one per line (- stdin)")
    p.add_argument(
        "--rules", action="append", default=[], type=Path, metavar="FILE", help="rules file(s)"
    )
    p.add_argument(
        "--run-local", action="store_true", help="run the selected steps here (a test aid)"
    )
    rt = p.add_argument_group("the release-test fan-out (docs/ci.md)")
    rt.add_argument(
        "--release-tests",
        action="store_true",
        help="render one step per selected release test, then collect",
    )
    rt.add_argument("--frequency", help="with --release-tests: tests of this frequency")
    rt.add_argument("--smoke", action="store_true", help="with --release-tests: smoke runs")
    rt.add_argument(
        "--run-unstable",
        action="store_true",
        help="with --release-tests: also tests marked 'stable: false' (soft_fail steps)",
    )
    rt.add_argument(
        "--run-jailed", action="store_true", help="with --release-tests: also jailed tests"
    )
    rt.add_argument(
        "--test",
        action="append",
        default=[],
        metavar="NAME|GLOB",
        help="with --release-tests: these tests (repeatable)",
    )
    return p


def load_rules(
    cfg: Config, settings: plan_mod.CiPlanSettings, explicit: list[Path]
) -> tuple[list[rules_mod.RulesFile], str | None]:
    """The rules files, or (``[]``, why everything runs) when there are none."""
    if explicit:
        paths = [p if p.is_absolute() else cfg.root / p for p in explicit]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            return [], f"rules file {missing[0]} does not exist"
    else:
        paths = rules_mod.find(cfg.root, settings.rules)
        if not paths:
            return [], f"no rules file matches {', '.join(settings.rules)}"
    loaded = [rules_mod.load(p, cfg.root) for p in paths]
    plan_mod.check_tags(settings, loaded)
    for rf in loaded:
        for s in rules_mod.shadowed(rf):
            log.warn(s.describe(rf.path))
    return loaded, None


def workflow_text(cfg: Config, settings: plan_mod.CiPlanSettings) -> str:
    steps = plan_mod.build_steps(cfg, settings)
    return render.github_workflow(
        steps, settings, default_branch=cfg.default_branch, pythons=cfg.python_versions
    )


def check(cfg: Config, settings: plan_mod.CiPlanSettings, explicit: list[Path]) -> int:
    """The committed workflow is current, golden cases pass, no rule is shadowed."""
    problems: list[str] = []
    path = cfg.root / settings.workflow
    expected = workflow_text(cfg, settings)
    current = path.read_text(encoding="utf-8") if path.is_file() else ""
    if current != expected:
        diff = "".join(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                f"{settings.workflow} (committed)",
                f"{settings.workflow} (generated)",
            )
        )
        print(diff, end="")
        problems.append(
            f"{settings.workflow} is missing" if not current else f"{settings.workflow} is stale"
        )
    rules_files, missing = load_rules(cfg, settings, explicit)
    if missing:
        log.warn(f"no rules checked: {missing}")
    for rf in rules_files:
        problems.extend(s.describe(rf.path) for s in rules_mod.shadowed(rf))
        cases_path = rules_mod.cases_path_for(cfg.root / rf.path)
        if not cases_path.is_file():
            log.warn(f"{rf.path} has no golden cases ({cases_path.name})")
            continue
        shown = (
            cases_path.relative_to(cfg.root) if cases_path.is_relative_to(cfg.root) else cases_path
        )
        cases = rules_mod.parse_cases(cases_path.read_text(encoding="utf-8"), shown)
        problems.extend(rules_mod.case_failures(rf, cases, shown))
        log.info(f"{rf.path}: {len(rf.rules)} rules, {len(cases)} golden cases")
    if problems:
        raise StaleError(
            "ci-plan --check failed:\n  " + "\n  ".join(problems),
            hint="run `nox -s ci-plan -- --write-workflow` and commit the workflow; fix the "
            "rules or their *.rules.test.txt cases",
        )
    log.success(f"{settings.workflow} is current; rules and golden cases agree")
    return 0


def release_tests(cfg: Config, settings: plan_mod.CiPlanSettings, args: argparse.Namespace) -> int:
    """``--release-tests``: the fan-out of the selected release tests, rendered or run here."""
    from build_support.releasetests import loader, runs
    from build_support.releasetests.cli import settings as rt_settings
    from build_support.releasetests.schema import FREQUENCIES
    from build_support.releasetests.selection import select

    if args.frequency is not None and args.frequency not in FREQUENCIES:
        raise UsageError(
            f"--frequency {args.frequency!r} is not a release-test frequency",
            hint="one of: " + ", ".join(FREQUENCIES),
        )
    if args.format == "github-outputs" or args.check or args.write_workflow or args.explain:
        raise UsageError(
            "--release-tests renders the fan-out as buildkite, github or json, or runs it "
            "(--run-local)",
            hint="drop --check/--write-workflow/--explain/--format github-outputs",
        )
    path = cfg.path("release_tests")
    collection = loader.load(path)
    tests = select(
        collection.tests,
        args.test,
        args.frequency,
        smoke=args.smoke,
        run_unstable=args.run_unstable,
        run_jailed=args.run_jailed,
        jailed=rt_settings(cfg).jailed,
    )
    selection_args = [
        *args.test,
        *(("--frequency", args.frequency) if args.frequency else ()),
        *(("--smoke",) if args.smoke else ()),
        *(("--run-unstable",) if args.run_unstable else ()),
        *(("--run-jailed",) if args.run_jailed else ()),
    ]
    steps = plan_mod.release_test_steps(cfg, settings, tests, selection_args=selection_args)
    what = runs.selection_name(args.test, args.frequency, smoke=args.smoke)
    log.info(f"ci-plan: {len(tests)} release test(s) selected ({what}), one step each")
    if args.run_local:
        selection = plan_mod.everything(steps, f"release tests ({what})")
        sha = commits.context(cfg.root).short_sha
        run = os.environ.get(
            "BUILD_SUPPORT_RELEASE_RUN", f"local-{time.strftime('%Y%m%d-%H%M%S')}-{sha}"
        )
        env = {"BUILD_SUPPORT_RELEASE_RUN": run}
        if "BUILD_SUPPORT_STORE" not in os.environ:
            env["BUILD_SUPPORT_STORE"] = cfg.store_url()
        from build_support.ciplan.runlocal import run_local

        return run_local(
            steps,
            selection,
            cfg.root,
            host_platform=platforms.host_wheel_platform(),
            env=env,
            keep_going=True,
            nox_direct=True,
        )
    if args.format == "github":
        print(
            render.github_release_workflow(steps, settings, pythons=cfg.python_versions, what=what),
            end="",
        )
    elif args.format == "json":
        print(render.release_json(steps, settings, cfg.default_branch), end="")
    else:
        print(render.buildkite_release(steps, settings, cfg.default_branch, what=what), end="")
    return 0


def main(argv: list[str], cfg: Config) -> int:
    args = _parser().parse_args(argv)
    settings = plan_mod.load_settings(cfg)
    if args.release_tests:
        return release_tests(cfg, settings, args)
    if args.frequency or args.smoke or args.test or args.run_unstable or args.run_jailed:
        raise UsageError(
            "--frequency, --smoke, --test, --run-unstable and --run-jailed go with --release-tests",
            hint="nox -s ci-plan -- --release-tests --frequency nightly",
        )
    if args.check:
        return check(cfg, settings, args.rules)
    if args.write_workflow:
        fsutil.write_atomic(cfg.root / settings.workflow, workflow_text(cfg, settings))
        log.success(f"wrote {settings.workflow}")
        return 0
    steps = plan_mod.build_steps(cfg, settings)
    if args.format == "github" and not args.explain:
        print(workflow_text(cfg, settings), end="")
        return 0
    rules_files, missing = load_rules(cfg, settings, args.rules)
    changes = changes_mod.detect(
        cfg.root,
        default_branch=cfg.default_branch,
        select_all_outside_prs=settings.select_all_outside_prs,
        base=args.base,
        head=args.head,
        changed=args.changed,
        changed_from=args.changed_from,
    )
    selection = plan_mod.select(steps, rules_files, changes, settings, rules_missing=missing)
    count = len(selection.selected)
    log.info(
        f"ci-plan: {count} of {len(steps)} steps selected"
        + (f" (everything: {selection.everything})" if selection.everything else "")
    )
    if args.run_local:
        return _run_local(cfg, steps, selection)
    if args.explain:
        print(render.explain(steps, selection), end="")
    elif args.format == "json":
        print(render.as_json(steps, selection, settings, cfg.default_branch), end="")
    elif args.format == "github-outputs":
        print(render.github_outputs(steps, selection), end="")
    else:
        print(render.buildkite(steps, selection, settings, cfg.default_branch), end="")
    return 0


def _run_local(cfg: Config, steps: list[plan_mod.Step], selection: plan_mod.Selection) -> int:
    from build_support.ciplan.runlocal import run_local

    env = (
        {"BUILD_SUPPORT_STORE": cfg.store_url()} if "BUILD_SUPPORT_STORE" not in os.environ else {}
    )
    return run_local(
        steps, selection, cfg.root, host_platform=platforms.host_wheel_platform(), env=env
    )
