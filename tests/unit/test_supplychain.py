"""SBOMs, statements, envelopes and the one check (build_support.supplychain)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import CryptoSigner

from build_support.errors import AttestationError, ConfigError, VerificationError
from build_support.supplychain import attest, check, invocation, provenance, sbom, signing
from build_support.supplychain.settings import ProvenanceSettings

SHA = "a" * 64
COMMIT = "1" * 40
NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.timezone.utc)


def _pem(path: Path) -> Path:
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _bom(sha: str = SHA) -> str:
    return sbom.document(
        sbom.Part(name="minray", version="1.0", purl="pkg:pypi/minray@1.0", sha256=sha),
        [
            sbom.Part(
                name="cython",
                version="3.0.12",
                purl="pkg:pypi/cython@3.0.12",
                role="build-requirement",
                build_only=True,
            ),
            sbom.Part(name="libz.so.1", sha256="b" * 64, role="grafted-library"),
        ],
        tool_version="0.1.0",
        timestamp=NOW,
    )


def _envelope(signer: CryptoSigner, *, sha: str = SHA, commit: str = COMMIT, bom: str) -> str:
    st = provenance.statement(
        provenance.Subject(name="minray-1.0-py3-none-any.whl", sha256=sha),
        provenance.Facts(commit=commit, branch="main", repository="file:///repo",
                         inputs={"requirements/lock.txt": "c" * 64}, toolchain={"cython": "3"}),
        sbom=provenance.Subject(name="x.cdx.json", sha256=hashlib.sha256(bom.encode()).hexdigest()),
        inv=invocation.Invocation("wheel", ("manylinux2014_x86_64",), NOW),
        finished=NOW,
        env={},
    )  # fmt: skip
    return signing.sign(st, [signer])


@pytest.fixture
def signer(tmp_path: Path) -> CryptoSigner:
    settings = ProvenanceSettings(key_file=str(_pem(tmp_path / "k.pem")))
    (s,) = signing.signers(settings, root=tmp_path, env={})
    assert isinstance(s, CryptoSigner)
    return s


def _check(signer: CryptoSigner, envelope: str | None, bom: str | None, **kw: object) -> object:
    args: dict[str, object] = {"commit_inside": COMMIT, "keys": [signer.public_key], "threshold": 1}
    args.update(kw)
    return check.check("minray-1.0-py3-none-any.whl", str(args.pop("sha", SHA)),
                       statement_text=envelope, sbom_text=bom, **args)  # type: ignore[arg-type]  # fmt: skip


def test_sbom_validates_and_names_its_parts() -> None:
    data = sbom.validate(_bom(), "bom")
    assert data["specVersion"] == "1.6"
    assert sbom.subject_of(data) == ("minray", "1.0", SHA)
    roles = {p.name: (p.role, p.build_only) for p in sbom.parts_of(data)}
    assert roles == {"cython": ("build-requirement", True), "libz.so.1": ("grafted-library", False)}


def test_sbom_validator_refuses_a_broken_document() -> None:
    data = json.loads(_bom())
    data["components"][0]["type"] = "not-a-type"
    with pytest.raises(VerificationError, match=r"not a valid CycloneDX 1\.6"):
        sbom.validate(json.dumps(data), "bom")


def test_a_signed_statement_verifies_and_reads_back(signer: CryptoSigner) -> None:
    bom = _bom()
    v = _check(signer, _envelope(signer, bom=bom), bom)
    assert isinstance(v, check.Verified)
    assert v.reading.commit == COMMIT
    assert v.reading.stage == "wheel"
    assert v.reading.arguments == ("manylinux2014_x86_64",)
    assert v.keyids == (signer.public_key.keyid,)
    assert v.components == 2


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("bytes", "names other bytes"),
        ("commit-inside", "the artifact carries"),
        ("expected", "not the expected"),
        ("key", "badly signed"),
        ("sbom", "not the one the statement names"),
        ("no-statement", "no provenance statement"),
        ("no-sbom", "no SBOM"),
        ("garbage", "unreadable provenance statement"),
        ("payload", "badly signed"),
    ],
)
def test_check_refuses_with_the_reason(
    signer: CryptoSigner, tmp_path: Path, change: str, reason: str
) -> None:
    bom = _bom()
    envelope = _envelope(signer, bom=bom)
    kw: dict[str, object] = {}
    if change == "bytes":
        kw["sha"] = "f" * 64
    elif change == "commit-inside":
        kw["commit_inside"] = "2" * 40
    elif change == "expected":
        kw["expected_commit"] = "2" * 40
    elif change == "key":
        other = signing.signers(
            ProvenanceSettings(key_file=str(_pem(tmp_path / "o.pem"))), root=tmp_path, env={}
        )[0]
        envelope = _envelope(other, bom=bom)  # type: ignore[arg-type]
    elif change == "sbom":
        bom = _bom().replace("3.0.12", "3.0.13")
    elif change == "no-statement":
        envelope = None  # type: ignore[assignment]
    elif change == "no-sbom":
        bom = None  # type: ignore[assignment]
    elif change == "garbage":
        envelope = "{not json\n"
    elif change == "payload":  # the signature no longer covers the payload
        data = json.loads(envelope)
        st = json.loads(__import__("base64").b64decode(data["payload"]))
        st["subject"][0]["digest"]["sha256"] = "f" * 64
        data["payload"] = __import__("base64").b64encode(json.dumps(st).encode()).decode()
        envelope = json.dumps(data)
        kw["sha"] = "f" * 64
    with pytest.raises(AttestationError, match=reason) as info:
        _check(signer, envelope, bom, **kw)
    assert info.value.exit_code == 16


def test_unverified_subject_reads_without_a_key(signer: CryptoSigner) -> None:
    assert attest.unverified_subject(_envelope(signer, bom=_bom())) == (SHA, COMMIT)


def test_builder_ids_come_from_ci_variables_or_the_host() -> None:
    url = "https://buildkite.example/org/minray/builds/7"
    bk = {"BUILDKITE": "true", "BUILDKITE_BUILD_URL": url, "BUILDKITE_JOB_ID": "j1"}
    assert invocation.builder(bk) == ("https://buildkite.example/org/minray", f"{url}#j1")
    ref = "o/r/.github/workflows/ci.yml@refs/heads/main"
    gh = {"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.example",
          "GITHUB_REPOSITORY": "o/r", "GITHUB_WORKFLOW_REF": ref,
          "GITHUB_RUN_ID": "9", "GITHUB_RUN_ATTEMPT": "2"}  # fmt: skip
    builder, run = invocation.builder(gh)
    assert builder == "https://github.example/o/r/.github/workflows/ci.yml@refs/heads/main"
    assert run == "https://github.example/o/r/actions/runs/9/attempts/2"
    assert invocation.builder({})[0].startswith("urn:build-support:host:")


def test_a_missing_key_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        signing.signers(ProvenanceSettings(key_file="nope.pem"), root=tmp_path, env={})


def test_the_development_key_is_made_once(tmp_path: Path) -> None:
    env = {"BUILD_SUPPORT_CACHE": str(tmp_path / "cache")}
    (a,) = signing.signers(ProvenanceSettings(), root=tmp_path, env=env)
    (b,) = signing.signers(ProvenanceSettings(), root=tmp_path, env=env)
    assert a.public_key.keyid == b.public_key.keyid
    assert (signing.dev_key_path(env).stat().st_mode & 0o777) == 0o600


def test_dpkg_status_and_pip_freeze_become_components() -> None:
    status = (
        "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13\n\n"
        "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n"
    )
    (deb,) = attest.dpkg_packages(status)
    assert (deb.name, deb.purl) == ("zlib1g", "pkg:deb/debian/zlib1g@1:1.2.13?arch=amd64")
    pips = attest.pip_packages("numpy==2.1.0\n# comment\nMinRay==1.0\n-e git+x\n")
    assert [p.purl for p in pips] == ["pkg:pypi/numpy@2.1.0", "pkg:pypi/minray@1.0"]
