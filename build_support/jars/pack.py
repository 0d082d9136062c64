"""JAR surgery in Python: native-library headers, native entries, deterministic repacking.

A runtime JAR carries its JNI libraries at ``native/<os>/<arch>/<file>``. The
multiplatform JAR is assembled from one JAR per operating system: from each, the
entries under ``native/<its os>/``; from all, the shared (non-native) entries, which
must agree byte for byte (CRC-32 and size). Entries are copied stream to stream
(``shutil.copyfileobj`` between ``ZipFile.open`` handles; no JAR is held in memory),
sorted (``META-INF/`` and ``META-INF/MANIFEST.MF`` first, as ``JarInputStream``
expects), with fixed timestamps and permissions, so equal inputs give equal bytes.
"""

from __future__ import annotations

import shutil
import struct
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from build_support import fsutil
from build_support.errors import InputError, VerificationError
from build_support.jars.layout import ELF_MACHINES, NATIVE_PREFIX, Platform

MANIFEST = "META-INF/MANIFEST.MF"
#: Entry time of every repacked entry (the parent POM's project.build.outputTimestamp).
FIXED_DATE_TIME = (2025, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644
DIR_MODE = 0o040755
COPY_BUFFER = 1024 * 1024

#: Mach-O ``cputype`` per architecture (ELF machines are in build_support.jars.layout).
MACHO_CPUTYPES: dict[str, int] = {"x86_64": 0x01000007, "aarch64": 0x0100000C}
ELF_MAGIC = b"\x7fELF"
ELFCLASS64 = 2
ELFDATA2LSB = 1
ET_DYN = 3
MACHO_MAGIC_64 = 0xFEEDFACF


# -- native library headers -----------------------------------------------------------


def describe_binary(header: bytes) -> str:
    """A short description of an object file's header, for error messages."""
    if header[:4] == ELF_MAGIC and len(header) >= 20:
        bits = {1: "32-bit", 2: "64-bit"}.get(header[4], f"class {header[4]}")
        order = "<" if header[5] == ELFDATA2LSB else ">"
        (machine,) = struct.unpack_from(order + "H", header, 18)
        names = {v: k for k, v in ELF_MACHINES.items()}
        return f"ELF {bits}, e_machine {machine} ({names.get(machine, 'unknown')})"
    if len(header) >= 8:
        magic, cputype = struct.unpack_from("<II", header, 0)
        if magic == MACHO_MAGIC_64:
            names = {v: k for k, v in MACHO_CPUTYPES.items()}
            return f"Mach-O 64-bit, cputype {cputype:#x} ({names.get(cputype, 'unknown')})"
    return f"not an ELF or Mach-O file (starts {header[:4]!r})"


def check_binary(header: bytes, platform: Platform, what: str) -> None:
    """VerificationError unless ``header`` is a 64-bit shared library for ``platform``."""
    if platform.os == "linux":
        ok = (
            len(header) >= 20
            and header[:4] == ELF_MAGIC
            and header[4] == ELFCLASS64
            and header[5] == ELFDATA2LSB
            and struct.unpack_from("<H", header, 16)[0] == ET_DYN
            and struct.unpack_from("<H", header, 18)[0] == ELF_MACHINES[platform.arch]
        )
        wanted = (
            f"ELF 64-bit little-endian shared object, e_machine "
            f"{ELF_MACHINES[platform.arch]} ({platform.arch})"
        )
    else:
        ok = len(header) >= 8 and struct.unpack_from("<II", header, 0) == (
            MACHO_MAGIC_64,
            MACHO_CPUTYPES[platform.arch],
        )
        wanted = f"Mach-O 64-bit, cputype {MACHO_CPUTYPES[platform.arch]:#x} ({platform.arch})"
    if not ok:
        raise VerificationError(
            f"{what} is not a {platform} library: {describe_binary(header)}; expected {wanted}",
            hint="check which compiler built it (a cross compiler for other architectures)",
        )


def check_library_file(path: Path, platform: Platform) -> None:
    with path.open("rb") as fh:
        check_binary(fh.read(64), platform, str(path))


# -- entry selection ------------------------------------------------------------------


def native_os(name: str) -> str | None:
    """The ``<os>`` of an entry under ``native/<os>/``, else None (``native/`` is shared)."""
    if not name.startswith(NATIVE_PREFIX):
        return None
    rest = name[len(NATIVE_PREFIX) :]
    if "/" not in rest:
        return None
    return rest.split("/", 1)[0]


def native_platforms(names: Iterable[str]) -> set[Platform]:
    """Platforms with at least one file under ``native/<os>/<arch>/``."""
    found = set()
    for name in names:
        parts = name.split("/")
        if len(parts) >= 4 and parts[0] == "native" and not name.endswith("/") and parts[3]:
            found.add(Platform(parts[1], parts[2]))
    return found


def select_entries(names: Iterable[str], os_name: str) -> tuple[list[str], list[str], list[str]]:
    """Split a JAR's entries into (natives of ``os_name``, shared, natives of other OSes)."""
    own: list[str] = []
    shared: list[str] = []
    foreign: list[str] = []
    for name in names:
        entry_os = native_os(name)
        if entry_os is None:
            shared.append(name)
        elif entry_os == os_name:
            own.append(name)
        else:
            foreign.append(name)
    return own, shared, foreign


def sort_key(name: str) -> tuple[int, str]:
    """``META-INF/`` first, then the manifest, then everything else by name."""
    if name == "META-INF/":
        return (0, name)
    if name == MANIFEST:
        return (1, name)
    return (2, name)


# -- repacking ------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One input JAR and the OS whose natives it contributes."""

    os: str
    path: Path


@dataclass(frozen=True)
class RepackResult:
    path: Path
    entries: int
    platforms: tuple[Platform, ...]
    skipped_foreign: tuple[str, ...]


def _fixed_info(name: str, compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
    info.create_system = 3  # unix, so the mode bits below mean what they say
    if name.endswith("/"):
        info.external_attr = (DIR_MODE << 16) | 0x10
        info.compress_type = zipfile.ZIP_STORED
    else:
        info.external_attr = FILE_MODE << 16
        info.compress_type = compress
    return info


def check_member(name: str, jar: str) -> None:
    """Refuse an entry name that is absolute or climbs out (``..``): never copied."""
    if fsutil.unsafe_member(name):
        raise InputError(
            f"{jar} has an unsafe entry {name[:200]!r}: an absolute path or one with '..' "
            "could write outside wherever the JAR is unpacked",
            hint="rebuild the JAR from the Maven build; a JAR from elsewhere is not trusted",
        )


def _open_jar(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path} is not a readable JAR: {exc}") from exc


def plan(
    jars: Mapping[str, zipfile.ZipFile], expected: Sequence[Platform]
) -> tuple[dict[str, str], list[str]]:
    """Which input JAR (by OS) supplies each output entry; checks agreement and coverage.

    Returns (entry name → OS of the JAR to copy it from, natives of other OSes skipped).
    """
    chosen: dict[str, str] = {}
    first_seen: dict[str, tuple[str, zipfile.ZipInfo]] = {}
    foreign: list[str] = []
    for os_name, zf in jars.items():
        infos = {i.filename: i for i in zf.infolist()}
        for name in infos:
            check_member(name, str(zf.filename))
        own, shared, other = select_entries(infos, os_name)
        foreign += [f"{os_name} JAR: {n}" for n in other]
        for name in own:
            chosen[name] = os_name
        for name in shared:
            info = infos[name]
            if name in first_seen:
                first_os, first = first_seen[name]
                if (first.CRC, first.file_size) != (info.CRC, info.file_size):
                    raise VerificationError(
                        f"the {first_os} and {os_name} runtime JARs disagree on the "
                        f"non-native entry {name!r}: {jars[first_os].filename} has CRC "
                        f"{first.CRC:08x}, {first.file_size} bytes; {zf.filename} has CRC "
                        f"{info.CRC:08x}, {info.file_size} bytes",
                        hint="both JARs must come from the same commit and build settings; "
                        "rebuild them with `nox -s jars -- <os>` for this commit",
                    )
            else:
                first_seen[name] = (os_name, info)
                chosen[name] = os_name
    # A file that only some JARs have is a disagreement too (directory entries are
    # metadata: their union is kept).
    for os_name, zf in jars.items():
        names = set(zf.namelist())
        for name, (first_os, _info) in first_seen.items():
            if name not in names and not name.endswith("/"):
                raise VerificationError(
                    f"the non-native entry {name!r} is in the {first_os} runtime JAR "
                    f"({jars[first_os].filename}) but not in the {os_name} one ({zf.filename})",
                    hint="both JARs must come from the same commit; rebuild them",
                )
    present = native_platforms(n for n, o in chosen.items() if native_os(n) == o)
    missing = [p for p in expected if p not in present]
    if missing:
        raise InputError(
            "the runtime JARs lack the natives of "
            + ", ".join(f"{p} ({p.native_dir} in the {p.os} JAR)" for p in missing)
            + "; found: "
            + (", ".join(str(p) for p in sorted(present)) or "none"),
            hint="build them with `nox -s jars -- <os>` for this commit (the linux job "
            "cross-compiles aarch64), or fix [tool.build_support.jars] platforms",
        )
    return chosen, foreign


def repack(
    sources: Sequence[Source],
    dest: Path,
    expected: Sequence[Platform],
    *,
    compress: int = zipfile.ZIP_DEFLATED,
    compresslevel: int = 6,
) -> RepackResult:
    """Write one JAR with every source's natives and the shared entries, deterministically.

    Written to a temporary sibling and renamed: ``dest`` is either the old file or the
    complete new one.
    """
    if len({s.os for s in sources}) != len(sources):
        raise InputError("two source JARs for the same OS: " + ", ".join(s.os for s in sources))
    jars: dict[str, zipfile.ZipFile] = {}
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        for s in sources:
            jars[s.os] = _open_jar(s.path)
        chosen, foreign = plan(jars, expected)
        names = sorted(chosen, key=sort_key)
        with (
            fsutil.atomic_open(dest) as fh,
            zipfile.ZipFile(fh, "w", compresslevel=compresslevel) as out,
        ):
            for name in names:
                src = jars[chosen[name]]
                src_info = src.getinfo(name)
                info = _fixed_info(name, compress)
                if name.endswith("/"):
                    out.writestr(info, b"")
                    continue
                info.file_size = src_info.file_size
                with src.open(src_info) as fin, out.open(info, "w") as fout:
                    shutil.copyfileobj(fin, fout, COPY_BUFFER)
    except zipfile.BadZipFile as exc:
        raise InputError(f"a source JAR is corrupt: {exc}") from exc
    finally:
        for zf in jars.values():
            zf.close()
    present = native_platforms(chosen)
    return RepackResult(
        path=dest,
        entries=len(chosen),
        platforms=tuple(sorted(present)),
        skipped_foreign=tuple(foreign),
    )


def check_natives(jar: Path, expected: Sequence[Platform], library: str) -> list[Platform]:
    """Every expected platform's library is in ``jar`` and has the right header."""
    with _open_jar(jar) as zf:
        names = set(zf.namelist())
        for p in expected:
            entry = p.library(library)
            if entry not in names:
                raise VerificationError(
                    f"{jar} lacks {entry}",
                    hint=f"the {p.os} job must build the {p} library; see the jars stage log",
                )
            with zf.open(entry) as fh:
                check_binary(fh.read(64), p, f"{jar}!/{entry}")
    return list(expected)


def read_manifest(path: Path) -> dict[str, str]:
    """The main attributes of a JAR's ``META-INF/MANIFEST.MF`` (continuation lines joined)."""
    try:
        with zipfile.ZipFile(path) as zf:
            raw = zf.read(MANIFEST).decode("utf-8")
    except KeyError:
        raise VerificationError(f"{path.name} has no {MANIFEST}") from None
    except zipfile.BadZipFile as exc:
        raise VerificationError(f"{path.name} is not a JAR: {exc}") from exc
    lines: list[str] = []
    for line in raw.replace("\r\n", "\n").split("\n"):
        if line.startswith(" ") and lines:
            lines[-1] += line[1:]
        elif not line:
            break  # the main section ends at the first empty line
        else:
            lines.append(line)
    attrs: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(": ")
        if sep:
            attrs[key] = value
    return attrs


def jar_commit(path: Path, *, entry: str) -> str:
    """The commit a JAR carries in its manifest's main-section attribute ``entry``
    (``[tool.build_support.jars] commit_manifest_entry``), or ""."""
    return read_manifest(path).get(entry, "")


def check_commit(jar: Path, expected: str, *, entry: str) -> str:
    """``jar`` says, in its own manifest (attribute ``entry``), it was built from ``expected``."""
    hint = (
        "rebuild it from this commit with `nox -s jars -- <os>` (which passes "
        f"-Dbuild_support.commit=<sha>; the POMs must write it into the manifest as {entry}, "
        "[tool.build_support.jars] commit_manifest_entry)"
    )
    try:
        found = jar_commit(jar, entry=entry)
    except VerificationError as exc:
        raise VerificationError(
            f"{exc.message}, so it cannot show that it was built from {expected}", hint=hint
        ) from None
    if found != expected:
        raise VerificationError(
            f"{jar.name}: {MANIFEST} has {entry}: {found or '(none)'}, but the "
            f"expected commit is {expected}",
            hint=hint,
        )
    return found
