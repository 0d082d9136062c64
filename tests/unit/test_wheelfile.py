"""Wheel checks on tiny real wheels made with zipfile: tags, commits, digests."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from build_support import inputcache, wheelfile
from build_support.commits import PLACEHOLDER
from build_support.errors import InputError, VerificationError
from tests.publishing import tiny_wheel

SHA_A = "a" * 40
SHA_B = "b" * 40
PLAT = "manylinux2014_x86_64"


def make_wheel(
    directory: Path,
    *,
    filename: str = f"minray-0.1.0-cp312-cp312-{PLAT}.whl",
    tags: tuple[str, ...] = (f"cp312-cp312-{PLAT}",),
    version_py: str | None = f'version = "0.1.0"\ncommit = "{SHA_A}"\n',
    package: str = "minray",
) -> Path:
    path = directory / filename
    dist_info = "minray-0.1.0.dist-info"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{package}/__init__.py", "")
        if version_py is not None:
            zf.writestr(f"{package}/_version.py", version_py)
        wheel_meta = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
        wheel_meta += "".join(f"Tag: {t}\n" for t in tags)
        zf.writestr(f"{dist_info}/WHEEL", wheel_meta)
        zf.writestr(
            f"{dist_info}/METADATA", "Metadata-Version: 2.1\nName: minray\nVersion: 0.1.0\n"
        )
        zf.writestr(f"{dist_info}/RECORD", "")
    return path


# --- names and tags ----------------------------------------------------------------------------


def test_parse_name_expands_compressed_tags() -> None:
    name = wheelfile.parse_name(
        "minray-0.1.0-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    )
    assert name.distribution == "minray"
    assert name.version == "0.1.0"
    assert name.platforms == {"manylinux2014_x86_64", "manylinux_2_17_x86_64"}
    assert name.interpreters == {"cp312"}


def test_parse_name_rejects_non_wheel_names() -> None:
    with pytest.raises(VerificationError, match="not a valid wheel file name"):
        wheelfile.parse_name("minray-0.1.0.tar.gz")


def test_python_tag() -> None:
    assert wheelfile.python_tag("3.10") == "cp310"
    with pytest.raises(InputError):
        wheelfile.python_tag("py3")


def test_check_tags_accepts_repaired_wheel(tmp_path: Path) -> None:
    both = ("cp311-cp311-manylinux2014_aarch64", "cp311-cp311-manylinux_2_17_aarch64")
    wheel = make_wheel(
        tmp_path,
        filename="minray-0.1.0-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64.whl",
        tags=both,
    )
    name = wheelfile.check_tags(wheel, platform="manylinux2014_aarch64", python="3.11")
    assert "manylinux_2_17_aarch64" in name.platforms


def test_check_tags_rejects_renamed_wheel(tmp_path: Path) -> None:
    # Ray's old hack: rename linux_x86_64 to manylinux2014 without repairing.
    wheel = make_wheel(tmp_path, tags=("cp312-cp312-linux_x86_64",))
    with pytest.raises(VerificationError, match="differ from its WHEEL metadata"):
        wheelfile.check_tags(wheel, platform=PLAT, python="3.12")


def test_check_tags_rejects_other_platform(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    with pytest.raises(VerificationError, match="not the requested manylinux2014_aarch64"):
        wheelfile.check_tags(wheel, platform="manylinux2014_aarch64", python="3.12")


def test_check_tags_rejects_other_python(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    with pytest.raises(VerificationError, match="expected cp311"):
        wheelfile.check_tags(wheel, platform=PLAT, python="3.11")


def test_metadata_without_tags_is_an_error(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, tags=())
    with pytest.raises(VerificationError, match="declares no Tag"):
        wheelfile.metadata_tags(wheel)


# --- commits ----------------------------------------------------------------------------------


def test_commit_right(tmp_path: Path) -> None:
    assert wheelfile.check_commit(make_wheel(tmp_path), SHA_A) == SHA_A


def test_commit_wrong_names_both(tmp_path: Path) -> None:
    with pytest.raises(VerificationError) as info:
        wheelfile.check_commit(make_wheel(tmp_path), SHA_B)
    assert SHA_A in str(info.value)
    assert SHA_B in str(info.value)


def test_commit_missing_version_file(tmp_path: Path) -> None:
    with pytest.raises(VerificationError, match=r"no <package>/_version\.py"):
        wheelfile.check_commit(make_wheel(tmp_path, version_py=None), SHA_A)


def test_commit_version_file_without_commit(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, version_py='version = "0.1.0"\n')
    with pytest.raises(VerificationError, match="assigns no commit"):
        wheelfile.check_commit(wheel, SHA_A)


def test_commit_unstamped_placeholder(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, version_py=f'commit = "{PLACEHOLDER}"\n')
    with pytest.raises(VerificationError, match="still holds the placeholder"):
        wheelfile.check_commit(wheel, SHA_A)


@pytest.mark.parametrize("expected", [None, ""])
def test_commit_unknown_expected_fails_closed(tmp_path: Path, expected: str | None) -> None:
    with pytest.raises(VerificationError, match="expected commit is unknown"):
        wheelfile.check_commit(make_wheel(tmp_path), expected)


def test_commit_malformed_expected(tmp_path: Path) -> None:
    with pytest.raises(VerificationError, match="not a 40-hex SHA"):
        wheelfile.check_commit(make_wheel(tmp_path), "unknown")


def test_dunder_commit_is_read(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, version_py=f'__commit__ = "{SHA_B}"\n')
    assert wheelfile.read_commits(wheel) == {"minray/_version.py": SHA_B}


def test_nested_version_files_are_not_the_package_commit() -> None:
    names = ["minray/_version.py", "minray/sub/_version.py", "other/_version.py", "x.py"]
    assert wheelfile.version_files(names) == ["minray/_version.py", "other/_version.py"]


# --- stamping ---------------------------------------------------------------------------------


def test_stamp_tree_replaces_placeholder_only_where_present(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "_version.py").write_text(f'commit = "{PLACEHOLDER}"\n')
    (tmp_path / "other_version.py").write_text("commit = 'x'\n")
    stamped = wheelfile.stamp_tree(tmp_path, ["pkg/_version.py", "other_version.py"], SHA_A)
    assert stamped == ["pkg/_version.py"]
    assert (tmp_path / "pkg" / "_version.py").read_text() == f'commit = "{SHA_A}"\n'
    assert (tmp_path / "other_version.py").read_text() == "commit = 'x'\n"


def test_stamp_tree_refuses_non_sha(tmp_path: Path) -> None:
    with pytest.raises(VerificationError, match="not a 40-hex"):
        wheelfile.stamp_tree(tmp_path, [], "unknown")


# --- input digests ----------------------------------------------------------------------------

FILES = {"minray/_core.pyx": "1" * 64, "setup.py": "2" * 64}
FACTS = {"python": "3.12.1", "platform": PLAT, "commit": SHA_A, "build_requires": ["Cython"]}


def test_digest_is_stable_and_order_independent() -> None:
    first = inputcache.digest(wheelfile.RECIPE_VERSION, FILES, FACTS)
    reordered = inputcache.digest(
        wheelfile.RECIPE_VERSION,
        dict(reversed(list(FILES.items()))),
        dict(reversed(list(FACTS.items()))),
    )
    assert first == reordered
    assert len(first) == 64


@pytest.mark.parametrize(
    ("files", "facts"),
    [
        ({**FILES, "setup.py": "3" * 64}, FACTS),
        ({**FILES, "new.py": "4" * 64}, FACTS),
        (FILES, {**FACTS, "python": "3.12.2"}),
        (FILES, {**FACTS, "platform": "manylinux2014_aarch64"}),
        (FILES, {**FACTS, "commit": SHA_B}),
        (FILES, {**FACTS, "build_requires": ["Cython==3.0.12"]}),
    ],
)
def test_digest_changes_with_any_input(files: dict[str, str], facts: dict[str, object]) -> None:
    recipe = wheelfile.RECIPE_VERSION
    assert inputcache.digest(recipe, files, facts) != inputcache.digest(recipe, FILES, FACTS)


def test_file_hashes_follow_content(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    before = inputcache.file_hashes(tmp_path, ["a.py"])
    (tmp_path / "a.py").write_text("x = 2\n")
    assert inputcache.file_hashes(tmp_path, ["a.py"]) != before


def test_build_requires(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools==75.8.0", "Cython==3.0.12"]\n'
    )
    assert wheelfile.build_requires(tmp_path) == ["setuptools==75.8.0", "Cython==3.0.12"]
    (tmp_path / "pyproject.toml").write_text("[build-system\n")
    with pytest.raises(InputError, match="not valid TOML"):
        wheelfile.build_requires(tmp_path)


# --- the one reader of a wheel's commit (the release-test runner and publish use it) -----------


def test_read_commit_returns_the_stamped_sha(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    assert wheelfile.read_commit(wheel) == SHA_A
    assert wheelfile.read_commit(wheel, "minray") == SHA_A


@pytest.mark.parametrize(
    ("commit", "message"),
    [
        (PLACEHOLDER, "placeholder"),
        ("abc123", "not a 40-hex commit SHA"),
        ("A" * 40, "not a 40-hex commit SHA"),
        ("", "not a 40-hex commit SHA"),
    ],
)
def test_read_commit_fails_closed(tmp_path: Path, commit: str, message: str) -> None:
    wheel = make_wheel(tmp_path, version_py=f'commit = "{commit}"\n')
    for package in (None, "minray"):
        with pytest.raises(VerificationError, match=message):
            wheelfile.read_commit(wheel, package)


def test_read_commit_refuses_two_different_commits(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    with zipfile.ZipFile(wheel, "a") as zf:
        zf.writestr("other/_version.py", f'commit = "{SHA_B}"\n')
    with pytest.raises(VerificationError, match="different commits"):
        wheelfile.read_commit(wheel)
    assert wheelfile.read_commit(wheel, "other") == SHA_B


@pytest.mark.parametrize(
    ("filename", "python", "platform", "ok"),
    [
        ("Minray-0.1.0-cp311-cp311-manylinux2014_x86_64.whl", "3.11", PLAT, True),
        ("minray-0.1.0-cp38-abi3-manylinux2014_x86_64.whl", "3.11", PLAT, True),
        ("minray-0.1.0-cp311-cp311-manylinux_2_5_x86_64.manylinux1_x86_64.whl", "3.11", PLAT, True),
        ("minray-0.1.0-py3-none-any.whl", "3.12", PLAT, True),
        # a newer glibc than manylinux2014's 2.17, or musl: not installable on the target
        ("minray-0.1.0-cp311-abi3-manylinux_2_28_x86_64.whl", "3.11", PLAT, False),
        ("minray-1.0-cp311-cp311-manylinux_2_28_x86_64.whl", "3.11", PLAT, False),
        ("minray-1.0-cp311-cp311-musllinux_1_2_x86_64.whl", "3.11", PLAT, False),
        ("minray-1.0-cp311-cp311-manylinux2014_x86_64.whl", "3.11", "musllinux_1_2_x86_64", False),
        ("minray-1.0-cp311-cp311-musllinux_1_1_x86_64.whl", "3.11", "musllinux_1_2_x86_64", True),
        ("minray-1.0-cp311-cp311-manylinux2014_x86_64.whl", "3.11", "manylinux_2_28_x86_64", True),
        (
            "minray-0.1.0-cp311-cp311-manylinux2014_x86_64.whl",
            "3.11",
            "manylinux2014_aarch64",
            False,
        ),
        ("minray-0.1.0-cp312-cp312-macosx_12_0_arm64.whl", "3.12", "macosx_12_0_arm64", True),
        ("minray-0.1.0-cp312-cp312-macosx_12_0_arm64.whl", "3.12", PLAT, False),
        ("minray-0.1.0-cp311-cp311-linux_x86_64.whl", "3.11", PLAT, False),
    ],
)
def test_matches(filename: str, python: str, platform: str, *, ok: bool) -> None:
    assert wheelfile.matches(filename, "minray", python=python, platform=platform) is ok


def test_the_manylinux2014_ladder_goes_down_to_manylinux1_and_never_up() -> None:
    ladder = wheelfile.platform_ladder("manylinux2014_aarch64")
    assert ladder[:3] == [
        "manylinux_2_17_aarch64",
        "manylinux2014_aarch64",
        "manylinux_2_16_aarch64",
    ]
    assert ladder[-1] == "manylinux1_aarch64"
    assert "manylinux2010_aarch64" in ladder
    assert not [p for p in ladder if "musllinux" in p or p.startswith("manylinux_2_2")]
    assert wheelfile.platform_ladder("linux_x86_64") == ["linux_x86_64"]


def test_rank_puts_the_most_specific_wheel_first() -> None:
    def rank(filename: str) -> int | None:
        return wheelfile.rank(filename, "minray", python="3.11", platform=PLAT)

    exact = rank("minray-1.0-cp311-cp311-manylinux2014_x86_64.whl")
    old_glibc = rank("minray-1.0-cp311-cp311-manylinux1_x86_64.whl")
    abi3 = rank("minray-1.0-cp38-abi3-manylinux2014_x86_64.whl")
    pure = rank("minray-1.0-py3-none-any.whl")
    found = [exact, old_glibc, abi3, pure]
    assert None not in found
    assert found == sorted(found)  # type: ignore[type-var]
    assert len(set(found)) == 4
    assert rank("minray-1.0-cp311-cp311-musllinux_1_2_x86_64.whl") is None
    assert rank("other-1.0-cp311-cp311-manylinux2014_x86_64.whl") is None


def test_requirements_read_with_packaging_metadata(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    assert wheelfile.requirements(wheel) == []
    with zipfile.ZipFile(wheel) as zin:
        entries = {n: zin.read(n) for n in zin.namelist() if not n.endswith("/METADATA")}
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        zf.writestr(
            "minray-0.1.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: minray\nVersion: 0.1.0\n"
            "Requires-Dist: numpy>=1.20\n"
            'Requires-Dist: pytest ; extra == "test"\n'
            'Requires-Dist: never ; python_version < "3"\n'
            "Provides-Extra: test\n",
        )
    assert [str(r) for r in wheelfile.requirements(wheel)] == ["numpy>=1.20"]


# --- content: what a wheel must be before it leaves (issue 18, item 2) -----------------------


def _rewrite(src: Path, dest: Path, members: dict[str, bytes | None]) -> Path:
    """A copy of ``src`` named ``dest`` with members replaced, added (bytes) or dropped (None);
    RECORD is copied as it is."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w") as zout:
        for info in zin.infolist():
            if info.filename in members:
                continue
            zout.writestr(info, zin.read(info))
        for name, data in members.items():
            if data is not None:
                zout.writestr(name, data)
    return dest


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return tiny_wheel(tmp_path / "good", "minray", "0.1.0", SHA_A, payload=b"payload")


def test_a_sound_wheel_has_no_content_problems(good: Path) -> None:
    assert wheelfile.content_problems(good) == []


def test_a_member_not_in_record_is_a_problem(good: Path, tmp_path: Path) -> None:
    bad = _rewrite(good, tmp_path / "bad" / good.name, {"minray/extra.py": b"import os\n"})
    [problem] = wheelfile.content_problems(bad)
    assert "'minray/extra.py' is not listed in minray-0.1.0.dist-info/RECORD" in problem


def test_a_changed_member_is_a_problem_naming_both_hashes(good: Path, tmp_path: Path) -> None:
    bad = _rewrite(good, tmp_path / "bad" / good.name, {"minray/data.bin": b"PAYLOAD"})
    problems = wheelfile.content_problems(bad)
    assert any("'minray/data.bin' has sha256=" in p and "RECORD says" in p for p in problems)


def test_climbing_absolute_and_repeated_members_are_problems(good: Path, tmp_path: Path) -> None:
    bad = _rewrite(good, tmp_path / "bad" / good.name, {"../evil.pth": b"import os\n",
                                                        "/etc/x": b""})  # fmt: skip
    with zipfile.ZipFile(bad, "a") as zf, pytest.warns(UserWarning, match="Duplicate"):
        zf.writestr("minray/__init__.py", b"import evil\n")
    text = "\n".join(wheelfile.content_problems(bad))
    assert "unsafe entry '../evil.pth'" in text
    assert "unsafe entry '/etc/x'" in text
    assert "'minray/__init__.py' more than once" in text


def test_a_record_line_for_a_missing_file_is_a_problem(good: Path, tmp_path: Path) -> None:
    bad = _rewrite(good, tmp_path / "bad" / good.name, {"minray/data.bin": None})
    [problem] = wheelfile.content_problems(bad)
    assert "lists 'minray/data.bin', which the wheel does not contain" in problem


def test_metadata_must_name_the_file_names_distribution_and_version(
    good: Path, tmp_path: Path
) -> None:
    renamed = tmp_path / "bad" / "minray-0.2.0-py3-none-any.whl"
    renamed.parent.mkdir()
    renamed.write_bytes(good.read_bytes())
    text = "\n".join(wheelfile.content_problems(renamed))
    assert "METADATA says Version: 0.1.0, the file name says 0.2.0" in text
    assert "metadata folder minray-0.1.0.dist-info names another distribution" in text
