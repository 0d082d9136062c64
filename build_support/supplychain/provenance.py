"""in-toto v1 Statements with an SLSA Provenance v1 predicate, one per artifact.

The statement names the artifact (``subject``: name and SHA-256) and says how it was made
(``buildDefinition``: the stage, its arguments, the commit and branch, the digests of the
lockfile and config it read) and by whom (``runDetails``: the builder from CI's variables
or the host, start and finish times, toolchain versions). The SBOM written beside the
artifact is a ``byproduct``, so a changed SBOM fails verification too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from build_support import fsutil
from build_support.supplychain import invocation

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
#: What this harness's ``buildDefinition`` means (one build_support stage run).
BUILD_TYPE = "urn:build-support:buildtype:stage:v1"


@dataclass(frozen=True, kw_only=True)
class Subject:
    name: str
    sha256: str


@dataclass(frozen=True, kw_only=True)
class Facts:
    """What a stage knows about one artifact's making (beyond the invocation)."""

    commit: str
    branch: str
    repository: str
    #: Input files by path relative to the project root (lockfile, pyproject.toml, …).
    inputs: Mapping[str, str] = field(default_factory=dict)
    #: Tool name → version (Python, Cython, auditwheel, Maven, JDK, BuildKit, …).
    toolchain: Mapping[str, str] = field(default_factory=dict)
    #: Stage-specific parameters (platform, Python, image flavor, …).
    parameters: Mapping[str, str] = field(default_factory=dict)


def file_inputs(root: Path, paths: Sequence[Path]) -> dict[str, str]:
    """``{path relative to root: sha256}`` of each existing file."""
    out: dict[str, str] = {}
    for p in paths:
        if p.is_file():
            try:
                rel = p.resolve().relative_to(root.resolve()).as_posix()
            except ValueError:
                rel = str(p)
            out[rel] = fsutil.sha256_file(p)
    return out


def _time(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def statement(
    subject: Subject,
    facts: Facts,
    *,
    sbom: Subject | None,
    inv: invocation.Invocation,
    finished: dt.datetime | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The statement as a JSON-ready dict."""
    builder_id, invocation_id = invocation.builder(env)
    deps: list[dict[str, Any]] = [
        {
            "uri": f"git+{facts.repository}@refs/heads/{facts.branch}",
            "digest": {"gitCommit": facts.commit},
        }
    ]
    deps += [
        {"name": name, "digest": {"sha256": sha}} for name, sha in sorted(facts.inputs.items())
    ]
    run: dict[str, Any] = {
        "builder": {"id": builder_id, "version": dict(sorted(facts.toolchain.items()))},
        "metadata": {
            "invocationId": invocation_id,
            "startedOn": _time(inv.started),
            "finishedOn": _time(finished or dt.datetime.now(dt.timezone.utc)),
        },
    }
    if sbom is not None:
        run["byproducts"] = [
            {
                "name": sbom.name,
                "digest": {"sha256": sbom.sha256},
                "mediaType": "application/vnd.cyclonedx+json",
            }
        ]
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject.name, "digest": {"sha256": subject.sha256}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "stage": inv.stage,
                    "arguments": list(inv.argv),
                    **dict(sorted(facts.parameters.items())),
                },
                "internalParameters": {"branch": facts.branch},
                "resolvedDependencies": deps,
            },
            "runDetails": run,
        },
    }


@dataclass(frozen=True, kw_only=True)
class Reading:
    """What a statement says, read defensively (it comes from outside)."""

    subjects: tuple[Subject, ...]
    commit: str
    stage: str
    arguments: tuple[str, ...]
    builder: str
    invocation: str
    started: str
    finished: str
    sbom: Subject | None
    inputs: Mapping[str, str]


def read(st: Mapping[str, Any]) -> Reading:
    """The fields verification needs; ValueError naming the first one missing."""
    if st.get("_type") != STATEMENT_TYPE:
        raise ValueError(f"not an in-toto v1 statement (_type {st.get('_type')!r})")
    if st.get("predicateType") != PREDICATE_TYPE:
        raise ValueError(f"predicateType {st.get('predicateType')!r} is not SLSA v1")
    try:
        subjects = tuple(
            Subject(name=str(s["name"]), sha256=str(s["digest"]["sha256"])) for s in st["subject"]
        )
        pred = st["predicate"]
        bd, rd = pred["buildDefinition"], pred["runDetails"]
        commits = [
            d["digest"]["gitCommit"]
            for d in bd["resolvedDependencies"]
            if "gitCommit" in d.get("digest", {})
        ]
        inputs = {
            str(d["name"]): str(d["digest"]["sha256"])
            for d in bd["resolvedDependencies"]
            if "name" in d and "sha256" in d.get("digest", {})
        }
        byproducts = rd.get("byproducts") or []
        sbom = (
            Subject(name=str(byproducts[0]["name"]), sha256=str(byproducts[0]["digest"]["sha256"]))
            if byproducts
            else None
        )
        ext = bd["externalParameters"]
        meta = rd.get("metadata", {})
        return Reading(
            subjects=subjects,
            commit=str(commits[0]) if len(commits) == 1 else "",
            stage=str(ext.get("stage", "")),
            arguments=tuple(str(a) for a in ext.get("arguments", [])),
            builder=str(rd["builder"]["id"]),
            invocation=str(meta.get("invocationId", "")),
            started=str(meta.get("startedOn", "")),
            finished=str(meta.get("finishedOn", "")),
            sbom=sbom,
            inputs=inputs,
        )
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"the statement lacks {exc}") from None
