"""The base image an image build starts from: present, pulled, or (``base_fallback =
"local"``) a Debian root filesystem made with debootstrap standing in for it, loudly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from build_support import imagetags, log, platforms, rootfs
from build_support.dockerengine import run_removed, sdk, tag_image
from build_support.errors import DockerError
from build_support.settings import ImagesSettings

LOCAL_BASE = "local"


@dataclass(frozen=True)
class Base:
    requested: str
    ref: str
    image_id: str
    standin: bool


def _image_arch(image: Any) -> str:
    return str(image.attrs.get("Architecture", ""))


def resolve_base(
    client: Any,
    requested: str,
    *,
    arch: platforms.Arch,
    settings: ImagesSettings,
    flavor: imagetags.Flavor,
    debian_mirror: str = "",
) -> Base:
    """The base image to build on: present, pulled, or (fallback) a local Debian stand-in.

    ``debian_mirror`` is ``[tool.build_support.rootfs] mirror`` ("" = apt's on this host).
    """
    docker = sdk()

    docker_arch = platforms.DOCKER_PLATFORMS[arch].split("/")[1]
    reason = ""
    if requested != LOCAL_BASE:
        try:
            image = client.images.get(requested)
        except docker.errors.ImageNotFound:
            image = None
        if image is not None and _image_arch(image) == docker_arch:
            return Base(requested, requested, str(image.id), standin=False)
        if image is not None:
            reason = f"the local {requested} is {_image_arch(image)}, not {docker_arch}"
        try:
            log.step(f"pulling base image {requested} ({platforms.DOCKER_PLATFORMS[arch]})")
            pulled = client.images.pull(requested, platform=platforms.DOCKER_PLATFORMS[arch])
            return Base(requested, requested, str(pulled.id), standin=False)
        except (docker.errors.APIError, docker.errors.DockerException) as exc:
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
    ref = rootfs.ensure_image(
        arch, settings.local_base_packages, suite=settings.local_base_suite, mirror=debian_mirror
    )
    if flavor == "gpu":
        # The stand-in gets a name that says what it stands in for.
        name = re.sub(r"[^a-z0-9_.-]+", "-", requested.lower()).strip("-.") or "gpu"
        standin_ref = f"build-support/standin-base:{name}"[:128]
        tag_image(client.images.get(ref), [standin_ref])
        ref = standin_ref
    return Base(requested, ref, str(client.images.get(ref).id), standin=True)


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
