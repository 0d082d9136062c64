"""Maven layout, metadata and the Central bundle validator, on real POMs and tiny JARs."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pytest

from build_support.errors import VerificationError
from build_support.jars import pack
from build_support.publish import mavenrepo
from build_support.publish.mavenrepo import Gav
from build_support.publish.signing import write_checksums

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 26, 1, 2, 3, tzinfo=dt.timezone.utc)


def _jar(path: Path, commit: str = "c" * 40) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("META-INF/MANIFEST.MF", f"Manifest-Version: 1.0\r\nBuild-Commit: {commit}"
                    "\r\nCreated-By: a very long value that goes on and on and on and on and"
                    "\r\n  continues on the next line\r\n\r\n")  # fmt: skip
        zf.writestr("io/minray/A.class", b"x")
    return path


def _bundle(tmp: Path, *, sign: bool = True, javadoc: bool = True,
            licenses: bool = True) -> dict[str, Path]:  # fmt: skip
    parent_text = (ROOT / "java" / "pom.xml").read_text()
    if not licenses:
        start, end = parent_text.index("<licenses>"), parent_text.index("</licenses>")
        parent_text = parent_text[:start] + parent_text[end + len("</licenses>") :]
    files: dict[str, Path] = {}
    d_parent = "io/minray/minray-parent/0.1.0"
    d_api = "io/minray/minray-api/0.1.0"
    (tmp / "minray-parent-0.1.0.pom").write_text(parent_text)
    (tmp / "minray-api-0.1.0.pom").write_text((ROOT / "java" / "api" / "pom.xml").read_text())
    files[f"{d_parent}/minray-parent-0.1.0.pom"] = tmp / "minray-parent-0.1.0.pom"
    files[f"{d_api}/minray-api-0.1.0.pom"] = tmp / "minray-api-0.1.0.pom"
    for classifier in ["", "-sources"] + (["-javadoc"] if javadoc else []):
        name = f"minray-api-0.1.0{classifier}.jar"
        files[f"{d_api}/{name}"] = _jar(tmp / name)
    for rel, path in list(files.items()):
        for side in write_checksums(path):
            files[rel + side.name[len(path.name) :]] = side
        if sign:
            asc = path.with_name(path.name + ".asc")
            asc.write_text("-----BEGIN PGP SIGNATURE-----\n")
            files[rel + ".asc"] = asc
    return files


def test_a_complete_bundle_passes(tmp_path: Path) -> None:
    assert mavenrepo.validate_bundle(_bundle(tmp_path)) == []


def test_missing_signature(tmp_path: Path) -> None:
    files = _bundle(tmp_path)
    del files["io/minray/minray-api/0.1.0/minray-api-0.1.0.jar.asc"]
    jar = "io/minray/minray-api/0.1.0/minray-api-0.1.0.jar"
    assert mavenrepo.validate_bundle(files) == [f"{jar}: not signed ({jar}.asc missing)"]


def test_missing_javadoc(tmp_path: Path) -> None:
    problems = mavenrepo.validate_bundle(_bundle(tmp_path, javadoc=False))
    assert problems == [
        "io/minray/minray-api/0.1.0/minray-api-0.1.0-javadoc.jar: missing (javadoc JAR)"
    ]


def test_pom_without_licenses(tmp_path: Path) -> None:
    problems = mavenrepo.validate_bundle(_bundle(tmp_path, licenses=False))
    assert any("minray-parent-0.1.0.pom: no <licenses>" in p for p in problems)
    assert any("minray-api-0.1.0.pom: no <licenses>" in p for p in problems)


def test_bad_checksum_and_misplaced_file(tmp_path: Path) -> None:
    files = _bundle(tmp_path)
    files["io/minray/minray-api/0.1.0/minray-api-0.1.0.jar.sha1"].write_text("0" * 40)
    files["io/minray/other/9/minray-api-0.1.0-x.jar"] = _jar(tmp_path / "x.jar")
    problems = mavenrepo.validate_bundle(files, require_signatures=False)
    assert "io/minray/minray-api/0.1.0/minray-api-0.1.0.jar.sha1: does not match the file" in (
        problems
    )
    assert any(
        p.startswith("io/minray/other/9/minray-api-0.1.0-x.jar: not in the") for p in problems
    )


def test_coordinates_names_and_snapshot_metadata(tmp_path: Path) -> None:
    files = _bundle(tmp_path)
    gav, packaging = mavenrepo.pom_gav(files["io/minray/minray-api/0.1.0/minray-api-0.1.0.pom"])
    assert (gav, packaging) == (Gav("io.minray", "minray-api", "0.1.0"), "jar")
    assert mavenrepo.split_name("minray-api-0.1.0-sources.jar", gav) == ("sources", "jar")
    assert mavenrepo.split_name("minray-api-0.1.0.pom", gav) == ("", "pom")
    assert mavenrepo.split_name("minray-apix-0.1.0.jar", gav) is None
    snap = Gav("io.minray", "minray-api", "0.2.0-SNAPSHOT")
    ts = mavenrepo.snapshot_timestamp(NOW)
    assert ts == "20261126.010203"
    assert mavenrepo.snapshot_name(snap, "sources", "jar", ts, 3) == (
        "minray-api-0.2.0-20261126.010203-3-sources.jar"
    )
    state = mavenrepo.SnapshotState(ts, 3, {})
    text = mavenrepo.snapshot_metadata(snap, state, [("", "jar"), ("sources", "jar")], NOW)
    parsed = mavenrepo.parse_snapshot_metadata(text)
    assert parsed is not None
    assert parsed.build == 3
    assert parsed.values[("sources", "jar")] == "0.2.0-20261126.010203-3"
    first = mavenrepo.artifact_metadata(gav, None, NOW)
    listing = mavenrepo.artifact_metadata(Gav("io.minray", "minray-api", "0.2.0"), first, NOW)
    assert "<version>0.1.0</version>" in listing
    assert "<release>0.2.0</release>" in listing


def test_jar_commit_reads_the_manifest(tmp_path: Path) -> None:
    jar = _jar(tmp_path / "a.jar", "d" * 40)
    assert pack.jar_commit(jar, entry="Build-Commit") == "d" * 40
    assert pack.read_manifest(jar)["Created-By"].endswith("continues on the next line")
    bare = tmp_path / "bare.jar"
    with zipfile.ZipFile(bare, "w") as zf:
        zf.writestr("x", b"")
    with pytest.raises(VerificationError, match=r"has no META-INF/MANIFEST\.MF"):
        pack.jar_commit(bare, entry="Build-Commit")


def test_listed_versions_reads_artifact_metadata() -> None:
    text = mavenrepo.artifact_metadata(Gav("io.minray", "minray-api", "0.2.0"), None, NOW)
    text = mavenrepo.artifact_metadata(Gav("io.minray", "minray-api", "0.3.0"), text, NOW)
    assert mavenrepo.listed_versions(text) == ["0.2.0", "0.3.0"]
    assert mavenrepo.listed_versions("<metadata><not-closed>") == []
    assert mavenrepo.listed_versions(None) == []
