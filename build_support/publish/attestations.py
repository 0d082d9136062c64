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

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from build_support import commits, manifests
from build_support.errors import AttestationError, StoreError
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
