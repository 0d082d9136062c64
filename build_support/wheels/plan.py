"""Everything decided before any build starts, so bad input fails fast: the targets
(native or in a container), the interpreters, the jobs with their input digests."""

from __future__ import annotations

import argparse
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from build_support import (
    commits,
    inputcache,
    log,
    platforms,
    pythons,
    reproducible,
    toolvenv,
    wheelfile,
)
from build_support.config import PythonVersion
from build_support.containers import engine
from build_support.errors import InterpreterNotFoundError, PlatformError, UsageError
from build_support.wheels import buildimage
from build_support.wheels.projects import Project, load_projects
from build_support.wheels.settings import WheelSettings

Mode = Literal["native", "container"]

#: Build images used when ``images`` in the config names none for a platform.
DEFAULT_IMAGES: Mapping[str, str] = types.MappingProxyType(
    {
        "manylinux2014_x86_64": "quay.io/pypa/manylinux2014_x86_64",
        "manylinux2014_aarch64": "quay.io/pypa/manylinux2014_aarch64",
    }
)


@dataclass(frozen=True)
class NativeTarget:
    """A platform this host builds itself (with the host's interpreters)."""

    platform: str
    arch: platforms.Arch
    mode: ClassVar[Mode] = "native"
    image: ClassVar[None] = None


@dataclass(frozen=True)
class ContainerTarget:
    """A platform built in a container of ``image`` (under QEMU for a foreign arch)."""

    platform: str
    arch: platforms.Arch
    image: str
    mode: ClassVar[Mode] = "container"


Target = NativeTarget | ContainerTarget


def build_mode(
    platform: str, host: platforms.Host, *, image: str | None, native: bool = True
) -> Mode:
    """How ``platform`` is built on ``host``: natively, in a container, or refused."""
    target_os, target_arch = platforms.parse_platform_tag(platform)
    where = f"{host.system}-{host.machine}"
    if target_os == "darwin":
        if host.system == "Darwin" and host.arch == target_arch:
            return "native"
        raise PlatformError(
            f"{platform} wheels can only be built on a macOS arm64 host (Darwin-arm64, "
            f"e.g. GitHub's macos-14 runner); this host is {where}",
            hint=f"run `nox -s wheel -- {platform}` on an Apple-silicon Mac, "
            "where delocate repairs the wheel",
        )
    if native and host.system == "Linux" and host.arch == target_arch:
        return "native"
    if image:
        return "container"
    raise PlatformError(
        f"{platform} cannot be built natively on {where} and no build image is configured",
        hint=f"set [tool.build_support.wheel] images.{platform} = IMAGE "
        f"or pass --image {platform}=IMAGE",
    )


def parse_image_overrides(values: Sequence[str]) -> dict[str, str]:
    """``PLATFORM=IMAGE`` arguments → mapping, validating the platform tag."""
    out: dict[str, str] = {}
    for value in values:
        plat, sep, ref = value.partition("=")
        if not sep or not ref:
            raise UsageError(
                f"--image {value!r} is not PLATFORM=IMAGE",
                hint="e.g. --image manylinux2014_aarch64=rootfs:bookworm",
            )
        platforms.parse_platform_tag(plat)
        out[plat] = ref
    return out


@dataclass(frozen=True)
class Job:
    project: Project
    target: Target
    python: str
    full_version: str
    interpreter: str  # host path, or the path inside the image
    digest: str

    @property
    def label(self) -> str:
        return f"{self.project.rel} {PythonVersion(self.python).cp_tag} {self.target.platform}"


@dataclass
class Built:
    job: Job
    wheel: Path
    seconds: float
    cached: bool
    reported_commit: str | None = None
    sha256: str = ""
    size: int = 0
    store_key: str = ""
    cleanup: Path | None = None
    #: The wheel as the build backend wrote it, before repair (fresh builds only).
    raw: Path | None = None


def plan_targets(
    requested: Sequence[str],
    settings: WheelSettings,
    overrides: Mapping[str, str],
    host: platforms.Host,
    *,
    force_container: bool,
) -> list[Target]:
    targets: list[Target] = []
    for plat in dict.fromkeys(requested):
        _os, arch = platforms.parse_platform_tag(plat)
        image = overrides.get(plat) or settings.images.get(plat) or DEFAULT_IMAGES.get(plat)
        mode = build_mode(plat, host, image=image, native=settings.native and not force_container)
        # build_mode says "container" only when there is an image
        target: Target = (
            ContainerTarget(plat, arch, image)
            if mode == "container" and image
            else NativeTarget(plat, arch)
        )
        targets.append(target)
    return targets


@dataclass(frozen=True)
class Plan:
    """Everything decided before any build starts (so bad input fails fast)."""

    ctx: commits.BuildContext
    jobs: tuple[Job, ...]
    #: The wheelhouse each container target installs its build tools from.
    houses: Mapping[tuple[str, str], Path]
    uv: str | None
    #: SOURCE_DATE_EPOCH of every build: the commit's time (reproducible.source_date_epoch).
    epoch: int = reproducible.ZIP_EPOCH


def _interpreters(
    target: Target,
    versions: Sequence[str],
    *,
    explicit: bool,
    search_paths: Sequence[str],
    debian_mirror: str,
    settings: WheelSettings,
    host: platforms.Host,
) -> tuple[Target, dict[str, tuple[str, str]]]:
    """The target (its image made local) and ``{X.Y: (full version, interpreter path)}``."""
    if isinstance(target, NativeTarget):
        found = pythons.require(versions, extra=search_paths)
        return target, {v: (i.full_version, str(i.path)) for v, i in found.items()}
    from build_support.containers import rootfs

    engine.ensure_docker()
    if platforms.needs_emulation(target.arch, host.machine):
        rootfs.ensure_binfmt(target.arch)
    image = buildimage.resolve_image(
        target.image, target.arch, settings, debian_mirror=debian_mirror
    )
    target = ContainerTarget(target.platform, target.arch, image)
    in_image = buildimage.probe_image(image, target.arch)
    missing = [v for v in versions if v not in in_image]
    have = ", ".join(sorted(in_image)) or "none"
    if missing and explicit:
        raise InterpreterNotFoundError(
            f"the build image {image} for {target.platform} has no Python "
            f"{', '.join(missing)} (it has: {have})",
            hint="use a manylinux image (quay.io/pypa/manylinux2014_*), which has "
            "every CPython, or ask for --python " + (sorted(in_image) or ["X.Y"])[0],
        )
    for v in missing:
        log.warn(f"{target.platform}: image {image} has no Python {v} (has: {have}); skipping it")
    available = {v: in_image[v] for v in versions if v in in_image}
    if not available:
        raise InterpreterNotFoundError(
            f"the build image {image} has none of Python {', '.join(versions)}"
        )
    return target, available


def plan(
    args: argparse.Namespace,
    settings: WheelSettings,
    *,
    root: Path,
    versions: Sequence[str],
    search_paths: Sequence[str] = (),
    debian_mirror: str = "",
) -> Plan:
    """Targets, interpreters, images, projects and input digests: every job to run.

    ``versions`` are the configured Pythons (``--python`` picks among any), ``search_paths``
    where else interpreters are looked for, ``debian_mirror`` the rootfs mirror.
    """
    host = platforms.current_host()
    requested = args.platforms or [platforms.host_wheel_platform(host)]
    targets = plan_targets(
        requested, settings, parse_image_overrides(args.image), host, force_container=args.container
    )
    wanted = list(dict.fromkeys(args.python or versions))
    ctx = commits.context(root)
    projects = load_projects(root, settings)
    if args.release:
        commits.require_clean(root)
    uv = toolvenv.find_uv() if settings.installer != "pip" else None
    if settings.installer == "uv" and uv is None:
        raise UsageError(
            "[tool.build_support.wheel] installer = 'uv' but uv is not installed",
            hint="pip install uv, or set installer = 'auto'",
        )
    jobs: list[Job] = []
    houses: dict[tuple[str, str], Path] = {}
    for planned in targets:
        target, available = _interpreters(
            planned,
            wanted,
            explicit=bool(args.python),
            search_paths=search_paths,
            debian_mirror=debian_mirror,
            settings=settings,
            host=host,
        )
        for v, (full, path) in available.items():
            for project in projects:
                facts = {
                    "python": full,
                    "platform": target.platform,
                    "mode": target.mode,
                    "image": target.image or "",
                    "build_requires": sorted(project.requires),
                    "tools": sorted(settings.tool_requirements),
                    "commit": ctx.sha,
                    "project": project.rel,
                    "smoke": project.smoke,
                    "stamp": [
                        project.stamp.into,
                        list(project.stamp.files),
                        project.stamp.placeholder,
                    ],
                    "compiled_modules": list(project.compiled),
                }
                digest = inputcache.digest(wheelfile.RECIPE_VERSION, project.hashes, facts)
                jobs.append(Job(project, target, v, full, path, digest))
            if isinstance(target, ContainerTarget):
                reqs = [*settings.tool_requirements, *(r for p in projects for r in p.requires)]
                houses[(target.platform, v)] = buildimage.build_wheelhouse(target.platform, v, reqs)
    epoch = reproducible.source_date_epoch(root, ctx.sha)
    return Plan(ctx=ctx, jobs=tuple(jobs), houses=houses, uv=uv, epoch=epoch)
