"""The provenance gate: every artifact goes out only with a statement that vouches for it.

For each artifact a target collected, the statement (``K.intoto.jsonl``) and SBOM
(``K.cdx.json``) stored beside its store object ``K`` (``meta["attestation"]``, set by
the target's ``collect``) are checked with :func:`build_support.supplychain.check.check`:
signed by a trusted key, naming the artifact's bytes, the commit read from inside it and
the commit being published. A refusal is a gate failure (exit 16 with ``--execute``),
named per artifact. Manifest lists carry no statement of their own (their member images
do) and are not checked here.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from build_support import commits, log, manifests
from build_support.errors import AttestationError, PublishError, StoreError
from build_support.publish import credentials, http
from build_support.publish.gates import Failure
from build_support.publish.model import Artifact, RunEnv

#: ``Artifact.meta`` key: the store key the SBOM and statement sit beside.
META = "attestation"
GATE = "provenance"
#: ``Artifact.meta["kind"]`` of an SBOM or statement file published beside its artifact.
KIND = "attestation"


def image_key(ctx: commits.BuildContext, row: manifests.ImageRow) -> str:
    """The store key an image's SBOM and statement sit beside (the images stage's)."""
    from build_support.supplychain import attest

    return attest.image_key(ctx, row.name, row.python, row.flavor, row.arch)


def _fetch(env: RunEnv, key: str, dest: Path) -> str | None:
    if not env.store.exists(key):
        return None
    try:
        env.store.get(key, dest)
    except StoreError:
        return None
    return dest.read_text(encoding="utf-8")


def gate(artifacts: Sequence[Artifact], env: RunEnv) -> list[Failure]:
    """A failure for each artifact whose statement or SBOM does not vouch for it."""
    from build_support.supplychain import attest, check, signing

    settings = attest.settings_of(env.cfg)
    if not settings.enabled:
        return []
    exempt = ("list", KIND)
    todo = [a for a in artifacts if a.meta.get("kind") not in exempt and a.meta.get(META)]
    unkeyed = [
        a for a in artifacts if a.meta.get("kind") not in exempt and not a.meta.get(META) and a.path
    ]
    failures = [
        Failure(GATE, f"{a.target} {a.name}: no provenance statement is known for it")
        for a in unkeyed
    ]
    if not todo:
        return failures
    # Plan mode sends nothing: it reads the statements (absent, other bytes, another
    # commit, a swapped SBOM) without loading the signature libraries; --execute also
    # checks every signature before the first byte is sent.
    keys = signing.trusted_keys(settings, root=env.cfg.root, env=env.env) if env.execute else None
    with tempfile.TemporaryDirectory(prefix="bs-provenance-gate-") as tmp:
        for n, a in enumerate(todo):
            base = a.meta[META]
            inside = a.commit if commits.SHA_RE.match(a.commit) else None
            try:
                check.check(
                    a.name,
                    a.digest.removeprefix("sha256:"),
                    statement_text=_fetch(env, attest.statement_key(base), Path(tmp) / f"{n}.s"),
                    sbom_text=_fetch(env, attest.sbom_key(base), Path(tmp) / f"{n}.b"),
                    keys=keys,
                    threshold=settings.threshold,
                    commit_inside=inside,
                    expected_commit=env.ctx.sha,
                    schema=False,  # validated by the stage; the signature pins its digest
                )
            except AttestationError as exc:
                failures.append(Failure(GATE, f"{a.target} {exc.message}"))
    return failures


def maven_files(
    artifacts: Sequence[Artifact], *, env: RunEnv, workdir: Path, gavs: dict[str, Any],
    destination: Callable[[Any, str], str],
) -> list[Artifact]:  # fmt: skip
    """The SBOMs and statements to deploy beside a module's files, as Maven names them:
    ``<artifact>-<version>-cyclonedx.json`` (the main JAR's SBOM; the POM's for a ``pom``
    module) and ``<artifact>-<version>.intoto.jsonl`` (every statement of the module's
    files, one envelope a line). They are signed and checksummed like every other file;
    ``gavs`` (file name → coordinates) learns their names."""
    from build_support import fsutil
    from build_support.supplychain import attest

    by_gav: dict[Any, list[Artifact]] = {}
    for a in artifacts:
        if a.meta.get(META) and a.name in gavs:
            by_gav.setdefault(gavs[a.name], []).append(a)
    out: list[Artifact] = []
    for gav, files in sorted(by_gav.items(), key=lambda kv: str(kv[0])):
        stem = f"{gav.artifact}-{gav.version}"
        main = next((a for a in files if a.name == f"{stem}.jar"), None) or next(
            (a for a in files if a.name == f"{stem}.pom"), None
        )
        lines: list[str] = []
        for a in sorted(files, key=lambda a: a.name):
            text = _fetch(env, attest.statement_key(a.meta[META]), workdir / f"{a.name}.st")
            if text is not None:
                lines += [line for line in text.splitlines() if line.strip()]
        made: list[tuple[str, Path]] = []
        if lines:
            path = workdir / f"{stem}.intoto.jsonl"
            fsutil.write_atomic(path, "\n".join(lines) + "\n")
            made.append((path.name, path))
        if main is not None:
            path = workdir / f"{stem}-cyclonedx.json"
            if _fetch(env, attest.sbom_key(main.meta[META]), path) is not None:
                made.append((path.name, path))
        for name, path in made:
            gavs[name] = gav
            out.append(
                Artifact(
                    target=files[0].target,
                    name=name,
                    digest=fsutil.sha256_file(path),
                    size=path.stat().st_size,
                    commit=files[0].commit,
                    version=gav.version,
                    destination=destination(gav, name),
                    phase=files[0].phase,
                    path=path,
                    meta={"gav": str(gav), "kind": KIND},
                )
            )
    return out


# --------------------------------------------------------------------------- OCI referrers

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
STATEMENT_TYPE = "application/vnd.in-toto+json"
SBOM_TYPE = "application/vnd.cyclonedx+json"


#: (registry API, repository, subject digest) this process attached to already.
_ATTACHED: set[tuple[str, str, str]] = set()


class Registry(Protocol):
    """What :func:`attach_image` needs of the Docker target: its API root, its bearer
    tokens by repository, how it gets one from a challenge, and its basic credentials."""

    api: str
    _tokens: dict[str, str]

    def _token(self, challenge: str, repo_path: str) -> str: ...

    def basic_auth(self) -> str | None: ...


def _call(
    reg: Registry, method: str, url: str, repo_path: str, *, data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> http.Response:  # fmt: skip
    """One registry request, with the bearer token its challenge asks for (push scope)."""
    key = f"{repo_path} push"
    resp = http.request(method, url, data=data, headers=headers,
                        authorization=reg._tokens.get(key) or reg.basic_auth())  # fmt: skip
    challenge = next((v for k, v in resp.headers.items() if k.lower() == "www-authenticate"), "")
    if resp.status == 401 and challenge.lower().startswith("bearer"):
        reg._tokens[key] = reg._token(challenge, repo_path)
        resp = http.request(method, url, data=data, headers=headers,
                            authorization=reg._tokens[key])  # fmt: skip
    return resp


def _blob(reg: Registry, repo_path: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    base = f"{reg.api}/v2/{repo_path}/blobs"
    if _call(reg, "HEAD", f"{base}/{digest}", repo_path).status == 200:
        return digest
    start = _call(reg, "POST", f"{base}/uploads/", repo_path, data=b"")
    location = next((v for k, v in start.headers.items() if k.lower() == "location"), "")
    if start.status != 202 or not location:
        raise PublishError(f"the registry refused a blob upload to {repo_path}: {start.status}")
    url = urllib.parse.urljoin(f"{reg.api}/", location)
    url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": digest})
    done = _call(reg, "PUT", url, repo_path, data=data,
                 headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    if done.status not in (201, 204):
        raise PublishError(f"the registry refused blob {digest} for {repo_path}: {done.status}")
    return digest


def fallback_tag(digest: str) -> str:
    """The referrers tag schema's tag for a subject digest: ``sha256-<hex>``."""
    algorithm, _, hexdigest = digest.partition(":")
    return f"{algorithm}-{hexdigest}"


def attach_image(reg: Registry, repo_path: str, tag: str, *, env: RunEnv, a: Artifact) -> list[str]:
    """Push the image's statement and SBOM (from the store) as two OCI artifacts whose
    ``subject`` is the manifest at ``repo_path:tag``. A registry that answers with an
    ``OCI-Subject`` header lists them in its referrers API; for one that does not (the
    Debian docker-registry 2.8 of the tests), the referrers tag schema's index at tag
    ``sha256-<hex>`` is updated to list them. Returns the artifact manifest digests."""
    from build_support.supplychain import attest

    base = a.meta.get(META, "")
    with tempfile.TemporaryDirectory(prefix="bs-referrers-") as tmp:
        statement = _fetch(env, attest.statement_key(base), Path(tmp) / "s")
        bom = _fetch(env, attest.sbom_key(base), Path(tmp) / "b")
    if statement is None or bom is None:
        raise PublishError(f"{a.name}: its statement or SBOM left the store")
    accept = {"Accept": ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST))}
    got = _call(reg, "GET", f"{reg.api}/v2/{repo_path}/manifests/{tag}", repo_path, headers=accept)
    if got.status != 200:
        raise PublishError(f"{repo_path}:{tag} answered {got.status}; nothing to attach to")
    media = json.loads(got.body).get("mediaType") or next(
        (v for k, v in got.headers.items() if k.lower() == "content-type"), OCI_MANIFEST
    )
    subject_digest = "sha256:" + hashlib.sha256(got.body).hexdigest()
    if (reg.api, repo_path, subject_digest) in _ATTACHED:  # another tag of the same image
        return []
    subject = {"mediaType": str(media), "digest": subject_digest, "size": len(got.body)}
    empty = _blob(reg, repo_path, b"{}")
    made: list[dict[str, Any]] = []
    for kind, text, title in (
        (STATEMENT_TYPE, statement, f"{a.name}.intoto.jsonl"),
        (SBOM_TYPE, bom, f"{a.name}.cdx.json"),
    ):
        data = text.encode("utf-8")
        layer = {"mediaType": kind, "digest": _blob(reg, repo_path, data), "size": len(data),
                 "annotations": {"org.opencontainers.image.title": title}}  # fmt: skip
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": kind,
            "config": {"mediaType": OCI_EMPTY, "digest": empty, "size": 2},
            "layers": [layer], "subject": subject,
        }, sort_keys=True, separators=(",", ":")).encode()  # fmt: skip
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        put = _call(reg, "PUT", f"{reg.api}/v2/{repo_path}/manifests/{digest}", repo_path,
                    data=manifest, headers={"Content-Type": OCI_MANIFEST})  # fmt: skip
        if put.status not in (201, 204):
            raise PublishError(
                f"the registry refused the {kind} artifact of {a.name}: {put.status} "
                f"{credentials.scrub(put.text()[:200])}"
            )
        has_api = any(k.lower() == "oci-subject" for k in put.headers)
        made.append({"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest),
                     "artifactType": kind, "api": has_api})  # fmt: skip
    if not all(m.pop("api") for m in made):
        _update_fallback(reg, repo_path, subject_digest, made, accept)
    _ATTACHED.add((reg.api, repo_path, subject_digest))
    log.info(f"{a.name}: provenance and SBOM attached to {repo_path}@{subject_digest}")
    return [m["digest"] for m in made]


def _update_fallback(
    reg: Registry, repo_path: str, subject: str, made: list[dict[str, Any]],
    accept: Mapping[str, str],
) -> None:  # fmt: skip
    tag = fallback_tag(subject)
    url = f"{reg.api}/v2/{repo_path}/manifests/{tag}"
    old = _call(reg, "GET", url, repo_path, headers=accept)
    index: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    if old.status == 200:
        index = json.loads(old.body)
    known = {m.get("digest") for m in index.get("manifests", [])}
    fresh = [m for m in made if m["digest"] not in known]
    if not fresh:  # a rerun: the index already lists them
        return
    index["manifests"] = list(index.get("manifests", [])) + fresh
    body = json.dumps(index, sort_keys=True, separators=(",", ":")).encode()
    put = _call(reg, "PUT", url, repo_path, data=body, headers={"Content-Type": OCI_INDEX})
    if put.status not in (201, 204):
        raise PublishError(f"the registry refused the referrers index {repo_path}:{tag}")
