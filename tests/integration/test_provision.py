"""Provisioning for real: a Debian root that lacks the cross compiler gets it.

A throwaway Debian bookworm root (debootstrap, cached as a tarball and an unpacked tree by
the rootfs cache) holds everything the ``jars linux`` stage needs except the cross
compiler and its C library headers. Inside it, via chroot, the stage's own provisioning
(``python3 -m build_support.provision``, the code every stage runs first) must:

1. fail at once naming exactly the two missing packages and the ``apt-get`` line;
2. as root, install them (``--no-install-recommends``) from the Debian mirror;
3. leave a cross compiler that builds minray's real JNI library for aarch64, checked by
   its ELF header, with the headers the bare compiler package lacks.

Each run works on an overlay over the cached tree, so the cache stays pristine.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from build_support import cache, cmd, config, platforms, tools
from build_support.containers import rootfs
from build_support.jars import natives, pack
from build_support.jars.layout import Platform
from build_support.jars.settings import JarsSettings

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

#: Everything `jars linux` needs on an x86_64 host, but the cross compiler.
PACKAGES = ["python3", "git", "gcc", "libc6-dev", "openjdk-17-jdk-headless", "maven"]
SUITE = "bookworm"
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEVICES = {"null": (1, 3), "zero": (1, 5), "random": (1, 8), "urandom": (1, 9)}


def _host_arch() -> platforms.Arch:
    return platforms.current_host().arch


def _cross() -> tuple[str, list[str]]:
    """The cross compiler `jars linux` needs here, and the packages that provide it."""
    needed = tools.needs("jars", ["linux"])
    cross = [t for t in needed if t.name.endswith("-linux-gnu-gcc") or "-libc-" in t.name]
    compiler = next(t.name for t in cross if t.name.endswith("-gcc"))
    return compiler, tools.debian_packages(cross)


def _tree() -> Path:
    """The cached, unpacked root (made once per machine from the cached tarball)."""
    arch = _host_arch()
    mirror = rootfs.resolve_mirror()
    key = rootfs.rootfs_key(arch, SUITE, PACKAGES, mirror)
    cache_dir = rootfs.rootfs_cache_dir()
    tree = cache_dir / f"{key}.tree"
    with cache.locked(cache_dir / f"{key}.tree.lock"):
        if (tree / ".complete").is_file():
            return tree
        tarball = rootfs.make_tarball(
            arch, SUITE, PACKAGES, mirror=mirror, cache_dir=cache_dir, key=key
        )
        partial = cache_dir / f"{key}.tree.tmp"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        cmd.run(["tar", "-x", "--numeric-owner", "-f", tarball, "-C", partial], capture=True)
        (partial / ".complete").write_text("ok\n")
        shutil.rmtree(tree, ignore_errors=True)
        partial.rename(tree)
    return tree


@pytest.fixture
def chroot(tmp_path: Path) -> Iterator[Path]:
    """An overlay over the cached root, ready for apt-get and the harness; unmounted after."""
    if os.geteuid() != 0:
        pytest.fail("needs root (chroot, mount, apt-get); CI runs as root")
    lower = _tree()
    upper, work, merged = tmp_path / "upper", tmp_path / "work", tmp_path / "root"
    for d in (upper, work, merged):
        d.mkdir()
    cmd.run(
        ["mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir={lower},upperdir={upper},workdir={work}", merged],
        capture=True,
    )  # fmt: skip
    try:
        dev = merged / "dev"
        for name, (major, minor) in DEVICES.items():
            node = dev / name
            if node.exists() or node.is_symlink():
                node.unlink()
            os.mknod(node, 0o666 | 0o020000, os.makedev(major, minor))
            node.chmod(0o666)
        shutil.copyfile("/etc/resolv.conf", merged / "etc" / "resolv.conf")
        shutil.copytree(
            ROOT / "build_support",
            merged / "opt" / "bs" / "build_support",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        yield merged
    finally:
        cmd.run(["umount", "-l", merged], capture=True, check=False)


def _in_root(root: Path, *argv: str, check: bool = True) -> tuple[int, str]:
    env = ["/usr/bin/env", "-i", f"PATH={CHROOT_PATH}", "PYTHONPATH=/opt/bs", "LANG=C.UTF-8"]
    proxy = {k: v for k, v in os.environ.items() if k.lower() in ("http_proxy", "https_proxy")}
    env += [f"{k}={v}" for k, v in proxy.items()]
    proc = cmd.run(["chroot", root, *env, *argv], capture=True, check=check, timeout=900)
    return proc.returncode, (proc.stdout or "") + (proc.stderr or "")


def test_jars_stage_installs_the_missing_cross_compiler(chroot: Path) -> None:
    compiler, packages = _cross()
    assert packages  # e.g. gcc-aarch64-linux-gnu and libc6-dev-arm64-cross
    assert not (chroot / "usr" / "bin" / compiler).exists()

    # 1. without installing: fails at once, naming exactly what is missing
    code, out = _in_root(
        chroot, "/usr/bin/env", "BUILD_SUPPORT_PROVISION=check",
        "python3", "-m", "build_support.provision", "check", "jars", "linux",
        check=False,
    )  # fmt: skip
    assert code == 3, out
    assert f"sudo {tools.apt_line(packages)}" in out

    # 2. as root: the stage's provisioning installs them
    code, out = _in_root(chroot, "python3", "-m", "build_support.provision", "install", "jars",
                         "linux")  # fmt: skip
    assert "installed: " + " ".join(packages) in out
    code, out = _in_root(chroot, "python3", "-m", "build_support.provision", "check", "jars",
                         "linux")  # fmt: skip
    assert code == 0, out

    # 3. the installed compiler builds minray's JNI library for the other architecture
    src = chroot / "opt" / "src"
    settings = config.load(ROOT).section("jars", JarsSettings)  # minray's sources
    for rel in (*settings.native_sources, *settings.native_include_dirs):
        dest = src / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / rel).is_dir():
            shutil.copytree(ROOT / rel, dest)
        else:
            shutil.copyfile(ROOT / rel, dest)
    jdk_home = next((chroot / "usr" / "lib" / "jvm").glob("java-17-openjdk-*"))
    other = "aarch64" if _host_arch() == "x86_64" else "x86_64"
    target = Platform("linux", other)
    out_lib = src / "out" / target.library(settings.native_library)
    out_lib.parent.mkdir(parents=True)

    def inside(p: Path) -> Path:
        return Path("/") / p.relative_to(chroot)

    argv = natives.compiler_argv(
        target,
        platforms.current_host(),
        jdk_home=inside(jdk_home),
        sources=[inside(src / s) for s in settings.native_sources],
        include_dirs=[inside(src / d) for d in settings.native_include_dirs],
        version="0.0.0-test",
        out=inside(out_lib),
    )
    assert argv[0] == compiler
    _in_root(chroot, *argv)
    pack.check_library_file(out_lib, target)  # the ELF header says aarch64 (or x86_64)


def _doctor(env: dict[str, str]) -> tuple[int, str, str]:
    proc = cmd.run(
        [sys.executable, "-m", "build_support", "doctor"],
        cwd=ROOT,
        env=env,
        capture=True,
        check=False,
        timeout=300,
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_doctor_exit_codes_at_the_command_line(tmp_path: Path) -> None:
    # this machine (CI: after .ci/run installed the declaration) has what the pipeline needs
    code, out, err = _doctor({})
    assert code == 0, out + err
    assert "aarch64-linux-gnu-gcc" in out or "x86_64-linux-gnu-gcc" in out
    assert "MISSING" not in [line.split()[2] for line in out.splitlines()[2:] if
                             line.split()[0] in tools.GROUPS["pipeline"]]  # fmt: skip
    # the same machine seen with an empty PATH: every tool missing, the apt line given
    code, out, err = _doctor({"PATH": str(tmp_path), "JAVA_HOME": str(tmp_path)})
    assert code == 3, out + err
    assert "MISSING" in out
    assert "apt-get install -y --no-install-recommends" in err
    assert "maven" in err
