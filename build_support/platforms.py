"""Host detection and the platform-tag table, as pure functions over ``uname`` values."""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass
from typing import Literal

from build_support.errors import PlatformError

Arch = Literal["x86_64", "aarch64"]
OS = Literal["linux", "darwin"]

#: ``uname -m`` spellings → canonical architecture.
ARCH_ALIASES: dict[str, Arch] = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
}

#: (``uname -s``, canonical arch) → wheel platform tag.
PLATFORM_TABLE: dict[tuple[str, Arch], str] = {
    ("Linux", "x86_64"): "manylinux2014_x86_64",
    ("Linux", "aarch64"): "manylinux2014_aarch64",
    ("Darwin", "aarch64"): "macosx_12_0_arm64",
}

#: The reverse: wheel platform tag → (os, arch) of the host that builds it natively.
TAG_TARGETS: dict[str, tuple[OS, Arch]] = {
    "manylinux2014_x86_64": ("linux", "x86_64"),
    "manylinux2014_aarch64": ("linux", "aarch64"),
    "macosx_12_0_arm64": ("darwin", "aarch64"),
}

#: The operating systems a JAR's natives and its store key may name, and the name of the
#: repacked JAR that carries every platform's natives.
JAR_OSES: tuple[str, ...] = ("linux", "darwin", "windows")
MULTIPLATFORM = "multiplatform"

#: Docker platform strings for Linux architectures.
DOCKER_PLATFORMS: dict[Arch, str] = {"x86_64": "linux/amd64", "aarch64": "linux/arm64"}

#: Debian's names for the architectures (debootstrap ``--arch``).
DEBIAN_ARCH: dict[Arch, str] = {"x86_64": "amd64", "aarch64": "arm64"}


@dataclass(frozen=True)
class Host:
    system: str
    machine: str

    @property
    def arch(self) -> Arch:
        return canonical_arch(self.machine)

    @property
    def os(self) -> OS:
        if self.system == "Linux":
            return "linux"
        if self.system == "Darwin":
            return "darwin"
        raise PlatformError(f"unsupported host operating system {self.system!r}")


def current_host() -> Host:
    """This machine's ``uname -s`` and ``uname -m``."""
    u = _platform.uname()
    return Host(system=u.system, machine=u.machine)


def canonical_arch(machine: str) -> Arch:
    try:
        return ARCH_ALIASES[machine]
    except KeyError:
        raise PlatformError(
            f"unsupported architecture {machine!r}",
            hint="supported: " + ", ".join(sorted(ARCH_ALIASES)),
        ) from None


def needs_emulation(arch: Arch, host_machine: str) -> bool:
    """Whether binaries of ``arch`` need QEMU on a host whose ``uname -m`` is ``host_machine``."""
    return ARCH_ALIASES.get(host_machine.lower()) != arch


def wheel_platform(system: str, machine: str, *, macos_target: str = "12_0") -> str:
    """The wheel platform tag built natively on a host with this ``uname``."""
    arch = ARCH_ALIASES.get(machine)
    tag = PLATFORM_TABLE.get((system, arch)) if arch else None
    if tag is None:
        supported = ", ".join(
            f"{s}-{m}"
            for m, a in sorted(ARCH_ALIASES.items())
            for (s, aa) in PLATFORM_TABLE
            if aa == a
        )
        raise PlatformError(
            f"unsupported platform {system}-{machine}",
            hint=f"supported hosts (uname -s, uname -m): {supported}",
        )
    if tag.startswith("macosx_"):
        tag = f"macosx_{macos_target}_arm64"
    return tag


def parse_platform_tag(tag: str) -> tuple[OS, Arch]:
    """The (os, arch) a wheel platform tag targets, or an error naming the supported set."""
    if tag.startswith("macosx_") and tag.endswith("_arm64"):
        return ("darwin", "aarch64")
    try:
        return TAG_TARGETS[tag]
    except KeyError:
        raise PlatformError(
            f"unknown platform tag {tag!r}",
            hint="supported: " + ", ".join(TAG_TARGETS),
        ) from None


def host_wheel_platform(host: Host | None = None) -> str:
    host = host or current_host()
    return wheel_platform(host.system, host.machine)
