"""Where wheels go: the store's build cache (reuse by input digest), ``dist/``, the store
under ``{branch}/{sha}/`` and ``latest/``, the closing summary and ``dist/wheels.json``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from build_support import commits, fsutil, inputcache, log, manifests, store, wheelfile
from build_support.errors import StoreError
from build_support.supplychain import attest
from build_support.wheels.plan import Built, Job


def cache_lookup(s: store.Store, job: Job, commit: str, work: Path) -> Built | None:
    start = time.monotonic()
    key = manifests.wheel_cache_key(job.digest)
    record = inputcache.lookup(s, key, manifests.WheelCacheRecord, what=job.label)
    if record is None:
        return None
    wheel = work / record.wheel
    try:
        info = s.get(record.key, wheel)
    except StoreError as exc:
        log.warn(f"cache record for {job.label} points at a missing wheel ({exc}); rebuilding")
        return None
    wheelfile.check_tags(wheel, platform=job.target.platform, python=job.python)
    job.project.check_commit(wheel, commit)
    built = Built(
        job,
        wheel,
        time.monotonic() - start,
        cached=True,
        reported_commit=record.import_commit,
    )
    built.sha256, built.size = info.sha256, info.size
    return built


def _place(built: Built, dist: Path) -> Path:
    return fsutil.copy_atomic(built.wheel, dist / built.wheel.name)


def store_results(
    results: Sequence[Built],
    *,
    ctx: commits.BuildContext,
    dist: Path,
    default_branch: str,
    promote_latest: bool,
    s: store.Store,
    attest_wheel: Callable[[str, Path, Built, str], object] | None = None,
) -> None:
    """Each wheel to ``dist/`` and the store; a cache record for each new build; ``latest/``
    (when ``promote_latest`` on ``default_branch``, not a pull request).

    ``attest_wheel(key, wheel, built, sha256)`` writes the wheel's SBOM and provenance
    beside it (:mod:`build_support.supplychain.attest`); they are promoted with it."""
    keys = store.keys
    promote = promote_latest and ctx.is_release_branch(default_branch)
    with log.group("store and dist"):
        for built in results:
            final = _place(built, dist)
            key = keys.wheel_key(ctx.branch, ctx.sha, final.name)
            info = s.put(key, final)
            built.sha256, built.size, built.store_key = info.sha256, info.size, key
            if attest_wheel is not None:
                attest_wheel(key, final, built, info.sha256)
            if not built.cached:
                inputcache.save(
                    s,
                    manifests.wheel_cache_key(built.job.digest),
                    manifests.WheelCacheRecord(
                        wheel=final.name,
                        key=key,
                        sha256=info.sha256,
                        size=info.size,
                        python=built.job.full_version,
                        platform=built.job.target.platform,
                        commit=ctx.sha,
                        project=built.job.project.rel,
                        import_commit=built.reported_commit,
                        digest=built.job.digest,
                    ),
                )
            if promote:
                for promoted in (key, *attest.sidecar_keys(s, key)):
                    s.promote(promoted, ctx=ctx, default_branch=default_branch)


def report(
    results: Sequence[Built], *, ctx: commits.BuildContext, dist: Path, store_url: str
) -> None:
    """The closing summary and ``dist/wheels.json``."""
    summary = log.Summary("wheel", headers=("wheel", "size", "sha256", "build time", "source"))
    rows: list[manifests.WheelRow] = []
    for built in sorted(results, key=lambda b: b.wheel.name):
        summary.add(
            **{
                "wheel": built.wheel.name,
                "size": log.human_size(built.size),
                "sha256": built.sha256,
                "build time": f"{built.seconds:.1f}s",
                "source": "cache" if built.cached else built.job.target.mode,
            }
        )
        rows.append(
            manifests.WheelRow(
                wheel=built.wheel.name,
                project=built.job.project.rel,
                python=built.job.python,
                platform=built.job.target.platform,
                size=built.size,
                sha256=built.sha256,
                seconds=round(built.seconds, 2),
                cached=built.cached,
                mode=built.job.target.mode,
                store_key=built.store_key,
                digest=built.job.digest,
            )
        )
    summary.note(f"commit {ctx.sha} on {ctx.branch}; store {store_url}")
    summary.emit()
    manifests.write(
        manifests.wheels_path(dist),
        manifests.WheelsManifest(commit=ctx.sha, branch=ctx.branch, wheels=tuple(rows)),
    )
