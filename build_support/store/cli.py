"""``python -m build_support.store put|get|ls|promote|rm|wait …`` (also ``nox -s store --``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from build_support import commits, log
from build_support.args import StageParser, non_negative_float
from build_support.config import Config
from build_support.errors import ArtifactNotFoundError, UsageError
from build_support.store import keys
from build_support.store.base import Store


def _parser() -> argparse.ArgumentParser:
    common = StageParser(add_help=False)
    common.add_argument(
        "--store",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="store URL (default: BUILD_SUPPORT_STORE, else artifact_store in pyproject)",
    )
    p = StageParser(prog="python -m build_support.store", parents=[common])
    sub = p.add_subparsers(dest="command", required=True, parser_class=StageParser)

    put = sub.add_parser("put", parents=[common], help="upload files")
    put.add_argument("files", nargs="+", type=Path, metavar="FILE")
    put.add_argument("key", metavar="KEY", help="the key, or a prefix ending in '/'")

    get = sub.add_parser("get", parents=[common], help="download and verify an object")
    get.add_argument("key", metavar="KEY")
    get.add_argument(
        "dest",
        nargs="?",
        default=".",
        metavar="DEST",
        help="a file, or a folder to put it in (a folder that ends with '/' is created)",
    )

    ls = sub.add_parser("ls", parents=[common], help="list objects under a prefix")
    ls.add_argument("prefix", nargs="?", default="", metavar="PREFIX")
    ls.add_argument("--json", action="store_true", help="print JSON on stdout")

    promote = sub.add_parser(
        "promote", parents=[common], help="copy {branch}/{sha}/FILE to latest/FILE"
    )
    promote.add_argument("files", nargs="*", metavar="FILE", help="default: all of the commit's")
    promote.add_argument(
        "--branch",
        help="default: the current branch (CI variables or git); must be the default branch",
    )
    promote.add_argument("--sha", help="default: the expected commit (CI variables or git)")

    rm = sub.add_parser("rm", parents=[common], help="delete objects")
    rm.add_argument("keys", nargs="+", metavar="KEY")

    wait = sub.add_parser("wait", parents=[common], help="wait for an object to appear")
    wait.add_argument("key", metavar="KEY")
    wait.add_argument(
        "--timeout", type=non_negative_float, help="seconds (default: wait_timeout_seconds)"
    )
    wait.add_argument(
        "--interval", type=non_negative_float, help="seconds (default: wait_interval_seconds)"
    )
    wait.add_argument("--producer", help="the stage that produces it (for the error message)")
    return p


def main(argv: list[str], cfg: Config) -> int:
    from build_support.store import open_store

    args = _parser().parse_args(argv)
    store = open_store(cfg, getattr(args, "store", None))
    handler = {
        "put": _put,
        "get": _get,
        "ls": _ls,
        "promote": _promote,
        "rm": _rm,
        "wait": _wait,
    }[args.command]
    return handler(store, args, cfg)


def _put(store: Store, args: argparse.Namespace, _cfg: Config) -> int:
    files: list[Path] = args.files
    key: str = args.key
    if len(files) > 1 and not key.endswith("/"):
        raise UsageError(
            f"store put: {len(files)} files but one key {key!r}",
            hint="end the key with '/' to put several files under a prefix",
        )
    summary = log.Summary("store put", headers=("key", "size", "sha256"))
    for f in files:
        target = key + f.name if key.endswith("/") else key
        info = store.put(target, f)
        summary.add(key=info.key, size=log.human_size(info.size), sha256=info.sha256)
    summary.emit()
    return 0


def _get(store: Store, args: argparse.Namespace, _cfg: Config) -> int:
    store.get(args.key, args.dest)
    return 0


def _ls(store: Store, args: argparse.Namespace, _cfg: Config) -> int:
    objects = store.list(args.prefix)
    if args.json:
        print(json.dumps([o.__dict__ for o in objects], indent=2))
    else:
        rows = [[o.key, str(o.size), o.sha256] for o in objects]
        print(log.format_table(("key", "size", "sha256"), rows))
    return 0


def _promote(store: Store, args: argparse.Namespace, cfg: Config) -> int:
    """Copy one commit's files to ``latest/``: the default branch only, never a PR."""
    pr = commits.pull_request()
    job = commits.BuildContext(
        branch=commits.current_branch(cfg.root),
        sha=args.sha or "",
        pr_number=pr.number if pr else None,
        dirty=False,
        pr_evidence=pr.evidence if pr else "",
    )
    branch: str = args.branch or job.branch
    # Both the build promoted and the job promoting it must be on the default branch.
    keys.check_promotion(job, cfg.default_branch)
    promoted = dataclasses.replace(job, branch=branch)
    keys.check_promotion(promoted, cfg.default_branch)
    sha: str = args.sha or commits.context(cfg.root).sha
    prefix = keys.commit_prefix(branch, sha)
    names: list[str] = list(args.files) or [
        o.key[len(prefix) :] for o in store.list(prefix) if "/" not in o.key[len(prefix) :]
    ]
    if not names:
        raise ArtifactNotFoundError(
            f"nothing to promote: {store.url} has no objects under {prefix}",
            hint="run the wheel stage for this commit first",
        )
    summary = log.Summary("store promote", headers=("from", "to", "sha256"))
    for name in names:
        info = store.promote(
            keys.wheel_key(branch, sha, name),
            ctx=promoted,
            default_branch=cfg.default_branch,
        )
        summary.add(**{"from": prefix + name, "to": info.key, "sha256": info.sha256})
    summary.emit()
    return 0


def _rm(store: Store, args: argparse.Namespace, _cfg: Config) -> int:
    for key in args.keys:
        existed = store.delete(key)
        log.info(f"store: {'deleted' if existed else 'already absent:'} {key}")
    return 0


def _wait(store: Store, args: argparse.Namespace, _cfg: Config) -> int:
    info = store.wait_for(
        args.key, timeout=args.timeout, interval=args.interval, producer=args.producer
    )
    log.info(f"store: {info.key} is there ({log.human_size(info.size)})")
    return 0
