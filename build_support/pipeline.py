"""The main job: every stage, in order, for the host platform on the bundled product.

``nox -s pipeline -- [--only STEP…] [--skip STEP…] [--keep-going]``. Each step is a
stage called in-process with the arguments below; the closing summary lists every step
with its result and duration.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from build_support import cli, log, manifests, platforms, provision, tools
from build_support.args import StageParser
from build_support.config import Config
from build_support.errors import BuildSupportError, UsageError


@dataclass(frozen=True)
class Step:
    name: str
    stage: str
    argv: tuple[str, ...]


def steps(cfg: Config, host_tag: str, *, publish: bool = False) -> list[Step]:
    """The pipeline's steps for a host that natively builds ``host_tag``.

    The last step publishes in plan mode (nothing sent) unless ``publish`` is true.
    """
    plan: list[Step] = []
    # Compile (a no-op in ~0.1 s when the inputs are unchanged); CI's staleness gate is
    # the separate `nox -s lock-3.X -- --check`, which re-resolves against the index.
    for v in cfg.python_versions:
        plan.append(Step(f"lock-{v}", "lock", ("--python", v)))
    plan.append(Step("wheel", "wheel", (host_tag,)))
    os_name = platforms.parse_platform_tag(host_tag)[0]
    plan.append(Step(f"jars-{os_name}", "jars", (os_name,)))
    plan.append(Step("jars-multiplatform", "jars", ("multiplatform",)))
    plan.append(Step("images", "images", ()))
    plan.append(Step("release-tests", "release-tests", ("--smoke", "--reuse-passed")))
    plan.append(Step("publish", "publish", ("--execute",) if publish else ()))
    return plan


def _parser() -> argparse.ArgumentParser:
    p = StageParser(prog="nox -s pipeline --", description=__doc__)
    p.add_argument("--only", nargs="+", default=[], metavar="STEP", help="run only these steps")
    p.add_argument("--skip", nargs="+", default=[], metavar="STEP", help="skip these steps")
    p.add_argument("--keep-going", action="store_true", help="run later steps after one fails")
    p.add_argument("--list", action="store_true", help="print the steps and exit")
    p.add_argument(
        "--publish", action="store_true", help="the publish step sends (--execute), not a plan"
    )
    return p


def main(argv: list[str], cfg: Config) -> int:
    args = _parser().parse_args(argv)
    plan = steps(cfg, platforms.host_wheel_platform(), publish=args.publish)
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
    summary = log.Summary("pipeline", headers=("step", "result", "time"))
    done: list[manifests.PipelineStep] = []
    failed = 0
    for s in plan:
        start = time.monotonic()
        with log.group(f"pipeline step {s.name}"), tools.stage_scope(s.stage):
            try:
                code = cli.resolve(s.stage)(list(s.argv), cfg)
            except BuildSupportError as exc:
                code = cli.exit_code_for(s.stage, exc)
                log.error(f"{s.name}: {exc}" + (f" (exit {code})" if code != exc.exit_code else ""))
        seconds = time.monotonic() - start
        result = "ok" if code == 0 else f"failed (exit {code})"
        summary.add(step=s.name, result=result, time=f"{seconds:.1f}s")
        done.append(
            manifests.PipelineStep(
                name=s.name, stage=s.stage, argv=s.argv, exit_code=code, seconds=round(seconds, 2)
            )
        )
        if code != 0:
            failed = failed or code
            if not args.keep_going:
                summary.note(f"stopped after {s.name}; rerun with --keep-going to continue")
                break
    summary.emit()
    manifests.write(
        manifests.pipeline_path(cfg.path("dist")),
        manifests.PipelineManifest(exit_code=failed, steps=tuple(done)),
    )
    return failed
