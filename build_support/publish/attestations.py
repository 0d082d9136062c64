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
from collections.abc import Sequence
from pathlib import Path

from build_support import commits, manifests
from build_support.errors import AttestationError, StoreError
from build_support.publish.gates import Failure
from build_support.publish.model import Artifact, RunEnv

#: ``Artifact.meta`` key: the store key the SBOM and statement sit beside.
META = "attestation"
GATE = "provenance"


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
    todo = [a for a in artifacts if a.meta.get("kind") != "list" and a.meta.get(META)]
    unkeyed = [
        a for a in artifacts if a.meta.get("kind") != "list" and not a.meta.get(META) and a.path
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
