"""Which commit and branch is being built: CI variables first, then git.

Fails closed: an unknown expected commit is an error, never a silent pass.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from build_support import cmd
from build_support.errors import CommandFailedError, ToolMissingError, VerificationError

SHA_RE = re.compile(r"^[0-9a-f]{40}$")
PLACEHOLDER = "{{COMMIT_SHA}}"

COMMIT_VARS = ("BUILD_SUPPORT_COMMIT", "BUILDKITE_COMMIT", "GITHUB_SHA")


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = cmd.run(["git", *args], cwd=root, capture=True, check=False, echo=False, timeout=30)
    except (OSError, ToolMissingError, CommandFailedError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def expected_commit(root: Path, env: Mapping[str, str] | None = None) -> str:
    """The commit artifacts must carry: CI's variable, else ``git rev-parse HEAD``."""
    env = os.environ if env is None else env
    for var in COMMIT_VARS:
        value = env.get(var, "").strip()
        if value:
            if not SHA_RE.match(value):
                raise VerificationError(
                    f"{var}={value!r} is not a full 40-character commit SHA",
                    hint=f"set {var} to the full SHA (git rev-parse HEAD)",
                )
            return value
    sha = _git(root, "rev-parse", "HEAD")
    if not sha or not SHA_RE.match(sha):
        raise VerificationError(
            "the expected commit is unknown: no "
            + "/".join(COMMIT_VARS)
            + f" variable, and `git rev-parse HEAD` failed in {root}",
            hint="build from a git checkout with at least one commit, or set BUILDKITE_COMMIT",
        )
    return sha


@dataclass(frozen=True)
class BuildContext:
    """Where in the project's history this build is: the inputs of keys, tags and gates."""

    branch: str
    sha: str
    pr_number: int | None
    dirty: bool

    @property
    def short_sha(self) -> str:
        return self.sha[:6]


def current_branch(root: Path, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    for var in ("BUILD_SUPPORT_BRANCH", "BUILDKITE_BRANCH", "GITHUB_HEAD_REF", "GITHUB_REF_NAME"):
        value = env.get(var, "").strip()
        if value:
            return value
    return _git(root, "rev-parse", "--abbrev-ref", "HEAD") or "unknown"


def pull_request_number(env: Mapping[str, str] | None = None) -> int | None:
    env = os.environ if env is None else env
    raw = env.get("BUILDKITE_PULL_REQUEST", "")
    if raw and raw != "false" and raw.isdigit():
        return int(raw)
    if env.get("GITHUB_EVENT_NAME") in ("pull_request", "pull_request_target"):
        m = re.match(r"refs/pull/(\d+)/", env.get("GITHUB_REF", ""))
        if m:
            return int(m.group(1))
    return None


def is_dirty(root: Path) -> bool:
    out = _git(root, "status", "--porcelain", "--untracked-files=no")
    return bool(out)


def context(root: Path, env: Mapping[str, str] | None = None) -> BuildContext:
    return BuildContext(
        branch=current_branch(root, env),
        sha=expected_commit(root, env),
        pr_number=pull_request_number(env),
        dirty=is_dirty(root),
    )
