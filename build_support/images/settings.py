"""``[tool.build_support.images]`` (light: loaded with the config; standard library and
build_support's light modules only)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from build_support.config import PythonVersion, require
from build_support.errors import ConfigError
from build_support.images import tags

PY311 = PythonVersion("3.11")


@dataclass(frozen=True, kw_only=True)
class ImagesSettings:
    """``[tool.build_support.images]``."""

    #: Images are ``{namespace}/{base_deps_name}:{tag}`` and ``{namespace}/{image_name}:{tag}``
    #: (namespace and image_name are required by the stage).
    namespace: str = ""
    base_deps_name: str = "base-deps"
    image_name: str = ""
    #: The folders under ``paths.docker`` holding each image's Dockerfile; "": the image's
    #: name (``docker/<base_deps_name>/``, ``docker/<image_name>/``). The build arguments
    #: are ``BUILD_SUPPORT_USER``/``_UID``/``_GID`` (base-deps) and ``BUILD_SUPPORT_PACKAGES``,
    #: ``BUILD_SUPPORT_USER`` (the product image); docs/images.md.
    base_deps_dockerfile: str = ""
    image_dockerfile: str = ""
    #: Python versions built when no ``--python`` is given.
    python_versions: tuple[PythonVersion, ...] = (PY311,)
    #: The Python that also gets tags without a python part.
    default_python: PythonVersion = PY311
    cpu_base: str = "ubuntu:22.04"
    gpu_base: str = "nvidia/cuda:12.8.1-cudnn-devel-ubuntu22.04"
    #: CUDA version of ``gpu_base`` for the tag; empty: read from the ``gpu_base`` tag.
    cuda_version: str = ""
    #: The GPU platform that also gets the ``-gpu`` alias (Ray's GPU_PLATFORM).
    gpu_alias_cuda: str = "12.8.1-cudnn"
    #: When the base image is absent and cannot be pulled: ``local`` builds a Debian
    #: stand-in with debootstrap (loudly), ``error`` stops.
    base_fallback: Literal["local", "error"] = "local"
    local_base_suite: str = "bookworm"
    local_base_packages: tuple[str, ...] = (
        "python3",
        "python3-venv",
        "python3-pip",
        "ca-certificates",
    )
    #: ``none``: the base must ship the Python (offline build); ``apt``: install it.
    python_install: Literal["none", "apt"] = "none"
    #: The non-root user the images run as.
    user: str = "app"
    uid: int = 1000
    gid: int = 100
    #: ``org.opencontainers.image.source`` ("": no such label).
    source_url: str = ""
    #: The distributions installed into the product image, from the artifact store
    #: (required by the stage).
    wheels: tuple[str, ...] = ()
    #: The module whose ``__commit__`` the smoke run checks (required by the stage).
    smoke_module: str = ""
    #: Extra ``pip download --platform`` values; ``{arch}`` is replaced.
    wheelhouse_platforms: tuple[str, ...] = ("manylinux2014_{arch}", "manylinux_2_28_{arch}")
    #: The Docker CLI that builds; empty: Debian's /usr/bin/docker.
    docker_cli: str = ""
    engine_timeout_seconds: float = 20.0
    pull_timeout_seconds: float = 300.0
    build_timeout_seconds: float = 3600.0

    def __post_init__(self) -> None:
        where = "tool.build_support.images"
        if self.namespace and not re.fullmatch(r"[a-z0-9]+(?:[._/-][a-z0-9]+)*", self.namespace):
            raise ConfigError(f"{where}.namespace = {self.namespace!r} is not a valid repository")
        if not re.fullmatch(r"[a-z_][a-z0-9_-]*", self.user):
            raise ConfigError(f"{where}.user = {self.user!r} is not a valid user name")

    def require_product(self) -> None:
        """The stage's names of the project are set (they have no default)."""
        require(
            "tool.build_support.images",
            self,
            "namespace",
            "image_name",
            "wheels",
            "smoke_module",
            example='namespace = "myorg", image_name = "myproj", wheels = ["myproj"], '
            'smoke_module = "myproj"',
        )

    def cuda(self) -> str:
        found = self.cuda_version or tags.cuda_from_image(self.gpu_base)
        if not found:
            raise ConfigError(
                f"cannot read the CUDA version from gpu_base = {self.gpu_base!r}",
                hint="set [tool.build_support.images] cuda_version, e.g. '12.8.1-cudnn'",
            )
        return found
