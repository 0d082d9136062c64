"""``python -m build_support verify PATH…``: check downloaded artifacts against their
statements and SBOMs, and say who built each from what.

For each wheel, JAR or POM at PATH the statement is ``PATH.intoto.jsonl`` and the SBOM
``PATH.cdx.json`` (``--statement`` / ``--sbom`` name other files when one PATH is given).
The statement must be signed by a trusted key (``--key PEM`` or a gpg fingerprint; else
``[tool.build_support.provenance] trusted_keys`` and this machine's signing key), name
the file's SHA-256 and the commit read from inside the file (and ``--commit``, if given);
the SBOM must be the one the statement names and validate as CycloneDX 1.6.
Exit 0 when every artifact passes, 16 (AttestationError) when any is refused, 6 when a
file is missing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from build_support import fsutil, log
from build_support.args import StageParser
from build_support.config import Config
from build_support.errors import AttestationError, InputError, UsageError, VerificationError
from build_support.supplychain import attest, check, signing


def _parser() -> argparse.ArgumentParser:
    p = StageParser(prog="nox -s verify --", description=__doc__)
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="wheel, JAR or POM")
    p.add_argument("--statement", type=Path, help="the .intoto.jsonl (one PATH only)")
    p.add_argument("--sbom", type=Path, help="the .cdx.json (one PATH only)")
    p.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="PEM|FPR",
        help="trust this public key (PEM file) or gpg fingerprint (repeatable); with --key "
        "this machine's own signing key is not trusted",
    )
    p.add_argument("--commit", help="also require this commit (40 hex)")
    p.add_argument("--json", type=Path, help="write the results as JSON here")
    return p


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def main(argv: list[str], cfg: Config) -> int:
    args = _parser().parse_args(argv)
    if (args.statement or args.sbom) and len(args.paths) != 1:
        raise UsageError("--statement and --sbom go with exactly one PATH")
    settings = attest.settings_of(cfg)
    keys = signing.trusted_keys(settings, root=cfg.root, extra=args.key,
                                include_own=not args.key)  # fmt: skip
    results: list[dict[str, object]] = []
    refused: list[str] = []
    for path in args.paths:
        if not path.is_file():
            raise InputError(f"{path} does not exist or is not a file")
        sha = fsutil.sha256_file(path)
        try:
            inside = check.commit_inside(path, cfg)
        except VerificationError as exc:
            inside = f"unreadable ({exc.message})"
        try:
            v = check.check(
                path.name,
                sha,
                statement_text=_read(args.statement or Path(f"{path}{attest.STATEMENT_SUFFIX}")),
                sbom_text=_read(args.sbom or Path(f"{path}{attest.SBOM_SUFFIX}")),
                keys=keys,
                threshold=settings.threshold,
                commit_inside=inside,
                expected_commit=args.commit,
            )
        except AttestationError as exc:
            log.error(f"verify: REFUSED {exc.message}")
            refused.append(exc.message)
            results.append({"artifact": path.name, "sha256": sha, "ok": False,
                            "reason": exc.message})  # fmt: skip
            continue
        r = v.reading
        log.success(f"verify: {path.name} sha256:{sha}")
        print(f"  built by   {r.builder} ({r.invocation})")
        print(f"  from       commit {r.commit}" + (f" (read inside: {inside})" if inside else ""))
        print(f"  stage      {r.stage} {' '.join(r.arguments)}".rstrip())
        print(f"  when       {r.started} .. {r.finished}")
        for name, digest in sorted(r.inputs.items()):
            print(f"  input      {name} sha256:{digest}")
        print(f"  signed by  key id(s) {', '.join(v.keyids)}")
        print(f"  SBOM       CycloneDX 1.6, {v.components} component(s)")
        results.append({"artifact": path.name, "sha256": sha, "ok": True, "commit": r.commit,
                        "builder": r.builder, "stage": r.stage, "keyids": list(v.keyids),
                        "components": v.components})  # fmt: skip
    if args.json:
        fsutil.write_atomic(args.json, json.dumps(results, indent=2) + "\n")
    if refused:
        raise AttestationError(
            f"{len(refused)} of {len(args.paths)} artifact(s) refused:\n  " + "\n  ".join(refused),
            hint="do not use these files; fetch them (and their .intoto.jsonl and .cdx.json) "
            "again from the project's registry, or ask its release engineers",
        )
    return 0
