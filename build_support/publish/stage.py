"""``python -m build_support publish [pypi|maven|docker…] [--execute]``: the core.

1. Gates that need no artifact: branch (its name, and git showing ``HEAD`` on the
   remote's branch), pull request, clean tree (``--release``), the release tests
   recorded for the commit. (A checkout whose ``HEAD`` is not the commit stops earlier,
   with exit 13: :func:`build_support.commits.expected_commit`.)
2. Each target collects the commit's artifacts from the store and reads the commit from
   inside every one (commit gate), hashes each file again and checks its content
   (content gate), then asks its registry what it holds (versions gate).
3. The plan: every artifact, its SHA-256, its destination, and what is already there.
   Without ``--execute`` nothing is sent and the stage ends here.
4. ``--execute``: every gate must pass, including the plan gate (every artifact as the
   plan of this commit in ``dist/publish/plan.json`` listed it, same SHA-256); preflight
   checks (``twine check``, bundle validation, signing) for every target; then all
   ``stage`` steps, then all ``release`` (public, final) steps. Each item is journaled
   ``pending`` before its bytes leave and ``done`` once the target holds them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from build_support import cache, commits, fsutil, log, manifests, store
from build_support.args import StageParser
from build_support.config import Config
from build_support.errors import (
    BuildSupportError,
    FileSystemError,
    InputError,
    PublishError,
    UsageError,
)
from build_support.publish import attestations, credentials, gates
from build_support.publish.journal import Journal, journal_key
from build_support.publish.model import Action, PlanItem, RunEnv, Target
from build_support.publish.settings import TARGETS, PublishSettings
from build_support.store import keys

SECTION = "publish"


def settings_from(cfg: Config) -> PublishSettings:
    return cfg.section(SECTION, PublishSettings)


def _factory(name: str) -> Callable[[RunEnv], Target]:
    if name == "pypi":
        from build_support.publish.pypi import PypiTarget

        return PypiTarget
    if name == "docker":
        from build_support.publish.docker import DockerTarget

        return DockerTarget
    from build_support.publish.maven import MavenTarget

    return MavenTarget


def _parser() -> argparse.ArgumentParser:
    p = StageParser(prog="nox -s publish --", description="Gate, plan and publish a commit.")
    p.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="pypi, maven, docker (default: [tool.build_support.publish] targets)",
    )
    p.add_argument("--execute", action="store_true", help="send (default: only print the plan)")
    p.add_argument("--release", action="store_true", help="also require a clean working tree")
    p.add_argument(
        "--no-wait",
        action="store_true",
        help="with --execute: when another publish of this commit holds its lock in the "
        "store, exit 12 at once instead of waiting for it",
    )
    p.add_argument(
        "--skip-release-tests-gate",
        action="store_true",
        help="publish without a passing release-tests run for this commit (said loudly)",
    )
    p.add_argument(
        "--repair-partial",
        action="store_true",
        help="remove and resend a file that our own interrupted upload left incomplete on "
        "the index, where it allows deletion (pypiserver; never PyPI)",
    )
    p.add_argument("--results-dir", type=Path, help="where release-tests summaries are")
    p.add_argument("--json", type=Path, help="plan JSON (default dist/publish/plan.json)")
    return p


def _results_dir(cfg: Config, override: Path | None) -> Path:
    if override is not None:
        return override
    from build_support.releasetests.cli import settings as rt_settings

    return cfg.root / rt_settings(cfg).results_dir


def early_gates(
    cfg: Config,
    settings: PublishSettings,
    ctx: commits.BuildContext,
    *,
    release: bool,
    skip_release_tests: bool,
    results_dir: Path,
) -> list[gates.Failure]:
    # The checkout's HEAD is the commit (or the stage stopped with exit 13 already):
    # commits.expected_commit, called by commits.context.
    allowed = settings.branch or cfg.default_branch
    failures = gates.branch_gate(cfg.root, ctx.branch, allowed, remote=settings.remote)
    failures += gates.pull_request_gate(ctx)
    failures += gates.clean_tree_gate(cfg.root, release=release)
    if skip_release_tests or not settings.require_release_tests:
        for _ in range(2):
            log.warn(
                f"THE RELEASE-TESTS GATE IS SKIPPED: {ctx.sha} is published without "
                "checking that its release tests passed"
            )
    else:
        failures += gates.release_tests_gate(results_dir, ctx.sha, cfg=cfg, settings=settings)
    return failures


def render_plan(items: Sequence[PlanItem]) -> log.Summary:
    summary = log.Summary(
        "publish plan", headers=("target", "artifact", "sha256", "destination", "action")
    )
    for i in items:
        a = i.artifact
        action = i.action.value if i.action is Action.SEND else f"{i.action.value}: {i.reason}"
        if i.action is Action.SEND and i.remote.present:
            action = f"send ({i.reason})"
        summary.add(
            target=a.target,
            artifact=a.name,
            sha256=a.digest,
            destination=a.destination,
            action=credentials.scrub(action),
        )
    return summary


def plan_path(cfg: Config, override: Path | None) -> Path:
    """Where the plan's JSON twin goes; refuses a symlinked folder or file (it would send
    the record, and the check ``--execute`` makes against it, somewhere else)."""
    path = override or manifests.publish_plan_path(cfg.path("dist"))
    for p in (path.parent, path):
        if p.is_symlink():
            raise FileSystemError(
                f"{p} is a symbolic link (to {p.readlink()}): the publish plan is not "
                "written or read through a link",
                hint=f"remove the link (rm {p}) and rerun; the stage makes the folder itself",
            )
    return path


def read_plan(path: Path, sha: str) -> dict[tuple[str, str, str], str] | None:
    """``{(target, artifact, destination): sha256}`` of the plan made for ``sha`` at
    ``path``; None when there is none for this commit (no file, an older format, or
    another commit's plan). An unreadable plan is an error, never "no plan"."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("commit") != sha:
            return None
        return {
            (str(i["target"]), str(i["artifact"]), str(i["destination"])): str(i["sha256"])
            for i in data["items"]
        }
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"the publish plan {path} cannot be read: {exc}",
            hint="make it again: nox -s publish (without --execute), review it, then --execute",
        ) from None


def _plan_json(
    path: Path,
    ctx: commits.BuildContext,
    items: Sequence[PlanItem],
    failures: Sequence[gates.Failure],
) -> None:
    payload = {
        "commit": ctx.sha,
        "branch": ctx.branch,
        "gates": [{"gate": f.gate, "message": f.message} for f in failures],
        "items": [
            {
                "target": i.artifact.target,
                "artifact": i.artifact.name,
                "sha256": i.artifact.digest,
                "size": i.artifact.size,
                "commit": i.artifact.commit,
                "version": i.artifact.version,
                "destination": i.artifact.destination,
                "phase": i.artifact.phase,
                "action": i.action.value,
                "remote_sha256": i.remote.digest,
                "reason": i.reason,
            }
            for i in items
        ],
    }
    fsutil.write_atomic(
        path, credentials.scrub(json.dumps(payload, indent=2, sort_keys=True)) + "\n"
    )


def execute(
    targets: Sequence[tuple[Target, list[PlanItem]]], journal: Journal
) -> tuple[list[str], list[str]]:
    """Send every ``send`` item, stage steps first; returns (done, left) descriptions."""
    done: list[str] = []
    left: list[str] = []
    for target, items in targets:
        with log.group(f"publish: {target.name} preflight"):
            target.preflight([i for i in items if i.action is Action.SEND])
    failed_targets: set[str] = set()
    for phase in ("stage", "release"):
        if phase == "release" and left:
            left += [
                f"{t.name} {i.artifact.destination} (not made public: an earlier step failed)"
                for t, items in targets
                for i in items
                if i.action is Action.SEND and i.artifact.phase == "release"
            ]
            break
        for target, items in targets:
            todo = [i for i in items if i.action is Action.SEND and i.artifact.phase == phase]
            if not todo:
                continue
            with log.group(f"publish: {target.name} ({phase}, {len(todo)} item(s))"):
                for item in todo:
                    a = item.artifact
                    if target.name in failed_targets:
                        left.append(f"{a.target} {a.destination} (not tried: {target.name} failed)")
                        continue
                    journal.record(a.key, "pending", target=a.target, name=a.name,
                                   destination=a.destination)  # fmt: skip
                    started = time.monotonic()
                    try:
                        target.send(item, journal)
                    except BuildSupportError as exc:
                        message = credentials.scrub(str(exc))
                        log.error(f"{a.target} {a.name}: {message}")
                        journal.record(a.key, "pending", target=a.target, name=a.name,
                                       error=message.splitlines()[0])  # fmt: skip
                        left.append(f"{a.target} {a.destination} ({message.splitlines()[0]})")
                        failed_targets.add(target.name)
                        continue
                    journal.record(a.key, "done", target=a.target, name=a.name,
                                   destination=a.destination)  # fmt: skip
                    log.info(f"published {a.name} -> {a.destination} "
                             f"({time.monotonic() - started:.1f}s)")  # fmt: skip
                    done.append(f"{a.target} {a.destination}")
    return done, left


def _mark_present(journal: Journal, items: list[PlanItem]) -> int:
    """Journal every item the targets already hold; how many entries changed."""
    return sum(
        journal.mark_present(
            i.artifact.key,
            target=i.artifact.target,
            name=i.artifact.name,
            destination=i.artifact.destination,
        )
        for i in items
        if i.action is Action.SKIP
    )


def main(argv: list[str], cfg: Config) -> int:  # noqa: PLR0912, PLR0915
    args = _parser().parse_args(argv)
    for name in args.targets:
        if name not in TARGETS:
            raise UsageError(
                f"unknown publish target {name!r}", hint="one of: " + ", ".join(TARGETS)
            )
    settings = settings_from(cfg)
    names = list(dict.fromkeys(args.targets or settings.targets))
    ctx = commits.context(cfg.root)
    json_path = plan_path(cfg, args.json)
    s = store.open_store(cfg)
    mode = "execute" if args.execute else "plan"
    log.step(f"publish ({mode}) of {ctx.branch}@{ctx.sha} to {', '.join(names)}")
    failures = early_gates(
        cfg,
        settings,
        ctx,
        release=args.release,
        skip_release_tests=args.skip_release_tests_gate,
        results_dir=_results_dir(cfg, args.results_dir),
    )
    if failures and args.execute:  # refuse before touching any registry
        raise gates.refuse(failures)
    for f in failures:  # plan mode: say it now, and again in the plan
        log.warn(f"--execute would be refused: {f}")
    plan: list[tuple[Target, list[PlanItem]]] = []
    # --execute holds the commit's lock in the store from the plan to the last send: a
    # second run waits (or exits 12 with --no-wait), then plans from what is there.
    lock = (
        s.lease(
            keys.publish_lock_key(ctx.sha),
            what=f"publish --execute of {ctx.branch}@{ctx.sha[:12]}",
            wait=not args.no_wait,
        )
        if args.execute
        else contextlib.nullcontext()
    )
    # private, swept when a kill leaves it
    with lock, cache.run_folder("publish") as run:
        env = RunEnv(cfg=cfg, settings=settings, ctx=ctx, store=s, workdir=run.path,
                     execute=args.execute, env=dict(os.environ),
                     repair_partial=args.repair_partial)  # fmt: skip
        made: list[Target] = []
        try:
            for name in names:
                target = _factory(name)(env)
                made.append(target)
                with log.group(f"publish: {name}: collect and look"):
                    artifacts = target.collect()
                    failures += gates.commit_gate(artifacts, ctx.sha)
                    failures += gates.content_gate(artifacts)
                    failures += attestations.gate(artifacts, env)
                    items = target.probe(artifacts)
                plan.append((target, items))
            every = [i for _t, items in plan for i in items]
            failures += gates.versions_gate(every)
            unplanned: list[gates.Failure] = []
            if args.execute:
                failures += gates.reachable_gate(every)
                planned = read_plan(json_path, ctx.sha)
                if planned is None:
                    log.info(f"no plan of {ctx.sha} at {json_path}: this run's plan is the plan")
                else:
                    unplanned = gates.planned_gate([i.artifact for i in every], planned,
                                                   json_path)  # fmt: skip
                    failures += unplanned
            summary = render_plan(every)
            for f in failures:
                summary.note(credentials.scrub(f"REFUSED {f}"))
            if not unplanned:  # the plan that was reviewed stays what the next run checks
                _plan_json(json_path, ctx, every, failures)
            to_send = [i for i in every if i.action is Action.SEND]
            if not args.execute:
                summary.note(
                    f"plan only: {len(to_send)} to send, "
                    f"{sum(i.action is Action.SKIP for i in every)} already there; nothing "
                    "was sent (run with --execute to send)"
                )
                summary.emit()
                return 0
            if failures:
                summary.emit()
                raise gates.refuse(failures)
            journal = Journal.load(s, ctx.sha, ctx.branch)
            resolved = _mark_present(journal, every)
            if not to_send:
                if resolved:  # pending entries of a killed run, found on their targets
                    journal.write()
                summary.note(
                    f"nothing to do: all {len(every)} artifact(s) are already on their "
                    f"targets with identical content (journal: {journal_key(ctx.sha)}"
                    + (f"; {resolved} pending entries resolved by looking" if resolved else "")
                    + ")"
                )
                summary.emit()
                return 0
            summary.emit()
            journal.start_run(mode)
            done, left = execute(plan, journal)
            journal.finish_run("complete" if not left else "incomplete")
        finally:
            for t in made:
                t.close()
    log.info(f"publish: {len(done)} sent, journal {journal_key(ctx.sha)} in {s.url}")
    if left:
        raise PublishError(
            f"{len(left)} item(s) not published:\n  " + "\n  ".join(left),
            hint="fix the cause and rerun `nox -s publish -- --execute`: what is done is "
            "journaled and skipped, pending items are resolved by asking the target",
        )
    return 0
