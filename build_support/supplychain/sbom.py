"""CycloneDX 1.6 JSON SBOMs, made with cyclonedx-python-lib and checked by its validator.

An SBOM describes one artifact (``metadata.component``: name, version, purl, SHA-256) and
what went into it (``components``): build requirements pinned by the lockfile (scope
``excluded``: used to build, not shipped), libraries grafted in by auditwheel, native
libraries of a JAR, Python distributions and Debian packages of an image. Each part
carries a ``build-support:role`` property saying which.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from build_support.errors import VerificationError

MEDIA_TYPE = "application/vnd.cyclonedx+json"
SPEC_VERSION = "1.6"
ROLE = "build-support:role"


@dataclass(frozen=True, kw_only=True)
class Part:
    """One component: the artifact itself, or something in it or used to make it."""

    name: str
    version: str = ""
    #: A CycloneDX component type: library, application, container, operating-system, file.
    kind: str = "library"
    purl: str = ""
    sha256: str = ""
    role: str = ""
    #: Used to build the artifact, not shipped in it (CycloneDX scope ``excluded``).
    build_only: bool = False

    @property
    def ref(self) -> str:
        return self.purl or f"{self.role or 'part'}:{self.name}@{self.version or '-'}"


def _component(part: Part) -> Any:
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.component import Component, ComponentScope, ComponentType
    from packageurl import PackageURL

    return Component(
        name=part.name,
        version=part.version or None,
        type=ComponentType(part.kind),
        purl=PackageURL.from_string(part.purl) if part.purl else None,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=part.sha256)] if part.sha256 else [],
        scope=ComponentScope.EXCLUDED if part.build_only else None,
        properties=[Property(name=ROLE, value=part.role)] if part.role else [],
        bom_ref=part.ref,
    )


def document(
    subject: Part, parts: Sequence[Part], *, tool_version: str, timestamp: dt.datetime
) -> str:
    """The SBOM of ``subject`` as CycloneDX 1.6 JSON (serial number derived from its hash)."""
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    bom = Bom()
    bom.serial_number = uuid.uuid5(
        uuid.NAMESPACE_URL, f"build-support:{subject.ref}:{subject.sha256}"
    )
    bom.metadata.timestamp = timestamp
    main = _component(subject)
    bom.metadata.component = main
    bom.metadata.tools.components.add(
        Component(name="build-support", version=tool_version, type=ComponentType.APPLICATION)
    )
    seen: set[str] = set()
    children = []
    for part in parts:
        if part.ref in seen or part.ref == subject.ref:
            continue
        seen.add(part.ref)
        child = _component(part)
        bom.components.add(child)
        children.append(child)
    bom.register_dependency(main, children)
    for child in children:
        bom.register_dependency(child, [])
    return JsonV1Dot6(bom).output_as_string(indent=2) + "\n"


def validate(text: str, where: str) -> dict[str, Any]:
    """The parsed SBOM when the CycloneDX 1.6 schema accepts it; else VerificationError."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise VerificationError(
            f"{where} is not a valid CycloneDX {SPEC_VERSION} SBOM: {error}",
            hint="rebuild the artifact to write its SBOM again",
        )
    data = json.loads(text)
    if not isinstance(data, dict):  # pragma: no cover - the schema requires an object
        raise VerificationError(f"{where} is not a JSON object")
    return data


def subject_of(data: dict[str, Any]) -> tuple[str, str, str]:
    """``(name, version, sha256)`` of the SBOM's ``metadata.component``."""
    comp = data.get("metadata", {}).get("component", {})
    sha = next(
        (h.get("content", "") for h in comp.get("hashes", []) if h.get("alg") == "SHA-256"), ""
    )
    return str(comp.get("name", "")), str(comp.get("version", "")), str(sha)


def parts_of(data: dict[str, Any]) -> list[Part]:
    """The components of a parsed SBOM, as parts (for reports and tests)."""
    out = []
    for c in data.get("components", []):
        props = {p.get("name"): p.get("value") for p in c.get("properties", [])}
        sha = next((h["content"] for h in c.get("hashes", []) if h.get("alg") == "SHA-256"), "")
        out.append(
            Part(
                name=c.get("name", ""),
                version=c.get("version", ""),
                kind=c.get("type", "library"),
                purl=c.get("purl", ""),
                sha256=sha,
                role=str(props.get(ROLE, "")),
                build_only=c.get("scope") == "excluded",
            )
        )
    return out
