"""The image stage: ``base-deps`` from the lockfile, then the product image from stored wheels.

``nox -s images -- [--python 3.11 …] [--flavor cpu|gpu] [--platform TAG] [--base REF]
[--force]``

For each Python version:

1. resolve the base image (``cpu_base``/``gpu_base``); when it is not present and
   cannot be pulled, and ``base_fallback = "local"``, a Debian root filesystem made by
   :mod:`build_support.rootfs` stands in for it (said loudly, and labelled);
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

This module is the stage; its parts live in :mod:`~build_support.imagecontext` (build
contexts, input digests), :mod:`~build_support.dockerengine` (the engine) and
:mod:`~build_support.baseimage` (the base image and its stand-in).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from build_support import (
    commits,
    fsutil,
    imagetags,
    inputcache,
    lockfile,
    log,
    manifests,
    platforms,
    provision,
    rootfs,
    wheelfile,
    wheelhouse,
)
from build_support import store as store_mod
from build_support.args import StageParser, python_version
from build_support.baseimage import Base, check_base_python, quick_base, resolve_base
from build_support.config import Config
from build_support.dockerengine import (
    ImageSummary,
    check_buildkit_once,
    connect,
    copy_out,
    docker_build,
    find_by_digest,
    pinned_name,
    pinned_ref,
    smoke_test,
    tag_image,
)
from build_support.errors import ArtifactNotFoundError, InputError, UsageError, VerificationError
from build_support.imagecontext import DIGEST_LABEL, BuildContext, input_digest
from build_support.settings import ImagesSettings as ImagesSettings  # noqa: PLC0414 - re-exported
from build_support.supplychain import attest

#: The commit the image was built from (OCI); read back from the image to verify it.
REVISION_LABEL = "org.opencontainers.image.revision"
BASE_LABEL = "io.build-support.base-image"
STANDIN_LABEL = "io.build-support.base-standin"


# --- the wheelhouse -----------------------------------------------------------------------


def wheelhouse_platforms(arch: str, settings: ImagesSettings) -> list[str]:
    return [p.replace("{arch}", arch) for p in settings.wheelhouse_platforms]


def ensure_wheelhouse(lock: Path, python: str, arch: str, settings: ImagesSettings) -> Path:
    """Every locked wheel for ``python``/``arch``, downloaded with hashes; cached by lockfile."""
    plats = wheelhouse_platforms(arch, settings)
    return wheelhouse.ensure(
        ["--require-hashes", "-r", str(lock)],
        platforms=plats,
        python=python,
        name=f"py{python.replace('.', '')}-{arch}",
        inputs=[fsutil.sha256_file(lock)],
        hint="every locked package needs a binary wheel for "
        + " or ".join(plats)
        + f"; check the lockfile ({lock}) and the index",
    )


# --- wheels from the store ------------------------------------------------------------------


def fetch_wheels(
    s: store_mod.Store,
    *,
    ctx: commits.BuildContext,
    python: str,
    arch: platforms.Arch,
    dists: Sequence[str],
    dest: Path,
    location: str = "",
) -> list[Path]:
    """The wheels of ``dists`` that this commit's wheel stage stored, downloaded to ``dest``."""
    prefix = store_mod.keys.commit_prefix(ctx.branch, ctx.sha)
    available = sorted(o.key for o in s.list(prefix))
    plat = platforms.PLATFORM_TABLE[("Linux", arch)]
    cp = "cp" + python.replace(".", "")
    out: list[Path] = []
    for dist in dists:
        matches = [
            k
            for k in available
            if wheelfile.matches(k.rsplit("/", 1)[-1], dist, python=python, platform=plat)
        ]
        if not matches:
            expected = f"{prefix}{dist}-<version>-{cp}-{cp}-{plat}.whl"
            raise ArtifactNotFoundError(
                f"the {dist} wheel for Python {python} {plat} is not in the artifact store "
                f"{location or s!r}: expected key {expected}",
                hint=f"build and store it first: nox -s wheel -- {plat} --python {python}",
            )
        key = matches[-1]
        path = dest / key.rsplit("/", 1)[-1]
        s.get(key, path)
        out.append(path)
    return out


# --- one image pair -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Job:
    python: str
    flavor: imagetags.Flavor
    arch: platforms.Arch
    tags: tuple[str, ...]


@dataclass
class Result:
    name: str
    image_id: str
    refs: list[str]
    built: bool
    seconds: float
    digest: str
    extra: dict[str, str] = field(default_factory=dict)
    #: A reused image's labels, as the digest lookup inspected them.
    labels: dict[str, str] = field(default_factory=dict)


def _ensure_built(
    client: Any,
    *,
    client_path: str,
    name: str,
    refs: Sequence[str],
    context: BuildContext,
    build_args: Mapping[str, str],
    labels: Mapping[str, str],
    base_id: str,
    platform: str,
    force: bool,
    settings: ImagesSettings,
    workdir: Path,
    before_build: Callable[[], None] | None = None,
) -> Result:
    """Reuse the image with these inputs' digest (one label lookup), else build it.

    ``before_build`` runs only when a build is needed (checks and pins that a reused
    image does not need: no other Docker round trip on the no-change path).
    """
    started = time.monotonic()
    digest = input_digest(
        context_digest=context.digest(),
        build_args=build_args,
        labels=labels,
        base_image_id=base_id,
        platform=platform,
    )
    reused = None if force else _reuse(client, name=name, refs=refs, digest=digest)
    if reused is not None:
        return reused
    inputcache.note(f"image {refs[0]}", reused=False)
    with log.group(f"build {refs[0]} ({platform})"):
        check_buildkit_once(client_path)
        if before_build is not None:
            before_build()
        pinned_ref(client, base_id)
        docker_build(
            client_path=client_path,
            context=context,
            tag=refs[0],
            build_args=build_args,
            labels={**labels, DIGEST_LABEL: digest},
            platform=platform,
            timeout=settings.build_timeout_seconds,
            workdir=workdir,
        )
    image = ImageSummary.of(client.images.get(refs[0]))
    tag_image(client, image, refs[1:])
    return Result(name, image.id, list(refs), True, time.monotonic() - started, digest)


def _reuse(client: Any, *, name: str, refs: Sequence[str], digest: str) -> Result | None:
    """The image with ``digest`` (one label lookup), tagged ``refs``; None if there is none."""
    started = time.monotonic()
    existing = find_by_digest(client, digest)
    if existing is None:
        return None
    inputcache.note(f"image {refs[0]}", reused=True)
    log.info(f"{name}: inputs unchanged (input digest {digest[:12]}), skipping the build")
    tag_image(client, existing, refs)
    result = Result(name, existing.id, list(refs), False, time.monotonic() - started, digest)
    result.labels = dict(existing.labels)  # as the lookup listed them
    return result


def _read_dockerfile(cfg: Config, name: str) -> bytes:
    """``<paths.docker>/<name>/Dockerfile``: ``name`` is the image's ``*_dockerfile`` setting
    or, unset, its name (``base_deps_name`` / ``image_name``)."""
    path = cfg.path("docker") / name / "Dockerfile"
    if not path.is_file():
        raise InputError(
            f"{path} does not exist",
            hint="restore it from the repository, or point [tool.build_support.images] "
            "base_deps_dockerfile / image_dockerfile at the folder holding the Dockerfile",
        )
    return path.read_bytes()


def check_revision_label(client: Any, image_id: str, expected_commit: str) -> str:
    """The image's own ``org.opencontainers.image.revision`` label is ``expected_commit``."""
    labels = client.images.get(image_id).labels or {}
    found = labels.get(REVISION_LABEL)
    if found != expected_commit:
        raise VerificationError(
            f"image {image_id[:19]} has label {REVISION_LABEL}={found!r}, expected "
            f"{expected_commit}",
            hint="rebuild the image from this commit: nox -s images -- --force",
        )
    return str(found)


@dataclass
class Stage:
    cfg: Config
    settings: ImagesSettings
    client: Any
    client_path: str
    ctx: commits.BuildContext
    force: bool
    base_override: str | None
    workdir: Path
    pull: bool = False

    def refs(self, name: str, tags: Sequence[str]) -> list[str]:
        return [f"{self.settings.namespace}/{name}:{t}" for t in tags]

    def _base_deps_inputs(
        self, job: Job, base: Base
    ) -> tuple[BuildContext, dict[str, str], dict[str, str], Path]:
        s = self.settings
        lock = lockfile.require(self.cfg.path("requirements"), job.python)
        house = ensure_wheelhouse(lock, job.python, job.arch, s)
        context = BuildContext()
        context.add(
            "Dockerfile", _read_dockerfile(self.cfg, s.base_deps_dockerfile or s.base_deps_name)
        )
        context.add("requirements_compiled.txt", lock)
        context.add_dir("wheelhouse")
        for whl in sorted(house.glob("*.whl")):
            context.add(f"wheelhouse/{whl.name}", whl)
        build_args = {
            "BASE_IMAGE": pinned_name(base.image_id),
            "PYTHON_VERSION": job.python,
            "PYTHON_INSTALL": s.python_install,
            "BUILD_SUPPORT_USER": s.user,
            "BUILD_SUPPORT_UID": str(s.uid),
            "BUILD_SUPPORT_GID": str(s.gid),
        }
        labels = {
            BASE_LABEL: base.requested,
            "io.build-support.python": job.python,
            "io.build-support.flavor": job.flavor,
            "io.build-support.lockfile-sha256": fsutil.sha256_file(lock),
        }
        if base.standin:
            labels[STANDIN_LABEL] = base.ref
        return context, build_args, labels, lock

    def reuse_base_deps(self, job: Job, base: Base) -> Result | None:
        """base-deps on ``base`` if the engine has it (one label lookup), else None."""
        context, build_args, labels, lock = self._base_deps_inputs(job, base)
        digest = input_digest(
            context_digest=context.digest(),
            build_args=build_args,
            labels=labels,
            base_image_id=base.image_id,
            platform=platforms.DOCKER_PLATFORMS[job.arch],
        )
        name = self.settings.base_deps_name
        result = _reuse(self.client, name=name, refs=self.refs(name, job.tags), digest=digest)
        if result is not None:
            result.extra["lockfile"] = str(lock)
        return result

    def base_deps(
        self, job: Job, base: Base, before_build: Callable[[], None] | None = None
    ) -> Result:
        context, build_args, labels, lock = self._base_deps_inputs(job, base)
        result = self._build(
            self.settings.base_deps_name,
            job,
            context=context,
            build_args=build_args,
            labels=labels,
            base_id=base.image_id,
            before_build=before_build,
        )
        result.extra["lockfile"] = str(lock)
        return result

    def fetch(self, job: Job) -> list[Path]:
        whl_dir = self.workdir / f"whl-{job.python}"
        whl_dir.mkdir(exist_ok=True)
        return fetch_wheels(
            store_mod.open_store(self.cfg),
            ctx=self.ctx,
            python=job.python,
            arch=job.arch,
            dists=self.settings.wheels,
            dest=whl_dir,
            location=self.cfg.store_url(),
        )

    def product(self, job: Job, base_deps: Result, wheels: Sequence[Path]) -> Result:
        s = self.settings
        lock = lockfile.require(self.cfg.path("requirements"), job.python)
        context = BuildContext()
        context.add("Dockerfile", _read_dockerfile(self.cfg, s.image_dockerfile or s.image_name))
        constraints = lockfile.constraints(lock.read_text(encoding="utf-8"))
        context.add("requirements_compiled.txt", constraints.encode())
        for whl in wheels:
            context.add(f".whl/{whl.name}", whl)
        names = [wheelfile.parse_name(w.name) for w in wheels]
        packages = " ".join(f"{n.distribution}=={n.version}" for n in names)
        version = names[0].version
        build_args = {
            "FULL_BASE_IMAGE": pinned_name(base_deps.image_id),
            "BUILD_SUPPORT_PACKAGES": packages,
            "BUILD_SUPPORT_USER": s.user,
        }
        labels = {
            REVISION_LABEL: self.ctx.sha,
            "org.opencontainers.image.version": version,
            **({"org.opencontainers.image.source": s.source_url} if s.source_url else {}),
            "org.opencontainers.image.title": s.image_name,
            "io.build-support.python": job.python,
            "io.build-support.flavor": job.flavor,
        }
        result = self._build(
            s.image_name,
            job,
            context=context,
            build_args=build_args,
            labels=labels,
            base_id=base_deps.image_id,
        )
        result.extra["version"] = version
        return result

    def _build(
        self,
        name: str,
        job: Job,
        *,
        context: BuildContext,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        base_id: str,
        before_build: Callable[[], None] | None = None,
    ) -> Result:
        return _ensure_built(
            self.client,
            client_path=self.client_path,
            name=name,
            refs=self.refs(name, job.tags),
            context=context,
            build_args=build_args,
            labels=labels,
            base_id=base_id,
            platform=platforms.DOCKER_PLATFORMS[job.arch],
            force=self.force,
            settings=self.settings,
            workdir=self.workdir,
            before_build=before_build,
        )

    def run(self, job: Job) -> list[Result]:
        s = self.settings
        requested = self.base_override or (s.cpu_base if job.flavor == "cpu" else s.gpu_base)
        platform = platforms.DOCKER_PLATFORMS[job.arch]
        mirror = self.cfg.section("rootfs", rootfs.RootfsSettings).mirror
        # The no-change path: the base as the engine has it now (no pull, no stand-in
        # made), then one digest lookup. Anything else resolves the base properly.
        quick = None
        if not (self.force or self.pull):
            quick = quick_base(
                self.client, requested, arch=job.arch, settings=s, flavor=job.flavor,
                debian_mirror=mirror,
            )  # fmt: skip
        reused = self.reuse_base_deps(job, quick) if quick is not None else None
        if quick is not None and reused is not None:
            base, deps = quick, reused
        else:
            base = resolve_base(
                self.client, requested, arch=job.arch, settings=s, flavor=job.flavor,
                debian_mirror=mirror, pull=self.pull,
            )  # fmt: skip
            resolved = base

            def check_python() -> None:  # only before building base-deps on this base
                if s.python_install == "none":
                    check_base_python(self.client, resolved, job.python, platform)

            # base-deps needs no wheel (a build of it is kept for the next run); the
            # wheels are fetched before the product image's build.
            deps = self.base_deps(job, base, check_python)
        wheels = self.fetch(job)
        product = self.product(job, deps, wheels)
        freeze = self.cfg.path("dist") / "images" / f"{s.image_name}-{job.tags[0]}.pip-freeze.txt"
        if product.built or not freeze.is_file():
            smoke_test(
                self.client,
                product.image_id,
                module=s.smoke_module,
                expected_commit=self.ctx.sha,
                platform=platform,
            )
            check_revision_label(self.client, product.image_id, self.ctx.sha)
            copy_out(self.client, product.image_id, f"/home/{s.user}/pip-freeze.txt", freeze)
        else:
            # Smoke-run when these inputs were built; its own label (as the digest lookup
            # inspected it) must still name this commit.
            found = product.labels.get(REVISION_LABEL)
            if found != self.ctx.sha:
                raise VerificationError(
                    f"image {product.image_id[:19]} has label {REVISION_LABEL}={found!r}, "
                    f"expected {self.ctx.sha}",
                    hint="rebuild the image from this commit: nox -s images -- --force",
                )
            log.info(f"{s.image_name}: reused; {REVISION_LABEL} = {found}; smoke run skipped")
        product.extra["pip_freeze"] = str(freeze)
        for r in (deps, product):
            r.extra.update(python=job.python, flavor=job.flavor, arch=job.arch)
            r.extra["base"] = base.requested
            if base.standin:
                r.extra["base_standin"] = base.ref
        return [deps, product]


# --- the command line -------------------------------------------------------------------------


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
    flavor: imagetags.Flavor = args.flavor
    ctx = commits.context(cfg.root)
    date = today or dt.datetime.now(dt.timezone.utc).date()
    cuda = settings.cuda() if flavor == "gpu" else ""
    jobs = [
        Job(
            python=v,
            flavor=flavor,
            arch=arch,
            tags=tuple(
                imagetags.image_tags(
                    imagetags.TagInputs(
                        branch=ctx.branch,
                        sha=ctx.sha,
                        pr_number=ctx.pr_number,
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
    client_path = settings.docker_cli or provision.docker_client()
    if arch != "x86_64" and rootfs.needs_emulation(arch):
        rootfs.ensure_binfmt(arch)
    summary = log.Summary("images", headers=("image", "result", "tags", "time"))
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="build-support-images.") as tmp:
        stage = Stage(
            cfg=cfg,
            settings=settings,
            client=client,
            client_path=client_path,
            ctx=ctx,
            force=args.force,
            base_override=args.base,
            workdir=Path(tmp),
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
