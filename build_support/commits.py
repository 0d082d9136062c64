"""Which commit and branch is being built: CI's variable, checked against git.

Fails closed: an unknown expected commit is an error, never a silent pass, and inside a
git checkout a variable that names another commit than ``HEAD`` is an error too (the
variable must never be both what is stamped and what it is checked against).
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from build_support import cmd, log
from build_support.errors import CommandFailedError, ToolMissingError, VerificationError

SHA_RE = re.compile(r"^[0-9a-f]{40}$")
PLACEHOLDER = "{{COMMIT_SHA}}"
#: What any stamp placeholder looks like (``{{COMMIT_SHA}}``, Ray's ``{{RAY_COMMIT_SHA}}``).
PLACEHOLDER_RE = re.compile(r"^\{\{[A-Za-z0-9_]+\}\}$")
#: The names a version module assigns its commit to.
COMMIT_NAMES = ("commit", "__commit__")

#: The override a developer (or the release-tests runner) sets, then CI's own variables.
OVERRIDE_VAR = "BUILD_SUPPORT_COMMIT"
CI_COMMIT_VARS = ("BUILDKITE_COMMIT", "GITHUB_SHA")
COMMIT_VARS = (OVERRIDE_VAR, *CI_COMMIT_VARS)


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = cmd.run(["git", *args], cwd=root, capture=True, check=False, echo=False, timeout=30)
    except (OSError, ToolMissingError, CommandFailedError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _declared(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(variable, sha)`` for every commit variable set; each must be a full SHA."""
    found: list[tuple[str, str]] = []
    for var in COMMIT_VARS:
        value = env.get(var, "").strip()
        if not value:
            continue
        if not SHA_RE.match(value):
            raise VerificationError(
                f"{var}={value!r} is not a full 40-character commit SHA",
                hint=f"set {var} to the full SHA (git rev-parse HEAD)",
            )
        found.append((var, value))
    if len({sha for _var, sha in found}) > 1:
        raise VerificationError(
            "the commit variables disagree: " + ", ".join(f"{v}={s}" for v, s in found),
            hint=f"unset {OVERRIDE_VAR}; CI's variable names the commit being built",
        )
    return found


def in_checkout(root: Path) -> bool:
    """Whether ``root`` is inside a git work tree (fails closed when git cannot tell).

    A ``.git`` at or above ``root`` that git does not read as a work tree (git missing,
    a repository it refuses as another user's, a broken ``.git``) is an error, never
    "not a checkout": that would let a variable through unchecked.
    """
    if _git(root, "rev-parse", "--is-inside-work-tree") == "true":
        return True
    here = root.resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            usable = _git(candidate, "--version") is not None
            raise VerificationError(
                f"{candidate} has a .git, but `git rev-parse` cannot read it as a checkout "
                + ("(git refuses it or it is broken)" if usable else "(git is not installed)"),
                hint="install git (apt-get install git); if it is another user's checkout: "
                f"git config --global --add safe.directory {candidate}",
            )
    return False


def expected_commit(root: Path, env: Mapping[str, str] | None = None) -> str:
    """The commit artifacts must carry, anchored in git whenever there is a checkout.

    CI's variable (``BUILDKITE_COMMIT``, ``GITHUB_SHA``) or the override
    ``BUILD_SUPPORT_COMMIT`` names the commit; inside a git checkout it must equal
    ``git rev-parse HEAD`` (the code actually being built), else VerificationError naming
    both. Without a variable, HEAD is the commit. Outside a git checkout (a source tarball,
    a copy) the variable is trusted, and that is logged; with neither, the commit is
    unknown and that is an error.
    """
    env = os.environ if env is None else env
    declared = _declared(env)
    if in_checkout(root):
        head = _git(root, "rev-parse", "HEAD")
        if not head or not SHA_RE.match(head):
            raise VerificationError(
                f"`git rev-parse HEAD` failed in {root}: the checkout has no commit to build",
                hint="commit first (git commit), or build from a checkout with history",
            )
        if declared and declared[0][1] != head:
            var, sha = declared[0]
            raise VerificationError(
                f"{var}={sha}, but the checkout at {root} is at {head} (git rev-parse HEAD): "
                f"artifacts built here would carry {sha} without containing its code",
                hint=f"check out that commit (git checkout {sha}), or unset {var} to build HEAD",
            )
        return head
    if declared:
        var, sha = declared[0]
        log.warn(f"{root} is not a git checkout: trusting {var}={sha} as the commit")
        return sha
    raise VerificationError(
        "the expected commit is unknown: no "
        + "/".join(COMMIT_VARS)
        + f" variable, and {root} is not a git checkout",
        hint="build from a git checkout, or set BUILDKITE_COMMIT (or BUILD_SUPPORT_COMMIT)",
    )


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


def commit_from_source(text: str, where: str) -> str | None:
    """The string assigned to ``commit``/``__commit__`` in a Python source, if any."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise VerificationError(f"{where} is not valid Python: {exc}") from exc
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in COMMIT_NAMES
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    return None
