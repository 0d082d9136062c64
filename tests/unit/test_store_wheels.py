"""F2: which stored wheel of a distribution belongs to this commit for Python X on
platform P is one query (``store.wheels.best_wheel``, ``wheelfile.best_fit``), and the
release tests pick the wheel the images stage picks."""

from __future__ import annotations

from pathlib import Path

import pytest

from build_support.errors import ArtifactNotFoundError
from build_support.releasetests.sources import LocalWheels, StoreWheels
from build_support.store import LocalStore, keys
from build_support.store import wheels as store_wheels

SHA = "a" * 40
PLATFORM = "manylinux2014_x86_64"
#: Sorted by key: the pure wheel sorts after the one built for cp311, and the musllinux
#: and manylinux_2_28 wheels (which never install on a manylinux2014 target) after both.
NAMES = [
    "minray-1.0-cp311-cp311-manylinux2014_x86_64.whl",
    "minray-1.0-cp311-cp311-manylinux_2_28_x86_64.whl",
    "minray-1.0-cp311-cp311-musllinux_1_2_x86_64.whl",
    "minray-1.0-py3-none-any.whl",
    "other-1.0-cp311-cp311-manylinux2014_x86_64.whl",
]


@pytest.fixture
def stored(tmp_path: Path) -> LocalStore:
    s = LocalStore(tmp_path / "store")
    for name in NAMES:
        source = tmp_path / name
        source.write_bytes(name.encode())
        s.put(keys.wheel_key("main", SHA, name), source)
    (tmp_path / "notes.txt").write_text("not a wheel\n")
    s.put(keys.wheel_key("main", SHA, "notes.txt"), tmp_path / "notes.txt")
    return s


def test_commit_wheels_are_the_commits_wheels_only(stored: LocalStore) -> None:
    found = store_wheels.commit_wheels(stored, branch="main", sha=SHA)
    assert [o.key.rsplit("/", 1)[-1] for o in found] == NAMES


def test_release_tests_take_the_best_fit_not_the_last_match(
    stored: LocalStore, tmp_path: Path
) -> None:
    """The release tests once took the last key that matched (the ``py3-none-any`` wheel);
    the images stage takes the most specific fit. Both take the cp311 manylinux2014 wheel."""
    best = store_wheels.best_wheel(
        stored, branch="main", sha=SHA, dist="minray", python="3.11", platform=PLATFORM
    )
    assert best.key.endswith("/minray-1.0-cp311-cp311-manylinux2014_x86_64.whl")
    wheels = StoreWheels(stored, branch="main", sha=SHA, dist="minray", platform=PLATFORM)
    got, digest = wheels.fetch("3.11", tmp_path / "dl")
    assert got.name == "minray-1.0-cp311-cp311-manylinux2014_x86_64.whl"
    assert digest == best.sha256
    # Python 3.12: only the pure wheel installs
    got, _ = wheels.fetch("3.12", tmp_path / "dl")
    assert got.name == "minray-1.0-py3-none-any.whl"


def test_local_wheels_take_the_best_fit_not_the_first_given(tmp_path: Path) -> None:
    paths = []
    for name in reversed(NAMES):
        (tmp_path / name).write_bytes(b"x")
        paths.append(tmp_path / name)
    got, _ = LocalWheels(paths, dist="minray", platform=PLATFORM).fetch("3.11", tmp_path)
    assert got.name == "minray-1.0-cp311-cp311-manylinux2014_x86_64.whl"


def test_no_fit_names_the_key_expected_and_what_is_there(stored: LocalStore) -> None:
    with pytest.raises(ArtifactNotFoundError) as info:
        store_wheels.best_wheel(
            stored, branch="main", sha=SHA, dist="other", python="3.12", platform=PLATFORM
        )
    text = str(info.value)
    assert f"main/{SHA}/other-<version>-cp312-cp312-{PLATFORM}.whl" in text
    assert "minray-1.0-py3-none-any.whl" in text
    assert "nox -s wheel" in (info.value.hint or "")
