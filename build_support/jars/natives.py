"""The JNI library, compiled for each configured platform of this OS (cross-compiling
other architectures), each verified by its ELF/Mach-O header."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from build_support import cmd, log, platforms
from build_support.errors import InputError, PlatformError
from build_support.jars import pack
from build_support.jars.layout import Platform
from build_support.jars.settings import JarsSettings
from build_support.jars.toolchain import Jdk

#: The C macro the JNI library is compiled with: ``-DBUILD_SUPPORT_VERSION="<version>"``.
VERSION_MACRO = "BUILD_SUPPORT_VERSION"


def compiler_argv(
    target: Platform,
    host: platforms.Host,
    *,
    jdk_home: Path,
    sources: Sequence[Path],
    include_dirs: Sequence[Path],
    version: str,
    out: Path,
) -> list[str]:
    """The compiler command that builds the JNI library for ``target`` on ``host``."""
    includes = [f"-I{jdk_home / 'include'}", f"-I{jdk_home / 'include' / target.os}"]
    includes += [f"-I{d}" for d in include_dirs]
    flags = ["-O2", "-Wall", "-Wextra", f'-D{VERSION_MACRO}="{version}"', *includes]
    if target.os == "linux":
        if host.os != "linux":
            raise PlatformError(
                f"cannot build the {target} library on a {host.os} host",
                hint="run `nox -s jars -- linux` on a Linux host",
            )
        cc = "gcc" if host.arch == target.arch else f"{target.arch}-linux-gnu-gcc"
        return [cc, "-shared", "-fPIC", *flags, *map(str, sources), "-o", str(out)]
    if host.os != "darwin":
        raise PlatformError(
            f"cannot build the {target} library on a {host.os} host",
            hint="run `nox -s jars -- darwin` on a macOS host",
        )
    arch = "arm64" if target.arch == "aarch64" else "x86_64"
    return ["cc", "-dynamiclib", "-arch", arch, *flags, *map(str, sources), "-o", str(out)]


def build_natives(
    root: Path,
    settings: JarsSettings,
    targets: Sequence[Platform],
    *,
    jdk: Jdk,
    version: str,
    dest: Path,
    host: platforms.Host,
    epoch: int,
) -> dict[Platform, Path]:
    """Compile the JNI library for each target into ``dest/native/<os>/<arch>/``.

    Sources and include dirs are relative to the project ``root``. The compiler gets
    ``SOURCE_DATE_EPOCH=epoch`` (the commit's time), so a source that
    uses ``__DATE__``/``__TIME__`` gives the same library in every build of the commit.
    """
    if dest.exists():
        shutil.rmtree(dest)
    sources = [root / s for s in settings.native_sources]
    for s in sources:
        if not s.is_file():
            raise InputError(
                f"native source {s} does not exist",
                hint="fix [tool.build_support.jars] native_sources",
            )
    include_dirs = [root / d for d in settings.native_include_dirs]
    built: dict[Platform, Path] = {}
    for target in targets:
        out = dest / target.library(settings.native_library)
        out.parent.mkdir(parents=True, exist_ok=True)
        argv = compiler_argv(
            target,
            host,
            jdk_home=jdk.home,
            sources=sources,
            include_dirs=include_dirs,
            version=version,
            out=out,
        )
        cmd.run(
            argv,
            env={"SOURCE_DATE_EPOCH": str(epoch)},
            timeout=settings.tool_timeout_seconds,
            hint=f"the {target} JNI library did not compile; see the compiler output above",
        )
        pack.check_library_file(out, target)
        log.info(f"native: {target} {out.name} ({log.human_size(out.stat().st_size)}) verified")
        built[target] = out
    return built
