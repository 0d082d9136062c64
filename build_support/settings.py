"""The settings of every stage: one frozen dataclass per ``[tool.build_support.<name>]``.

:data:`build_support.config.SECTIONS` maps each section name to its class; the config
validates every section when it loads (a typo in ``[tool.build_support.jars]`` fails
before the pipeline runs its first step). This module is imported at config load, by the
noxfile too, so it imports only the standard library and build_support's light modules
(never a stage module, boto3, docker, yaml, …); ``tests/unit/test_config.py`` checks it.
The stage modules re-export their class (``locks.LockSettings`` is this ``LockSettings``).

Numbers are checked by the config reader (finite, >= 0); ``__post_init__`` checks what
the types cannot say.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from build_support import imagetags
from build_support.config import PythonVersion, require
from build_support.errors import ConfigError
from build_support.releasetests.exitcodes import DEFAULT_RETRY_CODES

PY311 = PythonVersion("3.11")


@dataclass(frozen=True, kw_only=True)
class StoreSettings:
    """``[tool.build_support.store]``."""

    #: The fewest attempts a failing request gets (even when each one is slow).
    retry_attempts: int = 5
    #: How long transient faults are retried: a shorter outage is ridden out.
    retry_total_seconds: float = 120.0
    wait_timeout_seconds: float = 7200.0
    wait_interval_seconds: float = 30.0
    #: S3-compatible endpoint; ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL`` override it.
    endpoint_url: str = ""
    region: str = ""
    multipart_threshold_mb: int = 64
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 60.0

    def __post_init__(self) -> None:
        where = "tool.build_support.store"
        if self.retry_attempts < 1:
            raise ConfigError(f"{where}.retry_attempts = {self.retry_attempts} must be >= 1")
        if self.multipart_threshold_mb < 5:
            raise ConfigError(
                f"{where}.multipart_threshold_mb = {self.multipart_threshold_mb} is below "
                "S3's minimum part size",
                hint="use 5 or more",
            )
        for name in (
            "retry_total_seconds",
            "wait_timeout_seconds",
            "wait_interval_seconds",
            "connect_timeout_seconds",
            "read_timeout_seconds",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(
                    f"{where}.{name} = {value} must be a finite number > 0",
                    hint=f"fix {where}.{name} in pyproject.toml",
                )


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
        found = self.cuda_version or imagetags.cuda_from_image(self.gpu_base)
        if not found:
            raise ConfigError(
                f"cannot read the CUDA version from gpu_base = {self.gpu_base!r}",
                hint="set [tool.build_support.images] cuda_version, e.g. '12.8.1-cudnn'",
            )
        return found


@dataclass(frozen=True, kw_only=True)
class ReleaseTestsSettings:
    """``[tool.build_support.release_tests]``."""

    #: Python for tests without ``python:``; unset means the first configured version.
    python: PythonVersion | None = None
    #: The distribution whose wheel is tested, and the package that carries ``_version.py``
    #: (both required by the stage).
    distribution: str = ""
    package: str = ""
    #: The image the images stage builds (``--in-image``), found in ``dist/images/images.json``;
    #: "": ``[tool.build_support.images] image_name``.
    image_name: str = ""
    retry_codes: tuple[int, ...] = DEFAULT_RETRY_CODES
    max_retries: int = 1
    backoff_min_seconds: float = 1800.0
    backoff_max_seconds: float = 5400.0
    #: A failed run within this many seconds exits 79 so CI retries it.
    time_limit_seconds: float = 10800.0
    #: Seconds between SIGTERM and SIGKILL for a test's process group.
    kill_grace_seconds: float = 10.0
    results_dir: str = "results/release-tests"
    #: Variables of the runner's environment every test receives, besides the built-in
    #: allowlist (fnmatch patterns); a test names anything else in its ``env``.
    env_passthrough: tuple[str, ...] = ()
    venv_cache: str = ".cache/release-tests"
