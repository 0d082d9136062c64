"""What a jars build leaves: the module outputs a deploy needs, ``dist/jars/<os>/``
(replaced as a whole), the store keys, the summary rows, and the deploy check."""

from __future__ import annotations

import shutil
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from build_support import fsutil, log, manifests, platforms, store
from build_support.errors import VerificationError
from build_support.jars import poms
from build_support.jars.settings import JarsSettings


@dataclass(frozen=True)
class Built:
    module: str
    path: Path


def module_outputs(project: poms.JavaProject, *, javadoc: bool) -> list[Built]:
    """The files a deploy needs from each module's target/, checked to exist."""
    out: list[Built] = []
    missing: list[str] = []
    for m in project.modules:
        target = project.java_dir / m.directory / "target"
        stem = f"{m.artifact_id}-{project.version}"
        names = [f"{stem}.jar", f"{stem}-sources.jar"]
        if javadoc:
            names.append(f"{stem}-javadoc.jar")
        for name in names:
            path = target / name
            (out.append(Built(m.directory, path)) if path.is_file() else missing.append(str(path)))
    if missing:
        raise VerificationError(
            "Maven succeeded but these outputs are missing: " + ", ".join(missing),
            hint="check the module POMs and the parent's maven-source-plugin execution",
        )
    return out


def published_pom(project: poms.JavaProject, module: poms.Module) -> Path:
    """The POM that ``install``/``deploy`` publish (shade's reduced one when shading)."""
    base = project.java_dir / module.directory
    reduced = base / "target" / "dependency-reduced-pom.xml"
    return reduced if module.shade is not None and reduced.is_file() else base / "pom.xml"


def runtime_jar_name(settings: JarsSettings, project: poms.JavaProject) -> str:
    """The runtime JAR's file name: what each OS stores and ``multiplatform`` waits for."""
    return f"{project.module(settings.runtime_module).artifact_id}-{project.version}.jar"


def multiplatform_key(branch: str, sha: str, filename: str) -> str:
    """``jars/{branch}/{sha}/multiplatform/{filename}``."""
    return store.keys.jar_key(branch, sha, platforms.MULTIPLATFORM, filename)


def summary_row(summary: log.Summary, path: Path, key: str, started: float) -> manifests.JarFile:
    row = manifests.JarFile(
        file=path.name, size=path.stat().st_size, sha256=fsutil.sha256_file(path), key=key
    )
    summary.add(
        artifact=path.name,
        size=log.human_size(row.size),
        sha256=row.sha256,
        key=key,
        time=f"{time.monotonic() - started:.1f}s",
    )
    return row


def summary(stage: str) -> log.Summary:
    # The key is in the JSON twin; the table stays readable.
    return log.Summary(stage, headers=("artifact", "size", "sha256", "time"))


def install_dist(pairs: Sequence[tuple[Path, str]], dist: Path) -> None:
    """Replace ``dist`` as a whole with ``pairs``: never a mix of two builds."""
    with fsutil.atomic_dir(dist) as staging:
        for src, name in pairs:
            shutil.copyfile(src, staging / name)


def deploy_check(project: poms.JavaProject, directory: Path) -> list[str]:
    """What a Maven Central deploy of ``project`` would lack in ``directory``; [] when
    complete."""
    if not directory.is_dir():
        return [f"{directory} does not exist: run `nox -s jars -- linux` first"]
    parent = directory / project.parent_pom_name
    problems: list[str] = []
    rows: list[list[str]] = []
    if not parent.is_file():
        problems.append(f"{parent.name}: missing (the parent POM)")
    else:
        problems += [f"{parent.name}: no <{f}>" for f in poms.missing_metadata(parent, None)]
    for m in project.modules:
        stem = f"{m.artifact_id}-{project.version}"
        wanted = {
            "pom": f"{stem}.pom",
            "jar": f"{stem}.jar",
            "sources": f"{stem}-sources.jar",
            "javadoc": f"{stem}-javadoc.jar",
        }
        cells = [m.artifact_id]
        for what, name in wanted.items():
            path = directory / name
            ok = path.is_file() and (what == "pom" or zipfile.is_zipfile(path))
            cells.append("ok" if ok else "MISSING")
            if not ok:
                fix = (
                    "build with javadoc (drop --no-javadoc, or set javadoc = true)"
                    if what == "javadoc"
                    else "run `nox -s jars -- linux`"
                )
                problems.append(f"{name}: missing ({fix})")
        pom = directory / wanted["pom"]
        if pom.is_file():
            lacking = poms.missing_metadata(pom, parent if parent.is_file() else None)
            cells.append(", ".join(lacking) or "complete")
            problems += [f"{pom.name}: no <{f}> (nor inherited from the parent)" for f in lacking]
        else:
            cells.append("-")
        rows.append(cells)
    log.info(log.format_table(("artifact", "pom", "jar", "sources", "javadoc", "metadata"), rows))
    log.info("signatures (.asc) are made at deploy time by `publish maven` (GPG)")
    return problems
