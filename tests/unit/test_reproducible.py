"""Reproducible outputs, the pure parts: zip normalization and the comparisons that name
the first difference (``--check-reproducible`` of wheel, jars and lock)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from build_support import reproducible, wheelfile
from build_support.errors import VerificationError
from tests.conftest import git

DIST = "pkg-1.0.dist-info"


def _zip(
    path: Path,
    members: list[tuple[str, bytes, tuple[int, int, int, int, int, int], int]],
) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, when, mode in members:
            info = zipfile.ZipInfo(name, date_time=when)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


MONDAY = (2026, 11, 23, 10, 0, 0)
TUESDAY = (2026, 11, 24, 17, 30, 2)


def _wheel(
    path: Path, order: list[str], when: tuple[int, int, int, int, int, int], umask: int
) -> Path:
    data = {
        "pkg/__init__.py": b"x = 1\n",
        "pkg/tool.sh": b"#!/bin/sh\n",
        f"{DIST}/METADATA": b"Name: pkg\n",
        f"{DIST}/RECORD": b"...\n",
        "pkg/": b"",
    }
    modes = {"pkg/tool.sh": 0o100777 & ~umask, "pkg/": 0o040777 & ~umask}
    return _zip(path, [(n, data[n], when, modes.get(n, 0o100666 & ~umask)) for n in order])


def test_normalize_makes_order_time_and_modes_irrelevant(tmp_path: Path) -> None:
    a = _wheel(
        tmp_path / "a.whl",
        ["pkg/", "pkg/tool.sh", f"{DIST}/RECORD", "pkg/__init__.py", f"{DIST}/METADATA"],
        MONDAY,
        0o022,
    )
    b = _wheel(
        tmp_path / "b.whl",
        [f"{DIST}/METADATA", "pkg/__init__.py", f"{DIST}/RECORD", "pkg/tool.sh", "pkg/"],
        TUESDAY,
        0o002,
    )
    assert reproducible.first_zip_difference(a, b) is not None
    stamp = reproducible.zip_date_time(1_700_000_000)
    for path in (a, b):
        wheelfile.normalize(path, stamp)
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == [
        "pkg/__init__.py",
        "pkg/tool.sh",
        f"{DIST}/METADATA",
        f"{DIST}/RECORD",  # last, as wheel writes it; no directory entries
    ]
    assert {i.date_time for i in infos} == {(2023, 11, 14, 22, 13, 20)}
    assert [i.external_attr >> 16 for i in infos] == [0o100644, 0o100755, 0o100644, 0o100644]


def test_zip_date_time_clamps_to_what_zip_holds() -> None:
    assert reproducible.zip_date_time(0) == (1980, 1, 1, 0, 0, 0)
    assert reproducible.zip_date_time(1_700_000_000) == (2023, 11, 14, 22, 13, 20)


def test_first_zip_difference_names_the_member_and_what_differs(tmp_path: Path) -> None:
    base = [
        ("a.txt", b"same", MONDAY, 0o100644),
        ("lib.so", b"\x7fELF" + b"\0" * 8, MONDAY, 0o100755),
    ]
    a = _zip(tmp_path / "a.zip", base)
    assert reproducible.first_zip_difference(a, _zip(tmp_path / "same.zip", base)) is None

    other = [base[0], ("lib.so", b"\x7fELF" + b"\0" * 5 + b"\1\0\0", MONDAY, 0o100755)]
    got = reproducible.first_zip_difference(a, _zip(tmp_path / "c.zip", other))
    assert got == "lib.so: content differs (12 / 12 bytes, first difference at byte 9)"

    later = [(base[0][0], base[0][1], TUESDAY, 0o100644), base[1]]
    got = reproducible.first_zip_difference(a, _zip(tmp_path / "t.zip", later))
    assert got is not None
    assert got.startswith("a.txt: timestamp")

    mode = [(base[0][0], base[0][1], MONDAY, 0o100664), base[1]]
    assert reproducible.first_zip_difference(a, _zip(tmp_path / "m.zip", mode)) == (
        "a.txt: permissions 0o100644 / 0o100664"
    )
    swapped = _zip(tmp_path / "s.zip", [base[1], base[0]])
    assert reproducible.first_zip_difference(a, swapped) == (
        "member order or names differ: a.txt / lib.so"
    )
    more = _zip(tmp_path / "x.zip", [*base, ("new", b"", MONDAY, 0o100644)])
    assert reproducible.first_zip_difference(a, more) == "new: only in the second build"


def test_first_text_difference() -> None:
    assert reproducible.first_text_difference("a\nb\n", "a\nb\n") is None
    assert reproducible.first_text_difference("a\nb\n", "a\nc\n") == "line 2: 'b' != 'c'"
    assert reproducible.first_text_difference("a\n", "a\nb\n") == "line 2: None != 'b'"


def test_require_identical_names_every_differing_output(tmp_path: Path) -> None:
    ok = reproducible.Comparison("x.whl", tmp_path, tmp_path, None)
    bad = reproducible.Comparison("y.whl", tmp_path, tmp_path, "y/_core.so: content differs")
    reproducible.require_identical([ok])
    with pytest.raises(VerificationError) as info:
        reproducible.require_identical([ok, bad])
    assert info.value.exit_code == 13
    assert "1 of 2 output(s) differ" in info.value.message
    assert "y.whl: y/_core.so: content differs" in info.value.message


def test_build_env_maps_build_folders_and_keeps_given_flags() -> None:
    env = reproducible.build_env(1234, {"/tmp/bs-wheel-x": "/bs"}, base={"CFLAGS": "-O2"})
    assert env == {
        "SOURCE_DATE_EPOCH": "1234",
        "CFLAGS": "-O2 -ffile-prefix-map=/tmp/bs-wheel-x=/bs",
        "CXXFLAGS": "-ffile-prefix-map=/tmp/bs-wheel-x=/bs",
    }


@pytest.mark.subprocess
def test_source_date_epoch_is_the_commit_time(git_repo: Path) -> None:
    sha = git(git_repo, "rev-parse", "HEAD")
    when = int(git(git_repo, "show", "-s", "--format=%ct", "HEAD"))
    assert reproducible.source_date_epoch(git_repo, sha, env={}) == when
    assert reproducible.source_date_epoch(git_repo, sha, env={"SOURCE_DATE_EPOCH": "99"}) == 99
    with pytest.raises(VerificationError, match="not a number"):
        reproducible.source_date_epoch(git_repo, sha, env={"SOURCE_DATE_EPOCH": "yesterday"})
    outside = git_repo.parent / "not-a-repo"
    outside.mkdir()
    assert reproducible.source_date_epoch(outside, sha, env={}) == reproducible.ZIP_EPOCH
