"""Maven repository layout, ``maven-metadata.xml``, and the Central bundle validator.

Pure functions over coordinates, file names and files, shared by both Maven transports
(a repository over HTTP PUT, and the Central Portal's bundle).
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from build_support.errors import InputError
from build_support.jars import poms
from build_support.publish.signing import CHECKSUMS, checksum

SNAPSHOT = "-SNAPSHOT"
_NS = {"m": poms.POM_NS}


@dataclass(frozen=True, order=True)
class Gav:
    group: str
    artifact: str
    version: str

    @property
    def snapshot(self) -> bool:
        return self.version.endswith(SNAPSHOT)

    def directory(self) -> str:
        """``io/ray/ray-api/2.40.0``."""
        return f"{self.group.replace('.', '/')}/{self.artifact}/{self.version}"

    def artifact_directory(self) -> str:
        return f"{self.group.replace('.', '/')}/{self.artifact}"

    def __str__(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"


def pom_gav(pom: Path) -> tuple[Gav, str]:
    """The coordinates and packaging of a POM (groupId/version inherited from the parent)."""
    try:
        root = ET.parse(pom).getroot()  # noqa: S314 - our own build's POM
    except (OSError, ET.ParseError) as exc:
        raise InputError(f"cannot read the POM {pom.name}: {exc}") from exc

    def text(path: str) -> str:
        node = root.find(path, _NS)
        return (node.text or "").strip() if node is not None else ""

    group = text("m:groupId") or text("m:parent/m:groupId")
    version = text("m:version") or text("m:parent/m:version")
    artifact = text("m:artifactId")
    if not (group and artifact and version):
        raise InputError(f"{pom.name} lacks groupId, artifactId or version")
    return Gav(group, artifact, version), text("m:packaging") or "jar"


def split_name(filename: str, gav: Gav) -> tuple[str, str] | None:
    """``(classifier, extension)`` of a file of ``gav`` (``("sources", "jar")``), or None."""
    stem = f"{gav.artifact}-{gav.version}"
    if not filename.startswith(stem):
        return None
    rest = filename[len(stem) :]
    m = re.fullmatch(r"(?:-([A-Za-z0-9_.]+))?\.(pom|jar|json|intoto\.jsonl)", rest)
    if m is None:
        return None
    return m.group(1) or "", m.group(2)


def snapshot_name(gav: Gav, classifier: str, extension: str, timestamp: str, build: int) -> str:
    """``artifact-1.0-20260101.120000-3-sources.jar``: Maven's timestamped snapshot name."""
    base = gav.version[: -len(SNAPSHOT)]
    tail = f"-{classifier}" if classifier else ""
    return f"{gav.artifact}-{base}-{timestamp}-{build}{tail}.{extension}"


def snapshot_timestamp(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).strftime("%Y%m%d.%H%M%S")


@dataclass(frozen=True)
class SnapshotState:
    timestamp: str
    build: int
    #: ``(classifier, extension) -> value`` (``1.0-20260101.120000-3``)
    values: Mapping[tuple[str, str], str]


def parse_snapshot_metadata(text: str) -> SnapshotState | None:
    """The latest build recorded in a version-level ``maven-metadata.xml``."""
    try:
        root = ET.fromstring(text)  # noqa: S314 - a repository's metadata, no entities used
    except ET.ParseError:
        return None
    ts = root.findtext("versioning/snapshot/timestamp") or ""
    build = root.findtext("versioning/snapshot/buildNumber") or ""
    if not ts or not build.isdigit():
        return None
    values = {
        ((sv.findtext("classifier") or ""), (sv.findtext("extension") or "")): (
            sv.findtext("value") or ""
        )
        for sv in root.findall("versioning/snapshotVersions/snapshotVersion")
    }
    return SnapshotState(ts, int(build), values)


def _now_stamp(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).strftime("%Y%m%d%H%M%S")


def snapshot_metadata(
    gav: Gav, state: SnapshotState, files: Iterable[tuple[str, str]], now: dt.datetime
) -> str:
    """A version-level ``maven-metadata.xml`` for build ``state`` with ``files`` added."""
    base = gav.version[: -len(SNAPSHOT)]
    value = f"{base}-{state.timestamp}-{state.build}"
    entries = dict(state.values)
    for key in files:
        entries[key] = value
    rows = "".join(
        "      <snapshotVersion>\n"
        + (f"        <classifier>{c}</classifier>\n" if c else "")
        + f"        <extension>{e}</extension>\n        <value>{v}</value>\n"
        + f"        <updated>{_now_stamp(now)}</updated>\n      </snapshotVersion>\n"
        for (c, e), v in sorted(entries.items())
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<metadata modelVersion="1.1.0">\n'
        f"  <groupId>{gav.group}</groupId>\n  <artifactId>{gav.artifact}</artifactId>\n"
        f"  <version>{gav.version}</version>\n  <versioning>\n    <snapshot>\n"
        f"      <timestamp>{state.timestamp}</timestamp>\n"
        f"      <buildNumber>{state.build}</buildNumber>\n    </snapshot>\n"
        f"    <lastUpdated>{_now_stamp(now)}</lastUpdated>\n"
        f"    <snapshotVersions>\n{rows}    </snapshotVersions>\n  </versioning>\n</metadata>\n"
    )


def listed_versions(metadata: str | None) -> list[str]:
    """The versions an artifact-level ``maven-metadata.xml`` lists ([] when unreadable)."""
    if not metadata:
        return []
    try:
        root = ET.fromstring(metadata)  # noqa: S314 - repository metadata
    except ET.ParseError:
        return []
    return [(v.text or "").strip() for v in root.findall("versioning/versions/version")]


def artifact_metadata(gav: Gav, existing: str | None, now: dt.datetime) -> str:
    """An artifact-level ``maven-metadata.xml`` listing ``gav.version`` among the others."""
    versions = listed_versions(existing)
    if gav.version not in versions:
        versions.append(gav.version)
    releases = [v for v in versions if not v.endswith(SNAPSHOT)]
    listed = "".join(f"      <version>{v}</version>\n" for v in versions)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<metadata>\n'
        f"  <groupId>{gav.group}</groupId>\n  <artifactId>{gav.artifact}</artifactId>\n"
        f"  <versioning>\n    <latest>{versions[-1]}</latest>\n"
        + (f"    <release>{releases[-1]}</release>\n" if releases else "")
        + f"    <versions>\n{listed}    </versions>\n"
        f"    <lastUpdated>{_now_stamp(now)}</lastUpdated>\n  </versioning>\n</metadata>\n"
    )


# -- the Central bundle validator ----------------------------------------------------------


def validate_bundle(  # noqa: PLR0912
    files: Mapping[str, Path],
    *,
    require_signatures: bool = True,
    to_sign: Iterable[str] | None = None,
) -> list[str]:
    """What Maven Central would reject in a bundle (``{path in the bundle: file}``).

    Every POM has the required metadata (inherited from a parent POM in the bundle
    counts), every ``jar`` module has its main, ``-sources`` and ``-javadoc`` JARs,
    every file is signed (``.asc``) and checksummed (``.md5`` and ``.sha1`` at least, and
    each checksum matches), and every file lies in the directory of its POM's coordinates.
    ``to_sign`` limits the signature and checksum checks to those paths (the files about
    to be sent; the others are on the target already).
    """
    problems: list[str] = []
    main = {
        p: f for p, f in files.items() if not p.endswith((".asc", *(f".{c}" for c in CHECKSUMS)))
    }
    poms_by_gav: dict[Gav, tuple[str, Path, str]] = {}
    for rel, path in sorted(main.items()):
        if rel.endswith(".pom"):
            gav, packaging = pom_gav(path)
            poms_by_gav[gav] = (rel, path, packaging)
            if rel != f"{gav.directory()}/{gav.artifact}-{gav.version}.pom":
                problems.append(f"{rel}: its coordinates {gav} put it at {gav.directory()}/")
    if not poms_by_gav:
        problems.append("no POM in the bundle")
    parents = {g.artifact: p for g, (_r, p, pk) in poms_by_gav.items() if pk == "pom"}
    for gav, (rel, path, packaging) in sorted(poms_by_gav.items()):
        parent = None
        try:
            root = ET.parse(path).getroot()  # noqa: S314 - our own build's POM
            parent_id = root.findtext("m:parent/m:artifactId", default="", namespaces=_NS)
            parent = parents.get(parent_id.strip())
        except ET.ParseError:
            parent = None
        problems += [
            f"{rel}: no <{f}> (nor inherited)" for f in poms.missing_metadata(path, parent)
        ]
        if packaging == "jar":
            for classifier in ("", "sources", "javadoc"):
                name = f"{gav.artifact}-{gav.version}{'-' + classifier if classifier else ''}.jar"
                want = f"{gav.directory()}/{name}"
                if want not in main:
                    problems.append(f"{want}: missing ({classifier or 'main'} JAR)")
                elif not zipfile.is_zipfile(main[want]):
                    problems.append(f"{want}: not a JAR")
    signing = set(main) if to_sign is None else set(to_sign)
    for rel in sorted(main):
        if not any(rel.startswith(g.directory() + "/") for g in poms_by_gav):
            problems.append(f"{rel}: not in the directory of any POM's coordinates")
        if rel not in signing:
            continue
        if require_signatures and f"{rel}.asc" not in files:
            problems.append(f"{rel}: not signed ({rel}.asc missing)")
        for algorithm in ("md5", "sha1"):
            side = files.get(f"{rel}.{algorithm}")
            if side is None:
                if require_signatures:
                    problems.append(f"{rel}: no .{algorithm} checksum")
            elif side.read_text(encoding="ascii").split()[0] != checksum(files[rel], algorithm):
                problems.append(f"{rel}.{algorithm}: does not match the file")
    return problems
