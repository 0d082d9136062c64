"""The wheel stage: build, stamp, repair, verify and store the product's wheels.

``nox -s wheel -- [PLATFORM…] [--python X.Y …] [--force] [--release] [--image P=REF]``

For every configured PEP 517 project (``[tool.build_support.wheel] projects``), every
requested Python and every target platform (default: the host's):

1. the project's files (git-tracked and untracked-not-ignored) are copied to a
   temporary directory and the commit is stamped there, so the working tree is never
   touched, even when a build fails or is killed;
2. an input digest (file contents, interpreter version, platform, build requirements,
   build image, commit) is looked up in the artifact store (``cache/wheels/<digest>.json``):
   a hit reuses the stored wheel instead of compiling (``--force`` rebuilds);
3. ``python -m build --wheel`` runs under the target interpreter (natively, or in a build
   container of the target platform, under QEMU for aarch64 on x86_64), then
   ``auditwheel repair --plat <platform>`` (``delocate-wheel`` on macOS) proves the policy;
4. the wheel is verified before it leaves: file-name tags equal its WHEEL metadata and
   target the requested platform and Python, the ``_version.py`` inside (or, for a
   project stamped ``into = "dist-info"``, the ``.dist-info/COMMIT`` written after repair)
   carries the expected commit, and it installs into a fresh venv and imports (each of
   the project's ``compiled_modules`` as an extension module), reporting that commit;
5. it goes to ``dist/`` (atomically), to the store under ``{branch}/{sha}/{file}``, and on
   the default branch (not a pull request) to ``latest/{file}``.

Builds of several Pythons run in parallel, up to the number of cores.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import tempfile
from pathlib import Path

from build_support import fsutil, inputcache, log, reproducible, store
from build_support.args import StageParser, non_negative_int, python_version
from build_support.config import Config
from build_support.containers.settings import RootfsSettings
from build_support.supplychain import attest
from build_support.wheels import outputs
from build_support.wheels.container import build_container
from build_support.wheels.native import build_native
from build_support.wheels.plan import Built, Job, NativeTarget, Plan, plan
from build_support.wheels.settings import WheelSettings
from build_support.wheels.verify import verify_built


def _parser() -> argparse.ArgumentParser:
    p = StageParser(prog="nox -s wheel --", description="Build, repair, verify and store wheels.")
    p.add_argument(
        "platforms", nargs="*", metavar="PLATFORM", help="wheel platform tags (default: the host's)"
    )
    p.add_argument(
        "--python",
        action="append",
        type=python_version,
        default=[],
        metavar="X.Y",
        help="build only for this Python (repeatable; default: all configured)",
    )
    p.add_argument("--force", action="store_true", help="rebuild even when the cache has it")
    p.add_argument(
        "--check-reproducible",
        action="store_true",
        help="build every wheel twice (in different temporary folders, no cache) and fail"
        " naming the first differing member unless both builds are byte-identical, before"
        " and after repair; nothing is stored",
    )
    p.add_argument(
        "--release", action="store_true", help="release build: refuse a dirty working tree"
    )
    p.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="PLATFORM=IMAGE",
        help="build image for a platform (rootfs:<suite> = a local Debian image)",
    )
    p.add_argument(
        "--container",
        action="store_true",
        help="build in the platform's image even when the host could build natively",
    )
    p.add_argument(
        "--jobs", type=non_negative_int, default=0, help="parallel builds (default: cores)"
    )
    return p


def _build_one(job: Job, p: Plan, settings: WheelSettings) -> Built:
    if isinstance(job.target, NativeTarget):
        return build_native(job, settings, p.ctx.sha, p.uv, epoch=p.epoch)
    house = p.houses[(job.target.platform, job.python)]
    return build_container(job, job.target, settings, p.ctx.sha, house, epoch=p.epoch)


def build(
    p: Plan, settings: WheelSettings, s: store.Store, scratch: Path, *, force: bool, workers: int
) -> list[Built]:
    """Reuse what the cache has (unless ``force``), build the rest in parallel, verify each."""
    results: list[Built] = []
    todo: list[Job] = []
    for job in p.jobs:
        (scratch / job.digest[:16]).mkdir(parents=True, exist_ok=True)
        hit = None if force else outputs.cache_lookup(s, job, p.ctx.sha, scratch / job.digest[:16])
        inputcache.note(f"wheel {job.label}", reused=hit is not None)
        if hit is None:
            todo.append(job)
        else:
            log.info(
                f"{job.label}: unchanged inputs (digest {job.digest[:12]}), "
                f"reusing stored {hit.wheel.name}"
            )
            results.append(hit)
    if todo:
        log.step(f"building {len(todo)} wheel(s), {workers} at a time")
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    try:
        futures = [pool.submit(_build_one, job, p, settings) for job in todo]
        for fut in concurrent.futures.as_completed(futures):
            built = fut.result()
            verify_built(built, p.ctx.sha)
            results.append(built)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results


def check_reproducible(p: Plan, settings: WheelSettings, workers: int) -> int:
    """Build every job twice and compare the builds byte for byte (raw and repaired)."""
    log.step(
        f"--check-reproducible: building {len(p.jobs)} wheel(s) twice, {workers} at a time"
        f" (SOURCE_DATE_EPOCH={p.epoch})"
    )
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    builds: list[Built] = []
    try:
        futures = [pool.submit(_build_one, job, p, settings) for job in p.jobs for _ in "ab"]
        for fut in futures:
            builds.append(fut.result())
        comparisons: list[reproducible.Comparison] = []
        summary = log.Summary("wheel --check-reproducible", headers=("wheel", "sha256", "result"))
        for first, second in zip(builds[::2], builds[1::2], strict=True):
            verify_built(first, p.ctx.sha)
            verify_built(second, p.ctx.sha)
            pairs = [(f"{first.wheel.name} (repaired)", first.wheel, second.wheel)]
            if first.raw is not None and second.raw is not None:
                pairs.insert(0, (f"{first.raw.name} (before repair)", first.raw, second.raw))
            for what, a, b in pairs:
                c = reproducible.compare_zips(what, a, b)
                comparisons.append(c)
                summary.add(
                    wheel=what,
                    sha256=fsutil.sha256_file(a),
                    result="identical" if c.identical else f"differs: {c.difference}",
                )
        summary.emit()
        reproducible.require_identical(comparisons)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for built in builds:
            if built.cleanup is not None:
                shutil.rmtree(built.cleanup, ignore_errors=True)
    log.success(f"{len(comparisons)} wheel(s) byte-identical across two builds")
    return 0


def main(argv: list[str], cfg: Config) -> int:
    """plan → build → store → report."""
    args = _parser().parse_args(argv)
    settings = cfg.section("wheel", WheelSettings)
    p = plan(
        args,
        settings,
        root=cfg.root,
        versions=cfg.python_versions,
        search_paths=cfg.python_search_paths,
        debian_mirror=cfg.section("rootfs", RootfsSettings).mirror,
    )
    if args.check_reproducible:
        return check_reproducible(p, settings, max(1, args.jobs or settings.jobs or 2))
    s = store.open_store(cfg)
    workers = max(1, args.jobs or settings.jobs or os.cpu_count() or 1)
    scratch = Path(tempfile.mkdtemp(prefix="bs-wheel-cache-"))
    results: list[Built] = []
    try:
        results = build(p, settings, s, scratch, force=args.force, workers=workers)
        outputs.store_results(
            results,
            ctx=p.ctx,
            dist=cfg.path("dist"),
            default_branch=cfg.default_branch,
            promote_latest=settings.promote_latest,
            s=s,
            attest_wheel=lambda key, wheel, built, sha256: attest.attest_wheel(
                s,
                key,
                wheel,
                cfg=cfg,
                ctx=p.ctx,
                project=built.job.project.path,
                python=built.job.python,
                platform=built.job.target.platform,
                python_full=built.job.full_version,
                sha256=sha256,
            ),
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        for built in results:
            if built.cleanup is not None:
                shutil.rmtree(built.cleanup, ignore_errors=True)
    outputs.report(results, ctx=p.ctx, dist=cfg.path("dist"), store_url=cfg.store_url())
    return 0
