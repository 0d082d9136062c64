from __future__ import annotations

import pytest

from build_support import platforms
from build_support.errors import PlatformError


@pytest.mark.parametrize(
    ("system", "machine", "tag"),
    [
        ("Darwin", "arm64", "macosx_12_0_arm64"),
        ("Linux", "x86_64", "manylinux2014_x86_64"),
        ("Linux", "amd64", "manylinux2014_x86_64"),
        ("Linux", "aarch64", "manylinux2014_aarch64"),
        ("Linux", "arm64", "manylinux2014_aarch64"),
    ],
)
def test_every_row_of_the_table(system: str, machine: str, tag: str) -> None:
    assert platforms.wheel_platform(system, machine) == tag


@pytest.mark.parametrize(
    ("system", "machine"),
    [("Darwin", "x86_64"), ("Windows", "AMD64"), ("Linux", "riscv64"), ("Linux", "i686")],
)
def test_unsupported_hosts_name_the_supported_set(system: str, machine: str) -> None:
    with pytest.raises(PlatformError) as exc:
        platforms.wheel_platform(system, machine)
    assert f"{system}-{machine}" in str(exc.value)
    assert "Linux-x86_64" in str(exc.value)
    assert "Darwin-arm64" in str(exc.value)


def test_macos_deployment_target_is_configurable() -> None:
    assert platforms.wheel_platform("Darwin", "arm64", macos_target="14_0") == "macosx_14_0_arm64"


def test_parse_platform_tag() -> None:
    assert platforms.parse_platform_tag("manylinux2014_aarch64") == ("linux", "aarch64")
    assert platforms.parse_platform_tag("macosx_14_0_arm64") == ("darwin", "aarch64")
    with pytest.raises(PlatformError, match="manylinux2014_x86_64"):
        platforms.parse_platform_tag("musllinux_1_2_x86_64")


def test_host_properties() -> None:
    host = platforms.Host(system="Linux", machine="arm64")
    assert (host.os, host.arch) == ("linux", "aarch64")
    assert platforms.host_wheel_platform(host) == "manylinux2014_aarch64"
