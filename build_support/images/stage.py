"""The image stage: ``base-deps`` from the lockfile, then the product image from stored wheels.

``nox -s images -- [--python 3.11 …] [--flavor cpu|gpu] [--platform TAG] [--base REF]
[--force]``

For each Python version:

1. resolve the base image (``cpu_base``/``gpu_base``); when it is not present and
   cannot be pulled, and ``base_fallback = "local"``, a Debian root filesystem made by
   :mod:`build_support.containers.rootfs` stands in for it (said loudly, and labelled);
2. download the lockfile's wheels on the host into a wheelhouse (cached by lockfile
   hash), stage them in a reproducible context (sorted, fixed mtimes) and build
   ``docker/base-deps`` with BuildKit, the context streamed as a tar on stdin;
3. fetch the product's wheels (``wheels``) of this commit from the artifact store and build
   ``docker/<image_name>`` ``FROM`` the base-deps image just built;
4. smoke-run the image (non-root, ``<smoke_module>.__commit__`` equals the expected commit) and
   copy ``pip freeze`` out to ``dist/images/``.

A build whose inputs (Dockerfile and context digest, build args, labels, base image ID,
platform) are unchanged is skipped: the input digest is a label
(``io.build-support.input-digest``) and an image carrying it is reused and re-tagged.
``--force`` rebuilds. The Docker CLI (Debian's, with BuildKit) builds; the Docker SDK
does the rest (ping, inspect, tag, run, copy out).

This module is the stage; its parts live in :mod:`.build` (one image pair),
:mod:`.inputs`, :mod:`.base` (the base image and its stand-in) and :mod:`.tags`, and in
:mod:`~build_support.containers` (build contexts, the engine).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from build_support import commits, lockfile, log, manifests, platforms
from build_support import store as store_mod
from build_support.args import StageParser, python_version
from build_support.config import Config
from build_support.containers import engine, rootfs
from build_support.containers.engine import connect
from build_support.containers.settings import RootfsSettings
from build_support.errors import InputError, UsageError
from build_support.images import tags
from build_support.images.build import Job, Result, Stage
from build_support.images.settings import ImagesSettings
from build_support.supplychain import attest


def _parser() -> argparse.ArgumentParser:
    p = StageParser(prog="nox -s images --", description="Build the base-deps and product images.")
    p.add_argument(
        "--python",
        action="append",
        type=python_version,
        default=[],
        metavar="X.Y",
        help="repeatable; default: config",
    )
    p.add_argument("--flavor", choices=("cpu", "gpu"), default="cpu")
    p.add_argument(
        "--platform",
        default=None,
        metavar="TAG",
        help="wheel platform tag, e.g. manylinux2014_aarch64 (default: the host's)",
    )
    p.add_argument(
        "--base",
        default=None,
        metavar="REF",
        help="base image instead of cpu_base/gpu_base; 'local' = the debootstrap'd Debian",
    )
    p.add_argument("--force", action="store_true", help="rebuild even if inputs are unchanged")
    p.add_argument(
        "--pull",
        action="store_true",
        help="try to pull the base image even if the engine has it (a moving tag), as "
        "docker build --pull; without it only an absent base is pulled, and only when "
        "base-deps must be built",
    )
    return p


def _arch_for(platform_tag: str | None) -> platforms.Arch:
    tag = platform_tag or platforms.host_wheel_platform()
    os_name, arch = platforms.parse_platform_tag(tag)
    if os_name != "linux":
        raise UsageError(
            f"images are Linux images; {tag!r} is a {os_name} platform",
            hint="use manylinux2014_x86_64 or manylinux2014_aarch64",
        )
    return arch


def manifest_rows(results: Sequence[Result], commit: str) -> tuple[manifests.ImageRow, ...]:
    """The ``images.json`` rows of this run's images."""
    return tuple(
        manifests.ImageRow(
            name=r.name,
            image_id=r.image_id,
            refs=tuple(r.refs),
            built=r.built,
            input_digest=r.digest,
            commit=commit,
            python=r.extra["python"],
            flavor=r.extra["flavor"],
            arch=r.extra["arch"],
            base=r.extra["base"],
            base_standin=r.extra.get("base_standin"),
            lockfile=r.extra.get("lockfile"),
            version=r.extra.get("version"),
            pip_freeze=r.extra.get("pip_freeze"),
        )
        for r in results
    )


def _write_manifest(path: Path, results: Sequence[Result], commit: str) -> None:
    """Merge this run's rows into ``images.json`` (other Pythons/flavors/arches stay)."""
    previous = manifests.ImagesManifest()
    if path.is_file():
        try:
            previous = manifests.read(path, manifests.ImagesManifest)
        except InputError as exc:
            log.warn(f"replacing an unreadable {path}: {exc.message}")
    manifests.write(path, previous.merged(manifest_rows(results, commit)))


def main(argv: list[str], cfg: Config, *, today: dt.date | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = cfg.section("images", ImagesSettings)
    settings.require_product()
    versions = list(dict.fromkeys(args.python or settings.python_versions))
    arch = _arch_for(args.platform)
    flavor: tags.Flavor = args.flavor
    ctx = commits.context(cfg.root)
    date = today or dt.datetime.now(dt.timezone.utc).date()
    cuda = settings.cuda() if flavor == "gpu" else ""
    jobs = [
        Job(
            python=v,
            flavor=flavor,
            arch=arch,
            tags=tuple(
                tags.image_tags(
                    tags.TagInputs(
                        branch=ctx.branch,
                        sha=ctx.sha,
                        pr_number=ctx.pr_number,
                        pr_evidence=ctx.pr_evidence,
                        date=date,
                        python=v,
                        flavor=flavor,
                        arch=arch,
                        default_branch=cfg.default_branch,
                        default_python=settings.default_python,
                        cuda=cuda,
                        gpu_alias_cuda=settings.gpu_alias_cuda,
                    )
                )
            ),
        )
        for v in versions
    ]
    for job in jobs:  # inputs first: fail before any slow step
        lockfile.require(cfg.path("requirements"), job.python)
    client = connect(settings.engine_timeout_seconds)
    try:
        return _run_jobs(cfg, settings, client, jobs, ctx=ctx, arch=arch, args=args)
    finally:
        client.close()


def _run_jobs(
    cfg: Config,
    settings: ImagesSettings,
    client: Any,
    jobs: Sequence[Job],
    *,
    ctx: commits.BuildContext,
    arch: platforms.Arch,
    args: argparse.Namespace,
) -> int:
    client_path = settings.docker_cli or engine.docker_client()
    if platforms.needs_emulation(arch, os.uname().machine):
        rootfs.ensure_binfmt(arch)
    summary = log.Summary("images", headers=("image", "result", "tags", "time"))
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="build-support-images.") as tmp:
        stage = Stage(
            settings=settings,
            client=client,
            client_path=client_path,
            ctx=ctx,
            force=args.force,
            base_override=args.base,
            workdir=Path(tmp),
            requirements=cfg.path("requirements"),
            docker_dir=cfg.path("docker"),
            dist=cfg.path("dist"),
            store=store_mod.open_store(cfg),
            store_location=cfg.store_url(),
            debian_mirror=cfg.section("rootfs", RootfsSettings).mirror,
            pull=args.pull,
        )
        for job in jobs:
            for r in stage.run(job):
                results.append(r)
                summary.add(
                    image=r.refs[0],
                    result="built" if r.built else "skipped (inputs unchanged)",
                    tags=str(len(r.refs)),
                    time=f"{r.seconds:.1f}s",
                )
    if any(r.extra.get("base_standin") for r in results):
        summary.note(
            "NOTE: built on a local Debian stand-in base (the configured base image "
            "could not be pulled); not for publishing."
        )
    manifest = manifests.images_path(cfg.path("dist"))
    attest.attest_images(store_mod.open_store(cfg), manifest_rows(results, ctx.sha), cfg=cfg,
                         ctx=ctx, client=client)  # fmt: skip
    _write_manifest(manifest, results, ctx.sha)
    summary.note(f"manifest: {manifest}")
    summary.emit(manifest.with_name("summary.json"))
    return 0
