"""rootfs: mirror discovery, cache key, binfmt checks and the deterministic tarball."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from build_support import platforms, reproducible
from build_support.config import from_table
from build_support.containers import rootfs
from build_support.containers.settings import RootfsSettings
from build_support.errors import ConfigError, PlatformError, UsageError

DEB822 = """\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://deb.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_parse_deb822_sources() -> None:
    uris = rootfs.parse_sources(DEB822, deb822=True)
    assert uris == ["http://deb.example/debian", "http://deb.example/debian-security"]


def test_parse_deb822_skips_deb_src_and_disabled() -> None:
    text = (
        "Types: deb-src\nURIs: http://src.example/debian\n\n"
        "Types: deb\nEnabled: no\nURIs: http://off.example/debian\n\n"
        "Types: deb\nURIs: http://on.example/debian/\n"
    )
    assert rootfs.parse_sources(text, deb822=True) == ["http://on.example/debian/"]


def test_parse_one_line_list() -> None:
    text = (
        "# comment\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n"
    )
    assert rootfs.parse_sources(text, deb822=False) == ["http://mirror.example/debian"]


def test_find_mirror_prefers_main_archive(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://deb.example/debian-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\n"
    )
    assert rootfs.find_mirror(tmp_path) == "http://mirror.example/debian"


def test_no_apt_mirror_and_none_configured_is_a_config_error(tmp_path: Path) -> None:
    assert rootfs.find_mirror(tmp_path) is None
    (tmp_path / "sources.list").write_text("deb http://archive.example/ubuntu jammy main\n")
    with pytest.raises(ConfigError, match=r"no Debian mirror") as info:
        rootfs.resolve_mirror("", tmp_path)
    assert "[tool.build_support.rootfs] mirror" in (info.value.hint or "")


def test_configured_mirror_wins_over_apts(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text("deb http://apt.example/debian bookworm main\n")
    assert rootfs.resolve_mirror("", tmp_path) == "http://apt.example/debian"
    assert rootfs.resolve_mirror("http://own.example/debian/", tmp_path) == (
        "http://own.example/debian"
    )
    cfg = from_table({"rootfs": {"mirror": "http://own.example/debian"}}, tmp_path)
    assert cfg.section("rootfs", RootfsSettings).mirror == "http://own.example/debian"


def test_key_ignores_package_order_and_duplicates() -> None:
    a = rootfs.rootfs_key("x86_64", "bookworm", ["python3", "bash"], "http://m.example/debian")
    b = rootfs.rootfs_key(
        "x86_64", "bookworm", ["bash", "python3", "bash"], "http://m.example/debian/"
    )
    assert a == b
    assert len(a) == 64


@pytest.mark.parametrize(
    ("field", "args"),
    [
        ("arch", ("aarch64", "bookworm", ["bash"], "http://m.example/debian")),
        ("suite", ("x86_64", "trixie", ["bash"], "http://m.example/debian")),
        ("packages", ("x86_64", "bookworm", ["bash", "curl"], "http://m.example/debian")),
        ("mirror", ("x86_64", "bookworm", ["bash"], "http://other.example/debian")),
    ],
)
def test_key_changes_with_each_input(field: str, args: tuple[str, str, list[str], str]) -> None:
    base = rootfs.rootfs_key("x86_64", "bookworm", ["bash"], "http://m.example/debian")
    assert rootfs.rootfs_key(*args) != base, field


def test_bad_package_names_are_rejected() -> None:
    with pytest.raises(UsageError, match="invalid Debian package name"):
        rootfs.normalize_packages(["python3", "rm -rf /"])
    with pytest.raises(UsageError, match="list of names"):
        rootfs.normalize_packages("python3")


def test_unknown_arch_is_a_platform_error() -> None:
    with pytest.raises(PlatformError, match="riscv64"):
        rootfs.ensure_image("riscv64", ["bash"])  # type: ignore[arg-type]


def test_cache_root_from_env(tmp_path: Path) -> None:
    assert rootfs.rootfs_cache_dir({"BUILD_SUPPORT_CACHE": str(tmp_path)}) == tmp_path / "rootfs"
    assert rootfs.cache_root({}) == Path.home() / ".cache" / "build-support"


def test_default_tag_is_stable() -> None:
    key = "ab" * 32
    assert rootfs.default_tag("aarch64", "bookworm", key) == (
        "build-support/rootfs:bookworm-aarch64-abababababab"
    )


@pytest.mark.parametrize(
    ("arch", "machine", "expected"),
    [
        ("x86_64", "x86_64", False),
        ("x86_64", "amd64", False),
        ("aarch64", "x86_64", True),
        ("aarch64", "arm64", False),
        ("x86_64", "aarch64", True),
    ],
)
def test_needs_emulation(arch: platforms.Arch, machine: str, *, expected: bool) -> None:
    assert platforms.needs_emulation(arch, machine) is expected


def test_binfmt_status(tmp_path: Path) -> None:
    assert "not mounted" in str(rootfs.binfmt_status("aarch64", tmp_path))
    (tmp_path / "status").write_text("enabled\n")
    assert "no binfmt handler" in str(rootfs.binfmt_status("aarch64", tmp_path))
    entry = tmp_path / "qemu-aarch64"
    entry.write_text("disabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n")
    assert "disabled" in str(rootfs.binfmt_status("aarch64", tmp_path))
    entry.write_text("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n")
    assert rootfs.binfmt_status("aarch64", tmp_path) is None


def _tree(root: Path) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text("ID=debian\n")
    (root / "usr" / "bin").mkdir(parents=True)
    exe = root / "usr" / "bin" / "tool"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    os.link(exe, root / "usr" / "bin" / "tool-alias")
    (root / "bin").symlink_to("usr/bin")
    for volatile in ("var/log", "tmp", "proc", "var/lib/apt/lists"):
        (root / volatile).mkdir(parents=True)
    (root / "var" / "log" / "dpkg.log").write_text("installed at some time\n")
    (root / "var" / "lib" / "apt" / "lists" / "index").write_text("x")
    return root


def _tar_bytes(root: Path) -> bytes:
    buf = io.BytesIO()
    rootfs.write_tarball(root, buf)
    return buf.getvalue()


def test_tarball_is_deterministic_and_sorted(tmp_path: Path) -> None:
    root = _tree(tmp_path / "a")
    first = _tar_bytes(root)
    os.utime(root / "etc" / "os-release", (12345, 12345))
    assert _tar_bytes(root) == first
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == [
        "bin",
        "etc",
        "etc/os-release",
        "proc",
        "tmp",
        "usr",
        "usr/bin",
        "usr/bin/tool",
        "usr/bin/tool-alias",
        "var",
        "var/lib",
        "var/lib/apt",
        "var/lib/apt/lists",
        "var/log",
    ]
    by_name = {m.name: m for m in members}
    assert all(m.mtime == reproducible.FIXED_MTIME for m in members)
    assert by_name["bin"].issym()
    assert by_name["bin"].linkname == "usr/bin"
    assert by_name["usr/bin/tool-alias"].islnk()
    assert by_name["usr/bin/tool"].mode & 0o777 == 0o755
    assert all(m.uname == "" and m.gname == "" for m in members)


def test_tarball_content_change_changes_bytes(tmp_path: Path) -> None:
    root = _tree(tmp_path / "a")
    first = _tar_bytes(root)
    (root / "etc" / "os-release").write_text("ID=ubuntu\n")
    assert _tar_bytes(root) != first
