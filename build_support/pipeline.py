"""The main job: every stage, in order, for the host platform on the bundled product.

``nox -s pipeline -- [--only STEP…] [--skip STEP…] [--keep-going]``. Each step is a
stage called in-process with the arguments below; the closing summary lists every step
with its result and duration.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from build_support import (
    cli,
    commits,
    inputcache,
    log,
    manifests,
    platforms,
    provision,
    stages,
    tools,
)
from build_support.args import StageParser
from build_support.config import Config
from build_support.errors import UsageError
from build_support.supplychain import invocation


@dataclass(frozen=True)
class Step:
    name: str
    stage: str
    argv: tuple[str, ...]


def steps(cfg: Config, host_tag: str, *, publish: bool = False, force: bool = False) -> list[Step]:
    """The pipeline's steps for a host that natively builds ``host_tag``.

    One builder per stage (its ``pipeline`` in :data:`build_support.stages.STAGES`), in
    the table's order, for the stages the project has (``[tool.build_support] stages``;
    default: all). The last step publishes in plan mode (nothing sent) unless
    ``publish`` is true. Unchanged inputs are reused (release tests: passing results,
    ``--reuse-passed``); ``force`` rebuilds wheels, JARs and images and reruns every
    release test.
    """
    plan: list[Step] = []
    for stage in stages.STAGES.values():
        if stage.pipeline and (not cfg.stages or stage.name in cfg.stages):
            plan += stages.load(stage.pipeline)(cfg, host_tag, publish=publish, force=force)
    return plan


def lock_steps(cfg: Config, host_tag: str, *, publish: bool, force: bool) -> list[Step]:
    # Compile (a no-op in ~0.1 s when the inputs are unchanged); CI's staleness gate is
    # the separate `nox -s lock-3.X -- --check`, which re-resolves against the index.
    return [Step(f"lock-{v}", "lock", ("--python", v)) for v in cfg.python_versions]


def wheel_steps(cfg: Config, host_tag: str, *, publish: bool, force: bool) -> list[Step]:
    return [Step("wheel", "wheel", (host_tag, *_rebuild(force)))]


def jars_steps(cfg: Config, host_tag: str, *, publish: bool, force: bool) -> list[Step]:
    os_name = platforms.parse_platform_tag(host_tag)[0]
    return [
        Step(f"jars-{os_name}", "jars", (os_name, *_rebuild(force))),
        Step("jars-multiplatform", "jars", ("multiplatform",)),
    ]


def images_steps(cfg: Config, host_tag: str, *, publish: bool, force: bool) -> list[Step]:
    return [Step("images", "images", _rebuild(force))]


def release_tests_steps(cfg: Config, host_tag: str, *, publish: bool, force: bool) -> list[Step]:
    reuse = "--no-reuse" if force else "--reuse-passed"
    return [Step("release-tests", "release-tests", ("--smoke", reuse))]


def publish_steps(cfg: Config, host_tag: str, *, publish: bool, force: bool) -> list[Step]:
    return [Step("publish", "publish", ("--execute",) if publish else ())]


def _rebuild(force: bool) -> tuple[str, ...]:
    return ("--force",) if force else ()


def reuse_of(notes: list[tuple[str, bool]]) -> tuple[bool, str]:
    """(whether a step reused all it had to make, a short text) from its reuse notes."""
    if not notes:
        return False, "-"
    made = [what for what, reused in notes if not reused]
    if not made:
        return True, f"yes ({len(notes)} of {len(notes)})"
    if len(made) == len(notes):
        return False, f"no ({len(notes)} made)"
    return False, f"{len(notes) - len(made)} of {len(notes)}; made: {', '.join(made)}"


@contextlib.contextmanager
def pinned_commit(root: Path) -> Iterator[str]:
    """Every step builds the commit the pipeline started at.

    The commit is resolved once (CI's variable checked against ``HEAD``, as every stage
    does) and set as ``BUILD_SUPPORT_COMMIT`` for the steps, then restored. A commit made
    in the checkout while the pipeline runs then stops the next step with the commit
    error (exit 13) naming both commits, instead of a later step looking in the store for
    artifacts of a commit that nothing built.
    """
    sha = commits.expected_commit(root)
    before = os.environ.get(commits.OVERRIDE_VAR)
    os.environ[commits.OVERRIDE_VAR] = sha
    try:
        yield sha
    finally:
        if before is None:
            os.environ.pop(commits.OVERRIDE_VAR, None)
        else:
            os.environ[commits.OVERRIDE_VAR] = before


def _parser() -> argparse.ArgumentParser:
    p = StageParser(prog="nox -s pipeline --", description=__doc__)
    p.add_argument("--only", nargs="+", default=[], metavar="STEP", help="run only these steps")
    p.add_argument("--skip", nargs="+", default=[], metavar="STEP", help="skip these steps")
    p.add_argument("--keep-going", action="store_true", help="run later steps after one fails")
    p.add_argument("--list", action="store_true", help="print the steps and exit")
    p.add_argument(
        "--publish", action="store_true", help="the publish step sends (--execute), not a plan"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="rebuild wheels, JARs and images and rerun every release test",
    )
    return p


def main(argv: list[str], cfg: Config) -> int:
    args = _parser().parse_args(argv)
    plan = steps(cfg, platforms.host_wheel_platform(), publish=args.publish, force=args.force)
    names = [s.name for s in plan]
    for chosen in (*args.only, *args.skip):
        if chosen not in names:
            raise UsageError(f"unknown pipeline step {chosen!r}", hint="steps: " + ", ".join(names))
    if args.only:
        plan = [s for s in plan if s.name in args.only]
    plan = [s for s in plan if s.name not in args.skip]
    if args.list:
        for s in plan:
            print(f"{s.name}\tpython -m build_support {s.stage} {' '.join(s.argv)}".rstrip())
        return 0
    provision.ensure_steps((s.stage, s.argv) for s in plan)  # before the first step
    with pinned_commit(cfg.root):
        return _run(plan, cfg, keep_going=args.keep_going)


def _run(plan: list[Step], cfg: Config, *, keep_going: bool) -> int:
    summary = log.Summary("pipeline", headers=("step", "result", "reused", "time"))
    done: list[manifests.PipelineStep] = []
    failed = 0
    for s in plan:
        start = time.monotonic()
        inputcache.take()  # notes of earlier steps
        with (
            log.group(f"pipeline step {s.name}"),
            tools.stage_scope(s.stage),
            invocation.running(s.stage, s.argv),
        ):
            try:
                code = cli.resolve(s.stage)(list(s.argv), cfg)
            except Exception as exc:  # noqa: BLE001 - any failure is the step's exit code
                # As a stage on its own reports it (cli.as_error): an OSError is exit 19,
                # a bug exit 1; the later steps and dist/pipeline.json still happen.
                code = cli.report(s.stage, exc)
        seconds = time.monotonic() - start
        result = "ok" if code == 0 else f"failed (exit {code})"
        reused, detail = reuse_of(inputcache.take())
        summary.add(step=s.name, result=result, reused=detail, time=f"{seconds:.1f}s")
        done.append(
            manifests.PipelineStep(
                name=s.name,
                stage=s.stage,
                argv=s.argv,
                exit_code=code,
                seconds=round(seconds, 2),
                reused=reused and code == 0,
                detail=detail,
            )
        )
        if code != 0:
            failed = failed or code
            if not keep_going:
                summary.note(f"stopped after {s.name}; rerun with --keep-going to continue")
                break
    reused_steps = [d.name for d in done if d.reused]
    summary.note("reused (inputs unchanged): " + (", ".join(reused_steps) or "none"))
    summary.emit()
    manifests.write(
        manifests.pipeline_path(cfg.path("dist")),
        manifests.PipelineManifest(exit_code=failed, steps=tuple(done)),
    )
    return failed
