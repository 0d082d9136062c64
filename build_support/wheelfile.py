"""Wheel checks in Python: names and tags, the stamped commit, and build-input digests.

Everything here is a pure function over files and values (no subprocesses), so the
checks that guard what leaves the wheel stage are unit-tested on tiny wheels made with
:mod:`zipfile`. A wheel is judged by its content, never by its name alone: the tags in
the file name must equal the ``Tag:`` lines of its ``WHEEL`` metadata, and the commit is
read from the ``_version.py`` inside the archive.
"""

from __future__ import annotations

import ast
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
from packaging.tags import Tag, parse_tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from build_support.commits import PLACEHOLDER, SHA_RE
from build_support.errors import InputError, VerificationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

#: Bump when the way wheels are built changes; it is part of every input digest.
#: 2: SOURCE_DATE_EPOCH, prefix maps and :func:`normalize` (reproducible wheels).
RECIPE_VERSION = 2

_VERSION_FILE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*/_version\.py$")
_COMMIT_NAMES = ("commit", "__commit__")


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


_ARCHES = ("x86_64", "aarch64", "i686", "ppc64le", "s390x", "armv7l", "arm64", "universal2")


def _platform_fits(have: str, want: str) -> bool:
    """A wheel tagged ``have`` installs where ``want`` is the target platform tag."""
    if have in (want, "any"):
        return True
    linux = ("manylinux", "musllinux")
    if have.startswith(linux) and want.startswith(linux):
        return any(have.endswith(f"_{a}") and want.endswith(f"_{a}") for a in _ARCHES)
    return False


def matches(filename: str, distribution: str, *, python: str, platform: str) -> bool:
    """Whether ``filename`` is ``distribution``'s wheel for CPython ``python`` on ``platform``.

    Names are compared canonicalized; compressed tag sets count (auditwheel names wheels
    ``…-manylinux2014_x86_64.manylinux_2_17_x86_64.whl``), as do pure (``py3-none-any``)
    and ``abi3`` wheels, and any manylinux tag of the same architecture.
    """
    try:
        name = parse_name(filename)
    except VerificationError:
        return False
    if canonicalize_name(name.distribution) != canonicalize_name(distribution):
        return False
    cp = python_tag(python)
    interpreters = {cp, "py3", "py" + python.replace(".", "")}
    return any(
        t.interpreter in interpreters
        and t.abi in (cp, "abi3", "none")
        and _platform_fits(t.platform, platform)
        for t in name.tags
    )


def python_tag(version: str) -> str:
    """``"3.12"`` → ``"cp312"`` (the CPython interpreter and ABI tag)."""
    if not re.fullmatch(r"3\.\d+", version):
        raise InputError(f"invalid Python version {version!r}", hint="use the form 3.12")
    return "cp" + version.replace(".", "")


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


def commit_from_source(text: str, where: str) -> str | None:
    """The string assigned to ``commit``/``__commit__`` in a Python source, if any."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise VerificationError(f"{where} is not valid Python: {exc}") from exc
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in _COMMIT_NAMES
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    return None


def read_commits(path: Path) -> dict[str, str]:
    """``{version file: commit}`` for every top-level ``_version.py`` in the wheel."""
    found: dict[str, str] = {}
    with zipfile.ZipFile(path) as zf:
        files = version_files(zf.namelist())
        for name in files:
            text = zf.read(name).decode("utf-8")
            commit = commit_from_source(text, f"{path.name}:{name}")
            if commit is None:
                raise VerificationError(f"{path.name}:{name} assigns no commit string")
            found[name] = commit
    if not found:
        raise VerificationError(
            f"{path.name} has no <package>/_version.py, so its commit cannot be checked",
            hint=f'add `commit = "{PLACEHOLDER}"` to the package\'s _version.py',
        )
    return found


def read_commit(path: Path, package: str | None = None) -> str:
    """The commit stamped in the wheel (in ``<package>/_version.py``, or in every
    top-level ``_version.py``), read from the zip. Fails closed: the placeholder, a value
    that is not a 40-hex SHA, or two different commits are errors, never a result.
    """
    if package is None:
        found = read_commits(path)
    else:
        member = f"{package}/_version.py"
        try:
            with zipfile.ZipFile(path) as zf:
                text = zf.read(member).decode("utf-8")
        except (KeyError, zipfile.BadZipFile, OSError) as exc:
            raise VerificationError(
                f"{path.name}: cannot read {member}: {exc}", hint="rebuild it: nox -s wheel"
            ) from None
        commit = commit_from_source(text, f"{path.name}:{member}")
        if commit is None:
            raise VerificationError(f"{path.name}:{member} assigns no commit string")
        found = {member: commit}
    for name, commit in found.items():
        if commit == PLACEHOLDER:
            raise VerificationError(
                f"{path.name}:{name} still holds the placeholder {PLACEHOLDER}: "
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


def check_commit(path: Path, expected: str | None) -> str:
    """The wheel carries ``expected``; fails closed when it is unknown, absent or wrong."""
    if not expected:
        raise VerificationError(
            f"cannot verify {path.name}: the expected commit is unknown",
            hint="build from a git checkout or set BUILDKITE_COMMIT/GITHUB_SHA",
        )
    if not SHA_RE.match(expected):
        raise VerificationError(
            f"cannot verify {path.name}: expected commit {expected!r} is not a 40-hex SHA"
        )
    for name, commit in read_commits(path).items():
        if commit == PLACEHOLDER:
            raise VerificationError(
                f"{path.name}:{name} still holds the placeholder {PLACEHOLDER}, not {expected}",
                hint="the commit was not stamped: build it with `nox -s wheel`",
            )
        if commit != expected:
            raise VerificationError(
                f"{path.name}:{name} carries commit {commit}, but the expected commit "
                f"is {expected}",
                hint="rebuild from the expected commit: nox -s wheel -- --force",
            )
    return expected


def stamp_tree(root: Path, files: Sequence[str], commit: str) -> list[str]:
    """Replace the placeholder with ``commit`` in ``files`` (relative to ``root``)."""
    if not SHA_RE.match(commit):
        raise VerificationError(f"refusing to stamp {commit!r}: not a 40-hex commit SHA")
    stamped: list[str] = []
    for rel in files:
        target = root / rel
        text = target.read_text(encoding="utf-8")
        if PLACEHOLDER in text:
            target.write_text(text.replace(PLACEHOLDER, commit), encoding="utf-8")
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
