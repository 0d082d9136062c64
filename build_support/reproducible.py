"""Reproducible outputs: build facts fixed by the commit, and the comparisons behind
``--check-reproducible`` (wheel, jars, lock).

A cache keyed on inputs is only honest if the same inputs give the same bytes. The
build gets ``SOURCE_DATE_EPOCH`` (the commit's time, from git) and compiler prefix maps
for the folders it runs in (:func:`build_env`); zips are normalized where the harness
writes them (:func:`wheelfile.normalize`, :mod:`build_support.jars.pack`). The comparisons here say
*where* two outputs differ: the first differing member of two archives, the first
differing line of two texts.
"""

from __future__ import annotations

import filecmp
import itertools
import os
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from build_support import cmd, log
from build_support.errors import BuildSupportError, VerificationError

#: The earliest time a zip entry can carry (1980-01-01 UTC).
ZIP_EPOCH = 315532800

#: The mtime of every member of the tarballs the harness writes (root filesystems, image
#: build contexts): 2020-01-01T00:00:00Z, as Ray's docker contexts.
FIXED_MTIME = 1577836800


def source_date_epoch(root: Path, sha: str, env: Mapping[str, str] | None = None) -> int:
    """``SOURCE_DATE_EPOCH`` for a build of ``sha``: the environment's when set (CI may
    pin it), else the commit's committer time read from git, else 1980-01-01 (with a
    warning: outside a checkout the time cannot come from the commit)."""
    env = os.environ if env is None else env
    given = env.get("SOURCE_DATE_EPOCH", "").strip()
    if given:
        if not given.isdigit():
            raise VerificationError(
                f"SOURCE_DATE_EPOCH={given!r} is not a number of seconds",
                hint="unset it (the commit's time is used) or set it to an integer",
            )
        return int(given)
    try:
        out = cmd.output(["git", "log", "-1", "--format=%ct", sha], cwd=root)
    except BuildSupportError:
        out = ""
    if out.strip().isdigit():
        return int(out.strip())
    log.warn(f"commit {sha[:12]} is not in a git checkout here; SOURCE_DATE_EPOCH=1980-01-01")
    return ZIP_EPOCH


def zip_date_time(epoch: int) -> tuple[int, int, int, int, int, int]:
    """A zip entry's ``date_time`` (UTC) for ``epoch``, clamped to what zip can hold."""
    y, mo, d, h, mi, s = time.gmtime(max(epoch, ZIP_EPOCH))[:6]
    return (min(y, 2107), mo, d, h, mi, s)


def build_env(
    epoch: int, prefix_maps: Mapping[str, str], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Environment for a compiler-driven build: ``SOURCE_DATE_EPOCH`` and ``CFLAGS`` (also
    ``CXXFLAGS``) with ``-ffile-prefix-map=OLD=NEW`` for each build folder, so neither
    debug info nor ``__FILE__`` carries a temporary path. Flags already set are kept."""
    base = os.environ if base is None else base
    maps = " ".join(f"-ffile-prefix-map={old}={new}" for old, new in prefix_maps.items())
    env = {"SOURCE_DATE_EPOCH": str(epoch)}
    for var in ("CFLAGS", "CXXFLAGS"):
        env[var] = " ".join(part for part in (base.get(var, ""), maps) if part)
    return env


def first_text_difference(a: str, b: str, *, start: int = 1) -> str | None:
    """``line N: 'x' != 'y'`` for the first line where ``a`` and ``b`` differ, or None;
    lines are numbered from ``start`` (the texts' first line number in their file)."""
    if a == b:
        return None
    pairs = itertools.zip_longest(a.splitlines(), b.splitlines())
    for number, (x, y) in enumerate(pairs, start=start):
        if x != y:
            return f"line {number}: {x!r} != {y!r}"
    return "line endings differ"


def _first_byte(x: bytes, y: bytes) -> int:
    return next(
        (i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q), min(len(x), len(y))
    )


def first_zip_difference(a: Path, b: Path) -> str | None:
    """Where two zips (wheels, JARs) differ, first in archive order: a member only one
    has, another order, a member's content (with the first differing byte), timestamp,
    permissions or compression; then anything else (zip comment, extra fields). None
    when the files are byte-identical."""
    if filecmp.cmp(a, b, shallow=False):
        return None
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
        for x, y in itertools.zip_longest(za.infolist(), zb.infolist()):
            if x is None or y is None:
                extra = (y or x).filename
                return f"{extra}: only in the {'second' if x is None else 'first'} build"
            found = _member_difference(za, zb, x, y)
            if found:
                return found
    return "archive metadata differs (zip comment, headers)"


def _member_difference(
    za: zipfile.ZipFile, zb: zipfile.ZipFile, x: zipfile.ZipInfo, y: zipfile.ZipInfo
) -> str | None:
    name = x.filename
    if name != y.filename:
        return f"member order or names differ: {name} / {y.filename}"
    da, db = za.read(x), zb.read(y)
    checks = (
        (
            da != db,
            f"content differs ({len(da)} / {len(db)} bytes, first difference at byte "
            + str(_first_byte(da, db))
            + ")",
        ),
        (x.date_time != y.date_time, f"timestamp {x.date_time} / {y.date_time}"),
        (
            x.external_attr != y.external_attr,
            f"permissions {oct(x.external_attr >> 16)} / {oct(y.external_attr >> 16)}",
        ),
        (
            (x.compress_type, x.compress_size) != (y.compress_type, y.compress_size),
            "compression differs",
        ),
        (x.extra != y.extra, "extra fields differ"),
    )
    return next((f"{name}: {text}" for differs, text in checks if differs), None)


@dataclass(frozen=True)
class Comparison:
    """One output built twice: what it is, the two files, and where they differ."""

    what: str
    first: Path
    second: Path
    difference: str | None

    @property
    def identical(self) -> bool:
        return self.difference is None


def compare_zips(what: str, first: Path, second: Path) -> Comparison:
    return Comparison(what, first, second, first_zip_difference(first, second))


def require_identical(comparisons: Sequence[Comparison]) -> None:
    """A VerificationError naming each output that differs and its first difference (the
    stage's name is the error's prefix, added where it is caught)."""
    bad = [c for c in comparisons if not c.identical]
    if bad:
        lines = "\n".join(f"  {c.what}: {c.difference}" for c in bad)
        raise VerificationError(
            f"{len(bad)} of {len(comparisons)} output(s) differ between two builds"
            f" of the same inputs:\n{lines}",
            hint="the named member or line embeds something of the build (a time, a temporary"
            " path, a random value) or of a changing source (the package index); see"
            " --check-reproducible in docs/<stage>.md",
        )
