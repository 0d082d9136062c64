"""Native-entry selection, header checks and deterministic repacking on tiny JARs."""

from __future__ import annotations

import struct
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from build_support.errors import InputError, VerificationError
from build_support.jars import pack
from build_support.jars.layout import Platform
from build_support.jars.pack import Source

LINUX_X86 = Platform("linux", "x86_64")
LINUX_ARM = Platform("linux", "aarch64")
DARWIN_ARM = Platform("darwin", "aarch64")


def elf_header(machine: int, *, elf_class: int = 2, data: int = 1, e_type: int = 3) -> bytes:
    ident = b"\x7fELF" + bytes([elf_class, data, 1, 0]) + bytes(8)
    return ident + struct.pack("<HHI", e_type, machine, 1) + bytes(44)


def macho_header(cputype: int) -> bytes:
    return struct.pack("<IIIIIII", 0xFEEDFACF, cputype, 0, 6, 0, 0, 0) + bytes(4)


SHARED = {
    "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\nCreated-By: test\r\n\r\n",
    "io/minray/runtime/NativeLib.class": b"\xca\xfe\xba\xbe class bytes",
    "io/minray/shaded/Gson.class": b"\xca\xfe\xba\xbe shaded",
}


def make_jar(
    path: Path,
    entries: dict[str, bytes],
    *,
    date: tuple[int, int, int, int, int, int] = (2024, 5, 6, 7, 8, 10),
    reverse: bool = False,
) -> Path:
    names = sorted(entries, reverse=reverse)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=date)
            info.external_attr = 0o100600 << 16
            zf.writestr(info, entries[name])
    return path


def linux_jar(path: Path, **kwargs: object) -> Path:
    entries = {
        **SHARED,
        "META-INF/": b"",
        "native/": b"",
        "native/linux/x86_64/libminray_jni.so": elf_header(62),
        "native/linux/aarch64/libminray_jni.so": elf_header(183),
    }
    return make_jar(path, entries, **kwargs)  # type: ignore[arg-type]


def darwin_jar(path: Path, **kwargs: object) -> Path:
    entries = {
        **SHARED,
        "META-INF/": b"",
        "native/": b"",
        "native/darwin/aarch64/libminray_jni.dylib": macho_header(0x0100000C),
    }
    return make_jar(path, entries, **kwargs)  # type: ignore[arg-type]


# -- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("platform", "machine"), [(LINUX_X86, 62), (LINUX_ARM, 183)])
def test_elf_header_accepted(platform: Platform, machine: int) -> None:
    pack.check_binary(elf_header(machine), platform, "lib.so")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (elf_header(183), r"e_machine 183 \(aarch64\)"),
        (elf_header(62, elf_class=1), "ELF 32-bit"),
        (elf_header(62, e_type=2), "e_machine 62"),  # an executable, not a shared object
        (elf_header(62, data=2), "ELF 64-bit"),
        (b"MZ\x90\x00" + bytes(60), "not an ELF or Mach-O"),
        (b"\x7fEL", "not an ELF"),
    ],
)
def test_elf_header_rejected(header: bytes, message: str) -> None:
    with pytest.raises(VerificationError, match=message) as info:
        pack.check_binary(header, LINUX_X86, "x/lib.so")
    assert "x/lib.so is not a linux-x86_64 library" in str(info.value)
    assert "expected ELF 64-bit little-endian shared object, e_machine 62" in str(info.value)


def test_macho_header() -> None:
    pack.check_binary(macho_header(0x0100000C), DARWIN_ARM, "lib.dylib")
    with pytest.raises(VerificationError, match=r"cputype 0x1000007 \(x86_64\)"):
        pack.check_binary(macho_header(0x01000007), DARWIN_ARM, "lib.dylib")
    with pytest.raises(VerificationError, match="ELF 64-bit"):
        pack.check_binary(elf_header(183), DARWIN_ARM, "lib.dylib")


def test_check_library_file(tmp_path: Path) -> None:
    lib = tmp_path / "libx.so"
    lib.write_bytes(elf_header(183) + b"rest")
    pack.check_library_file(lib, LINUX_ARM)
    with pytest.raises(VerificationError, match=str(lib)):
        pack.check_library_file(lib, LINUX_X86)


# -- selection -------------------------------------------------------------------------------


def test_platform_parse() -> None:
    assert Platform.parse("linux-aarch64") == LINUX_ARM
    assert LINUX_ARM.library("minray_jni") == "native/linux/aarch64/libminray_jni.so"
    assert DARWIN_ARM.library("minray_jni") == "native/darwin/aarch64/libminray_jni.dylib"
    for bad in ("linux", "windows-x86_64", "linux-arm64", "linux-x86_64-extra"):
        with pytest.raises(InputError, match="unknown platform"):
            Platform.parse(bad)


def test_select_entries() -> None:
    names = [
        "META-INF/MANIFEST.MF",
        "native/",
        "native/linux/",
        "native/linux/x86_64/libminray_jni.so",
        "native/darwin/aarch64/libminray_jni.dylib",
        "nativex/linux/a",
        "io/A.class",
    ]
    own, shared, foreign = pack.select_entries(names, "linux")
    assert own == ["native/linux/", "native/linux/x86_64/libminray_jni.so"]
    assert shared == ["META-INF/MANIFEST.MF", "native/", "nativex/linux/a", "io/A.class"]
    assert foreign == ["native/darwin/aarch64/libminray_jni.dylib"]
    assert pack.native_platforms(names) == {LINUX_X86, DARWIN_ARM}


def test_sort_key_puts_manifest_first() -> None:
    names = ["a/", "META-INF/MANIFEST.MF", "META-INF/maven/x", "META-INF/", "Z.class"]
    assert sorted(names, key=pack.sort_key) == [
        "META-INF/",
        "META-INF/MANIFEST.MF",
        "META-INF/maven/x",
        "Z.class",
        "a/",
    ]


# -- repacking -------------------------------------------------------------------------------


def test_repack_merges_natives_deterministically(tmp_path: Path) -> None:
    linux = linux_jar(tmp_path / "linux.jar")
    darwin = darwin_jar(tmp_path / "darwin.jar")
    expected = [LINUX_X86, LINUX_ARM, DARWIN_ARM]
    out1 = tmp_path / "out1" / "minray-runtime.jar"
    result = pack.repack([Source("linux", linux), Source("darwin", darwin)], out1, expected)
    assert result.platforms == (DARWIN_ARM, LINUX_ARM, LINUX_X86)
    with zipfile.ZipFile(out1) as zf:
        names = zf.namelist()
        assert names[:2] == ["META-INF/", "META-INF/MANIFEST.MF"]
        assert names[2:] == sorted(names[2:])
        assert zf.read("META-INF/MANIFEST.MF") == SHARED["META-INF/MANIFEST.MF"]
        assert zf.read("native/linux/aarch64/libminray_jni.so") == elf_header(183)
        assert zf.read("native/darwin/aarch64/libminray_jni.dylib") == macho_header(0x0100000C)
        for info in zf.infolist():
            assert info.date_time == pack.FIXED_DATE_TIME
            mode = info.external_attr >> 16
            assert mode == (pack.DIR_MODE if info.is_dir() else pack.FILE_MODE)
        assert zf.testzip() is None

    # Other input timestamps, other input order, other source order: the same bytes.
    linux2 = linux_jar(tmp_path / "linux2.jar", date=(2030, 1, 2, 3, 4, 6), reverse=True)
    darwin2 = darwin_jar(tmp_path / "darwin2.jar", date=(1999, 9, 9, 9, 9, 10))
    out2 = tmp_path / "out2" / "minray-runtime.jar"
    pack.repack([Source("darwin", darwin2), Source("linux", linux2)], out2, expected)
    assert out1.read_bytes() == out2.read_bytes()


def test_repack_single_source(tmp_path: Path) -> None:
    out = tmp_path / "m.jar"
    pack.repack([Source("linux", linux_jar(tmp_path / "l.jar"))], out, [LINUX_X86, LINUX_ARM])
    pack.check_natives(out, [LINUX_X86, LINUX_ARM], "minray_jni")


def test_missing_expected_natives(tmp_path: Path) -> None:
    linux = linux_jar(tmp_path / "linux.jar")
    out = tmp_path / "out.jar"
    with pytest.raises(InputError) as info:
        pack.repack([Source("linux", linux)], out, [LINUX_X86, DARWIN_ARM])
    assert "darwin-aarch64 (native/darwin/aarch64/ in the darwin JAR)" in str(info.value)
    assert "found: linux-aarch64, linux-x86_64" in str(info.value)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [linux]  # no temporary file left


def test_foreign_natives_are_not_taken(tmp_path: Path) -> None:
    # A darwin natives dir inside the linux JAR must not stand in for the darwin job.
    entries = {
        **SHARED,
        "native/linux/x86_64/libminray_jni.so": elf_header(62),
        "native/darwin/aarch64/libminray_jni.dylib": b"stale",
    }
    linux = make_jar(tmp_path / "linux.jar", entries)
    darwin = darwin_jar(tmp_path / "darwin.jar")
    expected = [LINUX_X86, DARWIN_ARM]
    result = pack.repack(
        [Source("linux", linux), Source("darwin", darwin)], tmp_path / "o.jar", expected
    )
    assert result.skipped_foreign == ("linux JAR: native/darwin/aarch64/libminray_jni.dylib",)
    with zipfile.ZipFile(tmp_path / "o.jar") as zf:
        assert zf.read("native/darwin/aarch64/libminray_jni.dylib") == macho_header(0x0100000C)
        assert "native/" in zf.namelist()  # directory entries: the union of both JARs


def test_conflicting_shared_entry_names_entry_and_both_jars(tmp_path: Path) -> None:
    linux = linux_jar(tmp_path / "linux.jar")
    entries = {
        **SHARED,
        "META-INF/": b"",
        "native/": b"",
        "native/darwin/aarch64/libminray_jni.dylib": macho_header(0x0100000C),
        "io/minray/runtime/NativeLib.class": b"\xca\xfe\xba\xbe other build",
    }
    darwin = make_jar(tmp_path / "darwin.jar", entries)
    out = tmp_path / "out.jar"
    with pytest.raises(VerificationError) as info:
        pack.repack(
            [Source("linux", linux), Source("darwin", darwin)], out, [LINUX_X86, DARWIN_ARM]
        )
    text = str(info.value)
    assert "'io/minray/runtime/NativeLib.class'" in text
    assert str(linux) in text
    assert str(darwin) in text
    assert info.value.exit_code == 13
    assert not out.exists()


def test_entry_in_one_jar_only_is_a_disagreement(tmp_path: Path) -> None:
    linux = linux_jar(tmp_path / "linux.jar")
    darwin = make_jar(
        tmp_path / "darwin.jar",
        {
            **SHARED,
            "META-INF/": b"",
            "native/": b"",
            "extra/Only.class": b"x",
            "native/darwin/aarch64/libminray_jni.dylib": macho_header(0x0100000C),
        },
    )
    with pytest.raises(VerificationError, match=r"'extra/Only\.class' is in the darwin"):
        pack.repack(
            [Source("linux", linux), Source("darwin", darwin)],
            tmp_path / "o.jar",
            [LINUX_X86, DARWIN_ARM],
        )


def test_corrupt_or_duplicate_sources(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jar"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable JAR"):
        pack.repack([Source("linux", bad)], tmp_path / "o.jar", [LINUX_X86])
    good = linux_jar(tmp_path / "l.jar")
    with pytest.raises(InputError, match="same OS"):
        pack.repack([Source("linux", good), Source("linux", good)], tmp_path / "o.jar", [LINUX_X86])


def test_check_natives_reads_headers_inside_the_jar(tmp_path: Path) -> None:
    entries = {
        **SHARED,
        "native/linux/x86_64/libminray_jni.so": elf_header(183),  # wrong architecture
    }
    jar = make_jar(tmp_path / "x.jar", entries)
    with pytest.raises(VerificationError, match=r"x\.jar!/native/linux/x86_64"):
        pack.check_natives(jar, [LINUX_X86], "minray_jni")
    with pytest.raises(VerificationError, match=r"lacks native/linux/aarch64/libminray_jni\.so"):
        pack.check_natives(jar, [LINUX_ARM], "minray_jni")


def test_repack_streams_large_entries(tmp_path: Path) -> None:
    big = 48 * 1024 * 1024
    src = tmp_path / "linux.jar"
    with zipfile.ZipFile(src, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in SHARED.items():
            zf.writestr(name, data)
        zf.writestr("native/linux/x86_64/libminray_jni.so", elf_header(62))
        with zf.open("big/blob.bin", "w") as fh:
            chunk = bytes(range(256)) * 4096
            for _ in range(big // len(chunk)):
                fh.write(chunk)
    tracemalloc.start()
    try:
        pack.repack([Source("linux", src)], tmp_path / "o.jar", [LINUX_X86])
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"repacking held {peak} bytes: not streaming"
    with zipfile.ZipFile(tmp_path / "o.jar") as zf:
        assert zf.getinfo("big/blob.bin").file_size == big


COMMIT = "c0ffee" + "2" * 34


def _jar_with_manifest(path: Path, manifest: str | None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("META-INF/", b"")
        if manifest is not None:
            zf.writestr(pack.MANIFEST, manifest)
        zf.writestr("io/minray/A.class", b"\xca\xfe\xba\xbe")
    return path


def test_commit_is_read_from_the_jars_own_manifest(tmp_path: Path) -> None:
    # As maven-archiver writes it: CRLF, wrapped at 72 bytes with a leading space.
    manifest = (
        "Manifest-Version: 1.0\r\nCreated-By: Maven JAR Plugin 3.4.2\r\n"
        f"Build-Commit: {COMMIT[:50]}\r\n {COMMIT[50:]}\r\n\r\nName: x\r\nBuild-Commit: no\r\n"
        f"Tiny-Commit: {'e' * 40}\r\n"
    )
    jar = _jar_with_manifest(tmp_path / "a.jar", manifest)
    assert pack.jar_commit(jar, entry="Build-Commit") == COMMIT
    assert pack.check_commit(jar, COMMIT, entry="Build-Commit") == COMMIT
    # Another project's entry name: only the main section counts, and only that name.
    assert pack.jar_commit(jar, entry="Tiny-Commit") == ""
    with pytest.raises(VerificationError, match="has Tiny-Commit: \\(none\\)"):
        pack.check_commit(jar, COMMIT, entry="Tiny-Commit")


@pytest.mark.parametrize(
    "manifest",
    [
        None,
        "Manifest-Version: 1.0\n",
        f"Build-Commit: {'d' * 40}\n",
        "Build-Commit: unknown\n",
        f"Minray-Commit: {COMMIT}\n",  # the former name: not read
    ],
)
def test_commit_missing_or_other_is_refused_naming_both(
    tmp_path: Path, manifest: str | None
) -> None:
    jar = _jar_with_manifest(tmp_path / "minray-runtime-0.1.0.jar", manifest)
    with pytest.raises(VerificationError) as info:
        pack.check_commit(jar, COMMIT, entry="Build-Commit")
    assert COMMIT in str(info.value)
    assert "minray-runtime-0.1.0.jar" in str(info.value)
    assert info.value.exit_code == 13
