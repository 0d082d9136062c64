"""The typed records between stages: one writer, one reader, versioned."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from build_support import fsutil, manifests
from build_support.errors import InputError

SHA = "a" * 40


def _image(name: str, python: str = "3.11", image_id: str = "sha256:1") -> manifests.ImageRow:
    return manifests.ImageRow(
        name=name, image_id=image_id, refs=(f"ns/{name}:t",), built=True, input_digest="d",
        commit=SHA, python=python, flavor="cpu", arch="x86_64", base="ubuntu:22.04",
    )  # fmt: skip


RECORDS: list[tuple[Path, object]] = [
    (
        manifests.wheels_path(Path("dist")),
        manifests.WheelsManifest(
            commit=SHA,
            branch="main",
            wheels=(
                manifests.WheelRow(
                    wheel="minray-0.1.0-cp311-cp311-manylinux2014_x86_64.whl",
                    project="python",
                    python="3.11",
                    platform="manylinux2014_x86_64",
                    size=10,
                    sha256="b" * 64,
                    seconds=1.5,
                    cached=False,
                    mode="native",
                    store_key="main/x/y.whl",
                    digest="c" * 64,
                ),
            ),
        ),
    ),
    (
        Path("record.json"),
        manifests.WheelCacheRecord(
            wheel="w.whl",
            key="k",
            sha256="b" * 64,
            size=1,
            python="3.11.2",
            platform="manylinux2014_x86_64",
            commit=SHA,
            project="python",
            import_commit=None,
            digest="c" * 64,
        ),
    ),
    (manifests.images_path(Path("dist")), manifests.ImagesManifest(images=(_image("minray"),))),
    (
        manifests.jars_path(Path("dist"), "linux"),
        manifests.JarsManifest(
            os="linux",
            branch="main",
            commit=SHA,
            version="0.1.0",
            natives=("linux-x86_64", "linux-aarch64"),
            files=(manifests.JarFile(file="a.jar", size=3, sha256="d" * 64, key="jars/k"),),
        ),
    ),
    (
        manifests.release_summary_path(Path("run")),
        manifests.ReleaseTestSummary(run_id="r", commit=SHA, exit_code=None, total=0),
    ),
    (
        manifests.pipeline_path(Path("dist")),
        manifests.PipelineManifest(
            exit_code=0,
            steps=(
                manifests.PipelineStep(
                    name="wheel", stage="wheel", argv=("x",), exit_code=0, seconds=1.0
                ),
            ),
        ),
    ),
]


@pytest.mark.parametrize(("rel", "record"), RECORDS, ids=lambda v: type(v).__name__)
def test_round_trip(tmp_path: Path, rel: Path, record: manifests.Record) -> None:
    path = tmp_path / rel
    manifests.write(path, record)
    data = json.loads(path.read_text())
    assert data["kind"] == record.KIND
    assert data["schema"] == record.SCHEMA
    assert manifests.read(path, type(record)) == record


def test_paths_are_the_ones_the_stages_share() -> None:
    dist = Path("/p/dist")
    assert manifests.images_path(dist) == Path("/p/dist/images/images.json")
    assert manifests.wheels_path(dist) == Path("/p/dist/wheels.json")
    assert manifests.jars_path(dist, "multiplatform") == Path("/p/dist/jars/multiplatform.json")
    assert manifests.wheel_cache_key("ab") == "cache/wheels/ab.json"


def test_unknown_schema_version_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "images.json"
    manifests.write(path, manifests.ImagesManifest())
    data = json.loads(path.read_text())
    data["schema"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="schema version 99") as info:
        manifests.read(path, manifests.ImagesManifest)
    assert "nox -s images" in str(info.value)


def test_hand_written_or_old_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "images.json"
    path.write_text(json.dumps({"images": []}))
    with pytest.raises(InputError, match="older build_support or by hand"):
        manifests.read(path, manifests.ImagesManifest)


def test_wrong_kind_missing_file_and_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "wheels.json"
    manifests.write(path, manifests.ImagesManifest())
    with pytest.raises(InputError, match="'images' record, not 'wheels'"):
        manifests.read(path, manifests.WheelsManifest)
    with pytest.raises(InputError, match=r"does not exist: `nox -s wheel` has not run"):
        manifests.read(tmp_path / "none.json", manifests.WheelsManifest)
    path.write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        manifests.read(path, manifests.WheelsManifest)


def test_field_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "images.json"
    manifests.write(path, manifests.ImagesManifest(images=(_image("minray"),)))
    data = json.loads(path.read_text())
    data["images"][0]["built"] = "yes"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"images\[0\]\.built must be bool, not str"):
        manifests.read(path, manifests.ImagesManifest)
    del data["images"][0]["built"]
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="missing field 'built'"):
        manifests.read(path, manifests.ImagesManifest)
    data["images"][0]["built"] = True
    data["images"][0]["colour"] = "red"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"unknown field.*colour"):
        manifests.read(path, manifests.ImagesManifest)


def test_images_merge_replaces_the_same_slot_only() -> None:
    old = manifests.ImagesManifest(
        images=(_image("minray", "3.11", "sha256:old"), _image("minray", "3.12", "sha256:12"))
    )
    new = old.merged((_image("minray", "3.11", "sha256:new"),))
    assert [r.image_id for r in new.images] == ["sha256:12", "sha256:new"]
    found = new.find("minray", python="3.11", flavor="cpu", arch="x86_64")
    assert found is not None
    assert found.image_id == "sha256:new"
    assert new.find("minray", python="3.11", flavor="gpu", arch="x86_64") is None


def test_write_atomic_keeps_mode_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    fsutil.write_atomic(target, "one\n")
    target.chmod(0o640)
    fsutil.write_atomic(target, b"two\n")
    assert target.read_text() == "two\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_write_atomic_failure_keeps_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    fsutil.write_atomic(target, "old\n")

    def half_write() -> None:
        with fsutil.atomic_open(target) as fh:
            fh.write(b"half")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        half_write()
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_concurrent_writers_never_share_a_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "shared.json"
    payloads = [("x" * 200_000 + str(i)) for i in range(8)]
    errors: list[BaseException] = []

    def writer(text: str) -> None:
        try:
            for _ in range(5):
                fsutil.write_atomic(target, text)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert target.read_text() in payloads  # one whole payload, never a mix
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.json"]


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    seen: list[int] = []
    assert fsutil.sha256_file(path, seen.append) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert seen == [3]


def test_atomic_dir_replaces_a_folder_whole_or_not_at_all(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    with fsutil.atomic_dir(dest) as staging:
        (staging / "a").write_text("1")
    assert sorted(p.name for p in dest.iterdir()) == ["a"]
    with fsutil.atomic_dir(dest) as staging:
        (staging / "b").write_text("2")
    assert sorted(p.name for p in dest.iterdir()) == ["b"]  # old files gone, never mixed

    def failing() -> None:
        with fsutil.atomic_dir(dest) as staging:
            (staging / "c").write_text("3")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        failing()
    assert sorted(p.name for p in dest.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging left behind


def test_record_file_names_are_spelled_only_in_manifests(project_root: Path) -> None:
    """A path typo between two stages cannot come back: no other module of the library
    spells a record's file name in code (docstrings may mention it)."""
    import ast

    names = {
        manifests.wheels_path(Path()).name,
        manifests.images_path(Path()).name,
        manifests.pipeline_path(Path()).name,
    }
    offenders = []
    for path in sorted((project_root / "build_support").rglob("*.py")):
        if path.name == "manifests.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and any(n in node.value for n in names)
            ):
                offenders.append(f"{path.relative_to(project_root)}:{node.lineno}: {node.value!r}")
    assert offenders == []
