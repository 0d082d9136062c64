"""One image pair per job: base-deps on the resolved base, then the product image on it.

Each build is reused when an image carries its input digest label (one lookup), else
built with BuildKit; the product image is smoke-run (non-root, the commit it imports)
and its revision label checked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from build_support import commits, fsutil, inputcache, lockfile, log, platforms, wheelfile
from build_support import store as store_mod
from build_support.containers.context import DIGEST_LABEL, BuildContext, input_digest
from build_support.containers.engine import (
    ImageSummary,
    check_buildkit_once,
    copy_out,
    docker_build,
    find_by_digest,
    pinned_name,
    pinned_ref,
    smoke_test,
    tag_image,
)
from build_support.errors import VerificationError
from build_support.images.base import Base, check_base_python, quick_base, resolve_base
from build_support.images.inputs import ensure_wheelhouse, fetch_wheels, read_dockerfile
from build_support.images.settings import ImagesSettings
from build_support.images.tags import Flavor
from build_support.manifests import REVISION_LABEL

BASE_LABEL = "io.build-support.base-image"

STANDIN_LABEL = "io.build-support.base-standin"


@dataclass(frozen=True, kw_only=True)
class Job:
    python: str
    flavor: Flavor
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
    """One run of the stage: its settings, where things are, the engine, the options."""

    settings: ImagesSettings
    client: Any
    client_path: str
    ctx: commits.BuildContext
    force: bool
    base_override: str | None
    workdir: Path
    #: ``paths.requirements`` (the lockfiles), ``paths.docker`` and ``dist/``
    requirements: Path
    docker_dir: Path
    dist: Path
    #: The artifact store the product's wheels come from, and its URL for messages.
    store: store_mod.Store
    store_location: str
    #: ``[tool.build_support.rootfs] mirror`` ("" = apt's on this host)
    debian_mirror: str = ""
    pull: bool = False

    def refs(self, name: str, tags: Sequence[str]) -> list[str]:
        return [f"{self.settings.namespace}/{name}:{t}" for t in tags]

    def _base_deps_inputs(
        self, job: Job, base: Base
    ) -> tuple[BuildContext, dict[str, str], dict[str, str], Path]:
        s = self.settings
        lock = lockfile.require(self.requirements, job.python)
        house = ensure_wheelhouse(lock, job.python, job.arch, s)
        context = BuildContext()
        context.add(
            "Dockerfile",
            read_dockerfile(self.docker_dir, s.base_deps_dockerfile or s.base_deps_name),
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
            self.store,
            ctx=self.ctx,
            python=job.python,
            arch=job.arch,
            dists=self.settings.wheels,
            dest=whl_dir,
            location=self.store_location,
        )

    def product(self, job: Job, base_deps: Result, wheels: Sequence[Path]) -> Result:
        s = self.settings
        lock = lockfile.require(self.requirements, job.python)
        context = BuildContext()
        context.add(
            "Dockerfile", read_dockerfile(self.docker_dir, s.image_dockerfile or s.image_name)
        )
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
        mirror = self.debian_mirror
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
        freeze = self.dist / "images" / f"{s.image_name}-{job.tags[0]}.pip-freeze.txt"
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
