"""Wheel checks in Python: names and tags, the stamped commit, and build-input digests.

Everything here is a pure function over files and values (no subprocesses), so the
checks that guard what leaves the wheel stage are unit-tested on tiny wheels made with
:mod:`zipfile`. A wheel is judged by its content, never by its name alone: the tags in
the file name must equal the ``Tag:`` lines of its ``WHEEL`` metadata, and the commit is
read from inside the archive: a top-level ``<package>/_version.py`` (stamped in the
sources before the build) or, for a project without one, ``<name>.dist-info/COMMIT``
(written after the build and listed in ``RECORD`` with its hash). Every stage that needs
a wheel's commit (publish, release tests) reads it with :func:`read_commit`.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.metadata import ExceptionGroup as MetadataErrors
from packaging.metadata import Metadata
from packaging.requirements import Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms, parse_tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from build_support import fsutil
from build_support.commits import (
    COMMIT_NAMES,
    PLACEHOLDER,
    PLACEHOLDER_RE,
    SHA_RE,
    commit_from_source,
)
from build_support.config import PythonVersion
from build_support.errors import InputError, VerificationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

#: Bump when the way wheels are built changes; it is part of every input digest.
#: 2: SOURCE_DATE_EPOCH, prefix maps and :func:`normalize` (reproducible wheels).
RECIPE_VERSION = 2

_VERSION_FILE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*/_version\.py$")
#: The member of ``<name>.dist-info/`` that carries the commit of a wheel stamped there.
COMMIT_FILE = "COMMIT"


@dataclass(frozen=True)
class WheelName:
    """A wheel file name, parsed by :mod:`packaging`."""

    filename: str
    distribution: str
    version: str
    tags: frozenset[Tag]

    @property
    def platforms(self) -> frozenset[str]:
        return frozenset(t.platform for t in self.tags)

    @property
    def interpreters(self) -> frozenset[str]:
        return frozenset(t.interpreter for t in self.tags)


def parse_name(filename: str) -> WheelName:
    """Parse ``name-version[-build]-py-abi-plat.whl``, or a VerificationError."""
    try:
        name, version, _build, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise VerificationError(f"{filename!r} is not a valid wheel file name: {exc}") from exc
    return WheelName(
        filename=filename, distribution=str(name), version=str(version), tags=frozenset(tags)
    )


#: The glibc version each legacy manylinux alias stands for (PEP 600).
_LEGACY_MANYLINUX: dict[str, tuple[int, int]] = {
    "manylinux1": (2, 5),
    "manylinux2010": (2, 12),
    "manylinux2014": (2, 17),
}
_PERENNIAL = re.compile(r"(manylinux|musllinux)_(\d+)_(\d+)_(\w+)")
_MACOS = re.compile(r"macosx_(\d+)_(\d+)_(\w+)")


def platform_ladder(platform: str) -> list[str]:
    """The platform tags a wheel may carry to install where ``platform`` is the target,
    the most specific first (the ladder pip climbs).

    A manylinux target takes manylinux wheels of its glibc or an older one, under either
    name (``manylinux2014_x86_64`` is glibc 2.17: ``manylinux_2_17_x86_64``,
    ``manylinux2014_x86_64``, ``manylinux_2_16_x86_64`` … ``manylinux1_x86_64``), never a
    newer glibc (``manylinux_2_28``) nor a musllinux wheel; a musllinux target the musl
    versions up to its own; a macOS target what :func:`packaging.tags.mac_platforms`
    lists; any other target only itself.
    """
    name, _, arch = platform.partition("_")
    if name in _LEGACY_MANYLINUX:
        kind, (major, minor) = "manylinux", _LEGACY_MANYLINUX[name]
    elif m := _PERENNIAL.fullmatch(platform):
        kind, major, minor, arch = m[1], int(m[2]), int(m[3]), m[4]
    elif m := _MACOS.fullmatch(platform):
        return list(mac_platforms((int(m[1]), int(m[2])), m[3]))
    else:
        return [platform]
    aliases = {v: k for k, v in _LEGACY_MANYLINUX.items()} if kind == "manylinux" else {}
    oldest = 5 if kind == "manylinux" else 0  # manylinux1 is glibc 2.5
    ladder: list[str] = []
    for version in range(minor, oldest - 1, -1):
        ladder.append(f"{kind}_{major}_{version}_{arch}")
        if (major, version) in aliases:
            ladder.append(f"{aliases[major, version]}_{arch}")
    return ladder


def supported_tags(python: str, platform: str) -> list[Tag]:
    """Every tag a wheel for CPython ``python`` on ``platform`` may carry, best first:
    :func:`packaging.tags.cpython_tags` then ``compatible_tags`` over :func:`platform_ladder`
    (``cp311-cp311``, ``cp311-abi3``, older ``abi3``, ``py3-none``, then ``-any``)."""
    version = (int(python.split(".", maxsplit=1)[0]), int(python.split(".")[1]))
    plats = platform_ladder(platform)
    cp = python_tag(python)
    return [
        *cpython_tags(version, abis=[cp], platforms=plats),
        *compatible_tags(version, interpreter=cp, platforms=plats),
    ]


def rank(filename: str, distribution: str, *, python: str, platform: str) -> int | None:
    """How well ``filename`` fits as ``distribution``'s wheel for CPython ``python`` on
    ``platform``: the position of its best tag in :func:`supported_tags` (0 is the most
    specific), or None when it is another distribution's or does not install there.

    Names are compared canonicalized; compressed tag sets count (auditwheel names wheels
    ``…-manylinux2014_x86_64.manylinux_2_17_x86_64.whl``).
    """
    try:
        name = parse_name(filename)
    except VerificationError:
        return None
    if canonicalize_name(name.distribution) != canonicalize_name(distribution):
        return None
    order: dict[Tag, int] = {}
    for i, tag in enumerate(supported_tags(python, platform)):
        order.setdefault(tag, i)
    found = [order[t] for t in name.tags if t in order]
    return min(found) if found else None


def best_fit(
    filenames: Iterable[str], distribution: str, *, python: str, platform: str
) -> str | None:
    """Of ``filenames``, the wheel of ``distribution`` that fits CPython ``python`` on
    ``platform`` best (the lowest :func:`rank`); among equals the last one; None when none
    fits. Every stage that picks one wheel out of several picks with this."""
    ranked = [
        (r, name)
        for name in filenames
        if (r := rank(name, distribution, python=python, platform=platform)) is not None
    ]
    if not ranked:
        return None
    best = min(r for r, _name in ranked)
    return [name for r, name in ranked if r == best][-1]


def matches(filename: str, distribution: str, *, python: str, platform: str) -> bool:
    """Whether ``filename`` is a wheel of ``distribution`` that installs on CPython
    ``python`` where ``platform`` is the target (:func:`rank`)."""
    return rank(filename, distribution, python=python, platform=platform) is not None


def python_tag(version: str) -> str:
    """``"3.12"`` → ``"cp312"`` (the CPython interpreter and ABI tag)."""
    if not re.fullmatch(r"3\.\d+", version):
        raise InputError(f"invalid Python version {version!r}", hint="use the form 3.12")
    return PythonVersion(version).cp_tag


def _dist_info_dir(names: Iterable[str]) -> str:
    dirs = sorted({n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")})
    if len(dirs) != 1:
        raise VerificationError(f"expected one .dist-info directory in the wheel, found {dirs}")
    return dirs[0]


def metadata_tags(path: Path) -> frozenset[Tag]:
    """The tags a wheel's ``WHEEL`` metadata declares (its ``Tag:`` lines, expanded)."""
    with zipfile.ZipFile(path) as zf:
        wheel_file = _dist_info_dir(zf.namelist()) + "/WHEEL"
        try:
            text = zf.read(wheel_file).decode("utf-8")
        except KeyError:
            raise VerificationError(f"{path.name} has no {wheel_file}") from None
    tags: set[Tag] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "tag":
            tags.update(parse_tag(value.strip()))
    if not tags:
        raise VerificationError(f"{path.name}: {wheel_file} declares no Tag")
    return frozenset(tags)


def metadata(path: Path) -> Metadata:
    """The wheel's core metadata (``METADATA``), parsed by :mod:`packaging.metadata`."""
    with zipfile.ZipFile(path) as zf:
        member = _dist_info_dir(zf.namelist()) + "/METADATA"
        try:
            raw = zf.read(member)
        except KeyError:
            raise VerificationError(f"{path.name} has no {member}") from None
    try:
        return Metadata.from_email(raw, validate=False)
    except (ValueError, MetadataErrors) as exc:
        raise VerificationError(f"{path.name}: unreadable {member}: {exc}") from None


def requirements(path: Path) -> list[Requirement]:
    """The wheel's ``Requires-Dist`` that apply without extras (on this interpreter)."""
    reqs = metadata(path).requires_dist or []
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]


def check_tags(path: Path, *, platform: str, python: str | None) -> WheelName:
    """The file name's tags equal the WHEEL metadata's and target ``platform``/``python``."""
    name = parse_name(path.name)
    declared = metadata_tags(path)
    if declared != name.tags:
        raise VerificationError(
            f"{path.name}: the file name's tags "
            f"{sorted(str(t) for t in name.tags)} differ from its WHEEL metadata's "
            f"{sorted(str(t) for t in declared)}",
            hint="a renamed wheel: rebuild it and repair it with auditwheel/delocate",
        )
    if platform not in name.platforms:
        raise VerificationError(
            f"{path.name} targets {sorted(name.platforms)}, not the requested {platform}",
            hint="rebuild for the requested platform",
        )
    if python is not None:
        want = python_tag(python)
        if name.interpreters != {want} or {t.abi for t in name.tags} != {want}:
            raise VerificationError(
                f"{path.name} is tagged for {sorted(name.interpreters)}, expected {want}",
                hint=f"build it with Python {python}",
            )
    return name


def version_files(names: Iterable[str]) -> list[str]:
    """The ``<package>/_version.py`` files at the top of an archive."""
    return sorted(n for n in names if _VERSION_FILE.match(n))


def _dist_info_commit(zf: zipfile.ZipFile, wheel: str) -> tuple[str, str] | None:
    """``(member, commit)`` of ``<name>.dist-info/COMMIT``, checked against ``RECORD``."""
    names = zf.namelist()
    if not any(n.endswith(f".dist-info/{COMMIT_FILE}") for n in names):
        return None
    dist_info = _dist_info_dir(names)
    member = f"{dist_info}/{COMMIT_FILE}"
    if member not in names:
        return None
    data = zf.read(member)
    want = record_line(member, data)
    record = f"{dist_info}/RECORD"
    try:
        lines = zf.read(record).decode("utf-8").splitlines()
    except KeyError:
        raise VerificationError(f"{wheel} has {member} but no {record}") from None
    listed = [ln for ln in lines if ln.split(",", 1)[0] == member]
    if listed != [want]:
        raise VerificationError(
            f"{wheel}: {record} does not list {member} with its hash and size "
            f"(expected {want!r}, found {listed})",
            hint="the file was changed after the build: rebuild it with `nox -s wheel`",
        )
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise VerificationError(f"{wheel}:{member} is not an ASCII commit SHA") from None
    return member, text.strip()


def read_commits(path: Path) -> dict[str, str]:
    """``{member: commit}`` for every top-level ``_version.py`` and ``.dist-info/COMMIT``."""
    found: dict[str, str] = {}
    with zipfile.ZipFile(path) as zf:
        files = version_files(zf.namelist())
        for name in files:
            text = zf.read(name).decode("utf-8")
            commit = commit_from_source(text, f"{path.name}:{name}")
            if commit is None:
                raise VerificationError(f"{path.name}:{name} assigns no commit string")
            found[name] = commit
        in_dist_info = _dist_info_commit(zf, path.name)
    if in_dist_info is not None:
        found[in_dist_info[0]] = in_dist_info[1]
    if not found:
        raise VerificationError(
            f"{path.name} has no <package>/_version.py and no .dist-info/{COMMIT_FILE}, "
            "so its commit cannot be checked",
            hint=f'add `commit = "{PLACEHOLDER}"` to the package\'s _version.py, or set '
            '[tool.build_support.wheel] stamp = { "<project>" = { into = "dist-info" } } '
            "(docs/onboarding.md)",
        )
    return found


def _is_placeholder(value: str) -> bool:
    return value == PLACEHOLDER or bool(PLACEHOLDER_RE.match(value))


def _package_commit(path: Path, package: str) -> dict[str, str]:
    """``{member: commit}`` of ``<package>/_version.py``, else of ``.dist-info/COMMIT``."""
    member = f"{package}/_version.py"
    text: str | None = None
    in_dist_info: tuple[str, str] | None = None
    try:
        with zipfile.ZipFile(path) as zf:
            if member in zf.namelist():
                text = zf.read(member).decode("utf-8")
            else:
                in_dist_info = _dist_info_commit(zf, path.name)
    except (zipfile.BadZipFile, OSError) as exc:
        raise VerificationError(
            f"{path.name}: cannot read {member}: {exc}", hint="rebuild it: nox -s wheel"
        ) from None
    if in_dist_info is not None:
        return dict([in_dist_info])
    if text is None:
        raise VerificationError(
            f"{path.name}: cannot read {member}: the wheel has neither it nor a "
            f".dist-info/{COMMIT_FILE}",
            hint="rebuild it: nox -s wheel",
        )
    commit = commit_from_source(text, f"{path.name}:{member}")
    if commit is None:
        raise VerificationError(f"{path.name}:{member} assigns no commit string")
    return {member: commit}


def read_commit(path: Path, package: str | None = None) -> str:
    """The commit stamped in the wheel, read from the zip: in ``<package>/_version.py``
    (or, without ``package``, in every top-level ``_version.py``), or in
    ``.dist-info/COMMIT`` when the wheel has no such version file. Fails closed: a
    placeholder, a value that is not a 40-hex SHA, or two different commits are errors,
    never a result.
    """
    found = read_commits(path) if package is None else _package_commit(path, package)
    for name, commit in found.items():
        if _is_placeholder(commit):
            raise VerificationError(
                f"{path.name}:{name} still holds the placeholder {commit}: "
                "the commit was never stamped",
                hint="build it with `nox -s wheel`",
            )
        if not SHA_RE.match(commit):
            raise VerificationError(
                f"{path.name}:{name} carries {commit!r}, which is not a 40-hex commit SHA",
                hint="build it with `nox -s wheel`, which stamps the full commit",
            )
    commits = sorted(set(found.values()))
    if len(commits) != 1:
        raise VerificationError(
            f"{path.name} carries different commits: "
            + ", ".join(f"{n}={c}" for n, c in sorted(found.items()))
        )
    return commits[0]


_COMMIT_CODE = """\
import importlib as _il, importlib.metadata as _md, importlib.util as _iu
_pkg = {package}
_mod = _il.import_module(_pkg)
_top = _il.import_module(_pkg.split(".")[0])
_vname = _top.__name__ + "._version"
_has_ver = hasattr(_top, "__path__") and _iu.find_spec(_vname) is not None
_ver = _il.import_module(_vname) if _has_ver else None
_found = [getattr(_ver, _n, None) for _n in {names}]
commit = next((_c for _c in _found if isinstance(_c, str)), None)
if commit is None:
    _dist = {dist} or (_md.packages_distributions().get(_top.__name__) or [None])[0]
    commit = (_md.distribution(_dist).read_text("{commit_file}") or "") if _dist else ""
commit = str(commit).strip()
"""


def commit_code(package: str | None = None, dist: str | None = None) -> str:
    """Python statements that import ``package`` and set ``commit`` to the commit of the
    installed code, read where :func:`read_commit` reads it in the wheel: the ``commit``
    or ``__commit__`` string of ``<top package>._version``, else the ``.dist-info/COMMIT``
    of ``dist`` (or of the distribution providing the package). ``package=None`` reads
    the name from a variable ``pkg`` of the surrounding program. No single quotes: the
    code may run inside ``sh -c '…'``. The one home of this rule (wheel verify, release
    test venvs and images, the images stage's smoke run)."""
    return _COMMIT_CODE.format(
        package="pkg" if package is None else json.dumps(package),
        names=json.dumps(list(COMMIT_NAMES)),
        dist=json.dumps(dist) if dist else "None",
        commit_file=COMMIT_FILE,
    )


def commit_program(package: str, dist: str | None = None) -> str:
    """A program that imports ``package`` and prints its installed commit
    (:func:`commit_code`; an empty line when there is none)."""
    return commit_code(package, dist) + "print(commit)\n"


def check_commit(
    path: Path, expected: str | None, *, dist_info: bool = False, files: Sequence[str] = ()
) -> str:
    """The wheel carries ``expected``; fails closed when it is unknown, absent or wrong.

    ``dist_info``: the commit must be in ``.dist-info/COMMIT``; ``files``: each of these
    source files (relative to the project, e.g. ``src/pkg/_version.py``) must be in the
    wheel (as itself or a path ending it, e.g. ``pkg/_version.py``) and carry it.
    """
    if not expected:
        raise VerificationError(
            f"cannot verify {path.name}: the expected commit is unknown",
            hint="build from a git checkout or set BUILDKITE_COMMIT/GITHUB_SHA",
        )
    if not SHA_RE.match(expected):
        raise VerificationError(
            f"cannot verify {path.name}: expected commit {expected!r} is not a 40-hex SHA"
        )
    found = read_commits(path)
    for name, commit in found.items():
        if _is_placeholder(commit):
            raise VerificationError(
                f"{path.name}:{name} still holds the placeholder {commit}, not {expected}",
                hint="the commit was not stamped: build it with `nox -s wheel`",
            )
        if commit != expected:
            raise VerificationError(
                f"{path.name}:{name} carries commit {commit}, but the expected commit "
                f"is {expected}",
                hint="rebuild from the expected commit: nox -s wheel -- --force",
            )
    if dist_info and not any(n.endswith(f".dist-info/{COMMIT_FILE}") for n in found):
        raise VerificationError(
            f"{path.name} has no .dist-info/{COMMIT_FILE}, where this project's commit goes"
        )
    for rel in files:
        if not any(rel == n or rel.endswith("/" + n) for n in found):
            raise VerificationError(
                f"{path.name} does not contain the stamped {rel} as a top-level "
                f"<package>/_version.py (it has: {', '.join(sorted(found))})",
                hint="the package must ship the file; check the project's package list",
            )
    return expected


#: Hashes a ``RECORD`` line may use (the wheel spec: sha256 or stronger).
RECORD_HASHES = ("sha256", "sha384", "sha512")
#: ``RECORD`` itself and its signatures are the members ``RECORD`` lists without a hash.
_UNHASHED = ("RECORD", "RECORD.jws", "RECORD.p7s")


def _member_problems(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, row: tuple[str, str], where: str
) -> list[str]:
    """A member's bytes against its ``RECORD`` row ``(hash, size)``."""
    name = info.filename[:200]
    algo, _, want = row[0].partition("=")
    if algo not in RECORD_HASHES or not want:
        return [f"{where} gives {name!r} no sha256 (or stronger) hash ({row[0][:80]!r})"]
    h = hashlib.new(algo)
    with zf.open(info) as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    got = base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()
    problems = []
    if got != want:
        problems.append(f"{where}: {name!r} has {algo}={got}, RECORD says {want}")
    if row[1] != str(info.file_size):
        problems.append(f"{where}: {name!r} has {info.file_size} bytes, RECORD says {row[1]!r}")
    return problems


def _record_problems(zf: zipfile.ZipFile, wheel: str, dist_info: str) -> list[str]:
    """Every file member listed in ``RECORD`` once, with its right hash and size; no
    ``RECORD`` line for a file the archive does not have."""
    record = f"{dist_info}/RECORD"
    try:
        text = zf.read(record).decode("utf-8")
    except KeyError:
        return [f"{wheel} has no {record}"]
    except UnicodeDecodeError:
        return [f"{wheel}: {record} is not UTF-8"]
    problems: list[str] = []
    rows: dict[str, tuple[str, str]] = {}
    for row in csv.reader(text.splitlines()):
        if not row:
            continue
        if len(row) != 3:  # path, hash, size
            problems.append(f"{wheel}: {record} has a malformed line {','.join(row)[:200]!r}")
            continue
        if row[0] in rows:
            problems.append(f"{wheel}: {record} lists {row[0][:200]!r} twice")
        rows[row[0]] = (row[1], row[2])
    members = {i.filename: i for i in zf.infolist() if not i.is_dir()}
    for name, info in members.items():
        if name.rsplit("/", 1)[-1] in _UNHASHED and name.startswith(f"{dist_info}/"):
            continue
        if name not in rows:
            problems.append(f"{wheel}: {name[:200]!r} is not listed in {record}")
        else:
            problems += _member_problems(zf, info, rows[name], f"{wheel}: {record}")
    problems += [
        f"{wheel}: {record} lists {name[:200]!r}, which the wheel does not contain"
        for name in rows
        if name not in members and not name.endswith("/")
    ]
    return problems


def content_problems(path: Path) -> list[str]:
    """What is wrong inside a wheel before it may leave (empty: nothing).

    Read with :mod:`zipfile` and :mod:`packaging`, never trusting the name: no absolute,
    ``..`` or NUL member (:func:`build_support.fsutil.unsafe_member`), no member name
    twice, one ``.dist-info``, ``RECORD`` listing every member with its right hash and
    size (and nothing else), ``METADATA``'s ``Name``/``Version`` and the ``.dist-info``
    folder's name equal to the file name's, and ``WHEEL``'s tags equal to the file
    name's.
    """
    wheel = path.name
    try:
        name = parse_name(wheel)
    except VerificationError as exc:
        return [exc.message]
    problems: list[str] = []
    try:
        with zipfile.ZipFile(path) as zf:
            names = [i.filename for i in zf.infolist()]
            problems += fsutil.member_problems(wheel, names)
            dist_info = _dist_info_dir(names)
            problems += _record_problems(zf, wheel, dist_info)
    except VerificationError as exc:
        return [*problems, exc.message]
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
        return [f"{wheel} is not a readable zip archive: {exc}"]
    stem = dist_info[: -len(".dist-info")]
    dname, _, dversion = stem.rpartition("-")
    if canonicalize_name(dname) != canonicalize_name(name.distribution) or not _same_version(
        dversion, name.version
    ):
        problems.append(f"{wheel}: its metadata folder {dist_info} names another distribution")
    try:
        meta = metadata(path)
        declared = metadata_tags(path)
    except VerificationError as exc:
        return [*problems, exc.message]
    if canonicalize_name(meta.name) != canonicalize_name(name.distribution):
        problems.append(f"{wheel}: METADATA says Name: {meta.name}, the file name says "
                        f"{name.distribution}")  # fmt: skip
    if not _same_version(str(meta.version), name.version):
        problems.append(f"{wheel}: METADATA says Version: {meta.version}, the file name says "
                        f"{name.version}")  # fmt: skip
    if declared != name.tags:
        problems.append(
            f"{wheel}: the file name's tags {sorted(str(t) for t in name.tags)} differ from "
            f"its WHEEL metadata's {sorted(str(t) for t in declared)}"
        )
    return problems


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def record_line(member: str, data: bytes) -> str:
    """The ``RECORD`` line of a wheel member: ``name,sha256=<urlsafe b64>,size``."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{member},sha256={digest},{len(data)}"


def add_dist_info_file(path: Path, name: str, data: bytes) -> str:
    """Add ``<name>.dist-info/<name>`` to the wheel and its line to ``RECORD``, in place
    (atomically). Refuses to replace a member. Returns the member's path."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    dist_info = _dist_info_dir(names)
    member, record = f"{dist_info}/{name}", f"{dist_info}/RECORD"
    if member in names:
        raise VerificationError(f"{path.name} already has {member}")
    if record not in names:
        raise VerificationError(f"{path.name} has no {record}")
    fd, tmp = tempfile.mkstemp(prefix=".add-", suffix=".whl", dir=path.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w") as dst:
            for info in src.infolist():
                content = src.read(info)
                if info.filename == record:
                    lines = content.decode("utf-8").splitlines()
                    own = [ln for ln in lines if ln.split(",", 1)[0] == record]
                    rest = [ln for ln in lines if ln.split(",", 1)[0] != record]
                    content = "".join(
                        f"{ln}\n" for ln in [*rest, record_line(member, data), *own]
                    ).encode()
                    dst.writestr(member, data, compress_type=zipfile.ZIP_DEFLATED)
                dst.writestr(info, content, compress_type=zipfile.ZIP_DEFLATED)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return member


def stamp_dist_info(path: Path, commit: str) -> str:
    """Write ``commit`` to the wheel's ``.dist-info/COMMIT`` (listed in ``RECORD``)."""
    if not SHA_RE.match(commit):
        raise VerificationError(f"refusing to stamp {commit!r}: not a 40-hex commit SHA")
    return add_dist_info_file(path, COMMIT_FILE, f"{commit}\n".encode())


def top_level_names(path: Path) -> list[str]:
    """The importable top-level names of a wheel: packages (``x/__init__.py``) and
    modules (``x.py``, ``x.<ext suffix>``), sorted, packages first."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    packages = sorted(
        {n.split("/")[0] for n in names if n.count("/") == 1 and n.endswith("/__init__.py")}
    )
    modules = sorted(
        {n.split(".")[0] for n in names if "/" not in n and n.endswith((".py", ".so", ".pyd"))}
    )
    return [*packages, *(m for m in modules if m not in packages)]


def stamp_tree(
    root: Path, files: Sequence[str], commit: str, *, placeholder: str = PLACEHOLDER
) -> list[str]:
    """Replace ``placeholder`` with ``commit`` in ``files`` (relative to ``root``)."""
    if not SHA_RE.match(commit):
        raise VerificationError(f"refusing to stamp {commit!r}: not a 40-hex commit SHA")
    stamped: list[str] = []
    for rel in files:
        target = root / rel
        text = target.read_text(encoding="utf-8")
        if placeholder in text:
            target.write_text(text.replace(placeholder, commit), encoding="utf-8")
            stamped.append(rel)
    return stamped


def build_requires(project: Path) -> list[str]:
    """``[build-system] requires`` of a PEP 517 project (setuptools' default without one)."""
    pyproject = project / "pyproject.toml"
    if not pyproject.is_file():
        return ["setuptools>=40.8.0"]
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{pyproject} is not valid TOML: {exc}") from exc
    requires = data.get("build-system", {}).get("requires", ["setuptools>=40.8.0"])
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise InputError(f"{pyproject}: [build-system] requires must be a list of strings")
    return list(requires)


#: Zip mode bits of a normalized wheel's members: executable or not, nothing else.
FILE_MODE = 0o100644
EXEC_MODE = 0o100755


def _member_order(name: str) -> tuple[int, str]:
    """Package files by name, then ``.dist-info`` by name, ``RECORD`` last (as wheel does)."""
    top = name.split("/", 1)[0]
    if top.endswith(".dist-info"):
        return (2 if name == f"{top}/RECORD" else 1, name)
    return (0, name)


def normalize(path: Path, date_time: tuple[int, int, int, int, int, int]) -> None:
    """Rewrite a wheel so its bytes depend only on its members' contents: members in a
    fixed order, no directory entries, every timestamp ``date_time`` (from
    :func:`reproducible.zip_date_time`), mode 0644 or 0755 (kept executable when any x
    bit was set), deflated at level 6. Contents (and so ``RECORD``) are unchanged.
    Atomic: a temporary file in the same folder replaces ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=".normalize-", suffix=".whl", dir=path.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w") as dst:
            members = [i for i in src.infolist() if not i.is_dir()]
            for info in sorted(members, key=lambda i: _member_order(i.filename)):
                out = zipfile.ZipInfo(info.filename, date_time=date_time)
                out.create_system = 3
                executable = (info.external_attr >> 16) & 0o111
                out.external_attr = (EXEC_MODE if executable else FILE_MODE) << 16
                out.compress_type = zipfile.ZIP_DEFLATED
                dst.writestr(out, src.read(info), compresslevel=6)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
