"""The base image an image build starts from: present, pulled, or (``base_fallback =
"local"``) a Debian root filesystem made with debootstrap standing in for it, loudly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from build_support import log, platforms
from build_support.containers import rootfs
from build_support.containers.engine import (
    ImageSummary,
    oldest_with_label,
    run_removed,
    sdk,
    tag_image,
)
from build_support.errors import DockerError
from build_support.images import tags
from build_support.images.settings import ImagesSettings

LOCAL_BASE = "local"


@dataclass(frozen=True)
class Base:
    requested: str
    ref: str
    image_id: str
    standin: bool


def _image_arch(image: Any) -> str:
    return str(image.attrs.get("Architecture", ""))


def _local(client: Any, ref: str) -> Any | None:
    """The local image ``ref`` (one inspect), or None when the engine has none."""
    docker = sdk()
    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def standin_ref(requested: str, flavor: tags.Flavor, rootfs_tag: str) -> str:
    """The name a stand-in goes by: the rootfs image's tag, or for the GPU flavor a name
    that says what it stands in for."""
    if flavor != "gpu":
        return rootfs_tag
    name = re.sub(r"[^a-z0-9_.-]+", "-", requested.lower()).strip("-.") or "gpu"
    return f"build-support/standin-base:{name}"[:128]


def quick_base(
    client: Any,
    requested: str,
    *,
    arch: platforms.Arch,
    settings: ImagesSettings,
    flavor: tags.Flavor,
    debian_mirror: str = "",
) -> Base | None:
    """The base as the engine has it now, in one or two requests, or None if that needs more.

    What :func:`resolve_base` would answer without pulling: ``requested`` when the engine
    has it for this arch (one inspect); else, with ``base_fallback = "local"``, the
    stand-in, found by its rootfs key label (one list; the key is computed offline).
    None means: resolve it properly (pull, make the stand-in), as before a build.
    """
    docker_arch = platforms.DOCKER_PLATFORMS[arch].split("/")[1]
    if requested != LOCAL_BASE:
        image = _local(client, requested)
        if image is not None:
            if _image_arch(image) == docker_arch:
                return Base(requested, requested, str(image.id), standin=False)
            return None
        if settings.base_fallback != LOCAL_BASE:
            return None
    key, tag = rootfs.identity(
        arch, settings.local_base_packages, suite=settings.local_base_suite, mirror=debian_mirror
    )
    found = oldest_with_label(client, f"{rootfs.KEY_LABEL}={key}")
    if found is None:
        return None
    return Base(requested, standin_ref(requested, flavor, tag), found.id, standin=True)


def resolve_base(
    client: Any,
    requested: str,
    *,
    arch: platforms.Arch,
    settings: ImagesSettings,
    flavor: tags.Flavor,
    debian_mirror: str = "",
    pull: bool = False,
) -> Base:
    """The base image to build on: present, pulled, or (fallback) a local Debian stand-in.

    ``pull`` tries a pull first even when the engine has the image (a moving tag, as
    ``docker build --pull``); without it only an absent base is pulled.
    ``debian_mirror`` is ``[tool.build_support.rootfs] mirror`` ("" = apt's on this host).
    """
    docker = sdk()

    platform = platforms.DOCKER_PLATFORMS[arch]
    docker_arch = platform.split("/")[1]
    reason = ""
    if requested != LOCAL_BASE:
        image = _local(client, requested)
        local_id = str(image.id) if image is not None else ""
        ok = image is not None and _image_arch(image) == docker_arch
        if ok and not pull:
            return Base(requested, requested, local_id, standin=False)
        if image is not None and not ok:
            reason = f"the local {requested} is {_image_arch(image)}, not {docker_arch}"
        try:
            log.step(f"pulling base image {requested} ({platform})")
            pulled = client.images.pull(requested, platform=platform)
            return Base(requested, requested, str(pulled.id), standin=False)
        except (docker.errors.APIError, docker.errors.DockerException) as exc:
            if ok:
                log.warn(f"could not pull {requested} ({exc}); building on the local one")
                return Base(requested, requested, local_id, standin=False)
            reason = reason or f"not present and cannot be pulled: {exc}"
        if settings.base_fallback != LOCAL_BASE:
            raise DockerError(
                f"base image {requested} is unavailable: {reason}",
                hint="pull or build it, pass --base REF, or set "
                "[tool.build_support.images] base_fallback = 'local'",
            )
        log.warn(
            f"BASE IMAGE {requested} IS UNAVAILABLE ({reason}); building on a LOCAL "
            f"Debian {settings.local_base_suite} stand-in made with debootstrap. "
            "These images are for testing, not for publishing."
        )
    rootfs_tag = rootfs.ensure_image(
        arch, settings.local_base_packages, suite=settings.local_base_suite, mirror=debian_mirror
    )
    ref = standin_ref(requested, flavor, rootfs_tag)
    image = client.images.get(rootfs_tag)
    tag_image(client, ImageSummary.of(image), [ref])
    return Base(requested, ref, str(image.id), standin=True)


def check_base_python(client: Any, base: Base, python: str, platform: str) -> None:
    """Fail early, and clearly, when the base image lacks ``python{X.Y}``."""
    docker = sdk()

    try:
        run_removed(
            client, base.image_id, ["sh", "-c", f"command -v python{python}"], platform=platform
        )
    except docker.errors.ContainerError as exc:
        what = f"{base.ref} (standing in for {base.requested})" if base.standin else base.ref
        raise DockerError(
            f"the base image {what} has no python{python}",
            hint=(
                f"build for a Python the base has (the local Debian "
                f"{'base' if base.standin else 'stand-in'} has 3.11: --python 3.11), "
                "use a base image with that Python (--base REF), or set "
                "[tool.build_support.images] python_install = 'apt' where builds reach "
                "the network"
            ),
        ) from exc
