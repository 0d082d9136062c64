"""A container target's build image: made locally (``rootfs:<suite>``), present, or
pulled; the Pythons it has; and the wheelhouse its offline build installs tools from."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

from build_support import cmd, log, platforms, procs, wheelhouse
from build_support.config import PythonVersion
from build_support.containers import engine
from build_support.errors import CommandFailedError, DockerError
from build_support.wheels.settings import WheelSettings

#: Images made locally by :mod:`build_support.containers.rootfs`: ``rootfs:<debian suite>``.
ROOTFS_PREFIX = "rootfs:"


def parse_probe(text: str) -> dict[str, tuple[str, str]]:
    """``{"3.11": ("3.11.2", "/usr/bin/python3")}`` from the image probe's output lines."""
    found: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2 or parts[0].count(".") != 2:
            continue
        full, path = parts
        short = ".".join(full.split(".")[:2])
        found.setdefault(short, (full, path))
    return found


def build_wheelhouse(platform: str, version: str, requirements: Sequence[str]) -> Path:
    """Binary wheels of ``requirements`` for ``platform``/CPython ``version`` (cached)."""
    return wheelhouse.ensure(
        sorted(set(requirements)),
        platforms=[platform],
        python=version,
        name=f"{platform}-{PythonVersion(version).cp_tag}",
        hint="the build container installs from this wheelhouse; the index pip is "
        "configured with (pip.conf, PIP_INDEX_URL; see docs/wheel.md) must be reachable "
        "from the host",
        timeout=1800,
    )


def resolve_image(
    ref: str, arch: platforms.Arch, settings: WheelSettings, *, debian_mirror: str = ""
) -> str:
    """A local image reference for ``ref`` (made with rootfs, or present, or pulled).

    ``debian_mirror`` is ``[tool.build_support.rootfs] mirror`` ("" = apt's on this host).
    """
    docker = engine.docker_client()
    if ref.startswith(ROOTFS_PREFIX):
        from build_support.containers import rootfs

        suite = ref[len(ROOTFS_PREFIX) :] or rootfs.DEFAULT_SUITE
        return rootfs.ensure_image(
            arch, settings.container_packages, suite=suite, mirror=debian_mirror
        )
    present = cmd.run([docker, "image", "inspect", ref], capture=True, check=False, echo=False)
    if present.returncode == 0:
        return ref
    log.step(f"pulling build image {ref}")
    try:
        cmd.run(
            [docker, "pull", "--platform", platforms.DOCKER_PLATFORMS[arch], ref],
            capture=True,
            timeout=900,
        )
    except CommandFailedError as exc:
        raise DockerError(
            f"the build image {ref} is not present and could not be pulled",
            hint="on a host without registry access use a local image: "
            f"--image <platform>={ROOTFS_PREFIX}bookworm (built with debootstrap)",
        ) from exc
    return ref


def offline_run(docker: str, name: str, arch: platforms.Arch) -> list[str]:
    """``docker run`` of a named, self-removing container for ``arch``, without network."""
    platform = platforms.DOCKER_PLATFORMS[arch]
    return [docker, "run", "--rm", "--name", name, "--network", "none", "--platform", platform]


def probe_image(image: str, arch: platforms.Arch) -> dict[str, tuple[str, str]]:
    """The Pythons a build image has: manylinux's /opt/python first, then python3."""
    script = (
        "for p in /opt/python/cp3*-cp3*/bin/python python3; do "
        'command -v "$p" >/dev/null 2>&1 && "$p" -c '
        "\"import sys; print('%d.%d.%d' % sys.version_info[:3], sys.executable)\"; done; true"
    )
    docker = engine.docker_client()
    name = f"bs-probe-{uuid.uuid4().hex[:12]}"
    with procs.owned_container(docker, name):  # a timeout stops only the client
        out = cmd.output([*offline_run(docker, name, arch), image, "sh", "-c", script], timeout=600)
    return parse_probe(out)
