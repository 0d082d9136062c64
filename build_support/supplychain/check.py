"""The one check of an artifact against its statement and SBOM (verify and publish).

Refuses, naming the reason: no statement; an envelope no trusted key signed; a statement
naming other bytes, another commit than the one inside the artifact (or the one being
published); a missing, invalid or swapped SBOM.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from build_support.errors import AttestationError, BuildSupportError
from build_support.supplychain import provenance, sbom, signing

if TYPE_CHECKING:
    from securesystemslib.signer import Key

    from build_support.config import Config


@dataclass(frozen=True)
class Verified:
    name: str
    sha256: str
    reading: provenance.Reading
    keyids: tuple[str, ...]
    components: int


def commit_inside(path: Path, cfg: Config) -> str | None:
    """The commit an artifact carries inside it (wheel, JAR); None when it has no place
    for one (a POM)."""
    from build_support import wheelfile
    from build_support.jars import pack

    if path.name.endswith(".whl"):
        return wheelfile.read_commit(path)
    if path.name.endswith(".jar"):
        from build_support.jars.settings import JarsSettings

        entry = cfg.section("jars", JarsSettings).commit_manifest_entry
        return pack.jar_commit(path, entry=entry) or "(none in the manifest)"
    return None


def check(  # noqa: PLR0912 - one refusal per way an artifact can fail
    name: str,
    sha256: str,
    *,
    statement_text: str | None,
    sbom_text: str | None,
    keys: Sequence[Key] | None,
    threshold: int,
    commit_inside: str | None,
    expected_commit: str | None = None,
    schema: bool = True,
) -> Verified:
    """The artifact ``name`` with ``sha256`` is what a trusted statement says was built.

    ``keys=None`` reads the statement without checking its signature (publish's plan
    mode, which sends nothing: ``--execute`` checks it, before anything is sent).

    ``schema=False`` skips the CycloneDX schema validation of the SBOM (publish: the stage
    validated it before signing, and the signed statement pins its digest), which keeps
    the SBOM library out of a no-change publish plan.
    """

    def refuse(reason: str) -> AttestationError:
        return AttestationError(
            f"{name}: {reason}",
            hint="rebuild the artifact with its stage (which writes and signs the statement) "
            "or fetch the statement that came with it; docs/supply-chain.md",
        )

    if statement_text is None:
        raise refuse(f"no provenance statement ({name}.intoto.jsonl) beside it")
    try:
        envelopes = signing.read_envelopes(statement_text, f"{name}.intoto.jsonl")
    except BuildSupportError as exc:
        raise refuse(f"unreadable provenance statement: {exc.message}") from None
    problems: list[str] = []
    good: list[tuple[signing.Signed, provenance.Reading]] = []
    for envelope in envelopes:  # a .intoto.jsonl may hold a statement per file of a module
        try:
            opened = (
                signing.open_envelope(envelope, keys, threshold)
                if keys is not None
                else signing.Signed(statement=signing.unverified(envelope), keyids=())
            )
            good.append((opened, provenance.read(opened.statement)))
        except ValueError as exc:
            problems.append(str(exc))
    if not good:
        raise refuse("the provenance statement is badly signed: " + "; ".join(problems))
    opened, reading = next(
        ((o, r) for o, r in good if sha256 in {s.sha256 for s in r.subjects}), good[0]
    )
    if sha256 not in {s.sha256 for s in reading.subjects}:
        named = ", ".join(f"{s.name} sha256:{s.sha256}" for s in reading.subjects)
        raise refuse(f"the statement names other bytes ({named}); the artifact is sha256:{sha256}")
    if not reading.commit:
        raise refuse("the statement names no commit")
    if commit_inside is not None and reading.commit != commit_inside:
        raise refuse(
            f"the statement names commit {reading.commit}; the artifact carries {commit_inside}"
        )
    if expected_commit is not None and reading.commit != expected_commit:
        raise refuse(
            f"the statement names commit {reading.commit}, not the expected {expected_commit}"
        )
    if sbom_text is None:
        raise refuse(f"no SBOM ({name}.cdx.json) beside it")
    if reading.sbom is not None:
        got = hashlib.sha256(sbom_text.encode("utf-8")).hexdigest()
        if got != reading.sbom.sha256:
            raise refuse(
                f"the SBOM is not the one the statement names (sha256:{got}, signed "
                f"sha256:{reading.sbom.sha256})"
            )
    try:
        data = sbom.validate(sbom_text, f"{name}.cdx.json") if schema else json.loads(sbom_text)
    except (BuildSupportError, ValueError) as exc:
        raise refuse(getattr(exc, "message", str(exc))) from None
    if not isinstance(data, dict):
        raise refuse("the SBOM is not a JSON object")
    _n, _v, bom_sha = sbom.subject_of(data)
    if bom_sha and bom_sha != sha256:
        raise refuse(f"the SBOM describes other bytes (sha256:{bom_sha})")
    return Verified(
        name=name,
        sha256=sha256,
        reading=reading,
        keyids=opened.keyids,
        components=len(data.get("components", [])),
    )
