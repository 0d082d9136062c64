"""Which commit and branch is being built: CI's variable, checked against git.

Fails closed: an unknown expected commit is an error, never a silent pass, and inside a
git checkout a variable that names another commit than ``HEAD`` is an error too (the
variable must never be both what is stamped and what it is checked against).
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from build_support import cmd, log, redact
from build_support.errors import (
    CommandFailedError,
    GateError,
    ToolMissingError,
    VerificationError,
)

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
class PullRequest:
    """This build is a pull request: its number when CI names one, and the evidence."""

    number: int | None
    #: The variables that say so, e.g. ``BUILDKITE_PULL_REQUEST=42``.
    evidence: str


def pull_request(env: Mapping[str, str] | None = None) -> PullRequest | None:
    """Whether this build is a pull request: the one rule every stage uses.

    Fails closed (any sign counts): ``BUILDKITE_PULL_REQUEST`` set and not ``false``;
    ``GITHUB_EVENT_NAME`` starting with ``pull_request`` (``pull_request_target`` runs on
    the base branch's ref with its secrets, and is a pull request all the same);
    ``GITHUB_REF`` under ``refs/pull/``. The number comes from Buildkite's digits or
    GitHub's ``refs/pull/<n>/`` or its event payload; a pull request whose number is not
    given is still one.
    """
    env = os.environ if env is None else env
    found: list[str] = []
    number: int | None = None
    bk = env.get("BUILDKITE_PULL_REQUEST", "").strip()
    if bk and bk != "false":
        found.append(f"BUILDKITE_PULL_REQUEST={bk}")
        number = int(bk) if bk.isdigit() else None
    event = env.get("GITHUB_EVENT_NAME", "").strip()
    if event.startswith("pull_request"):
        found.append(f"GITHUB_EVENT_NAME={event}")
    ref = env.get("GITHUB_REF", "").strip()
    if ref.startswith("refs/pull/"):
        found.append(f"GITHUB_REF={ref}")
        m = re.match(r"refs/pull/(\d+)/", ref)
        if m and number is None:
            number = int(m.group(1))
    if not found:
        return None
    if number is None and event.startswith("pull_request"):
        number = _event_number(env.get("GITHUB_EVENT_PATH", ""))
    return PullRequest(number=number, evidence=", ".join(found))


def _event_number(path: str) -> int | None:
    """The pull request's number in GitHub's event payload (``GITHUB_EVENT_PATH``), which
    ``pull_request_target`` events need: their ``GITHUB_REF`` is the base branch's."""
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        number = data.get("number", (data.get("pull_request") or {}).get("number"))
    except (OSError, ValueError, AttributeError):
        return None
    return number if isinstance(number, int) and not isinstance(number, bool) else None


@dataclass(frozen=True)
class BuildContext:
    """Where in the project's history this build is: the inputs of keys, tags and gates."""

    branch: str
    sha: str
    pr_number: int | None
    dirty: bool
    #: Why this build is a pull request ("" when it is not): :func:`pull_request`.
    pr_evidence: str = ""

    @property
    def short_sha(self) -> str:
        return self.sha[:6]

    @property
    def is_pull_request(self) -> bool:
        return self.pr_number is not None or bool(self.pr_evidence)

    def is_release_branch(self, default_branch: str) -> bool:
        """The build of ``default_branch`` and not a pull request (any sign of one, with or
        without a number: :func:`pull_request`): what may promote to ``latest/``, publish,
        and take the ``nightly`` image tags. The one home of this rule."""
        return self.branch == default_branch and not self.is_pull_request


#: The variables that name the branch, in the order they are read (the override first).
BRANCH_VARS = ("BUILD_SUPPORT_BRANCH", "BUILDKITE_BRANCH", "GITHUB_HEAD_REF", "GITHUB_REF_NAME")


def current_branch(root: Path, env: Mapping[str, str] | None = None) -> str:
    """The branch's name: a CI variable (:data:`BRANCH_VARS`), else git's, else "unknown".

    A name, not a proof: a gate that lets a branch publish also asks git whether ``HEAD``
    is on it (:func:`on_branch_problem`).
    """
    env = os.environ if env is None else env
    for var in BRANCH_VARS:
        value = env.get(var, "").strip()
        if value:
            return value
    return _git(root, "rev-parse", "--abbrev-ref", "HEAD") or "unknown"


def dirty_paths(root: Path) -> list[str] | None:
    """``git status --porcelain`` lines: tracked changes and untracked files that are not
    ignored (``.gitignore``), anywhere in the work tree; None when git cannot tell."""
    try:
        proc = cmd.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root,
                       capture=True, check=False, echo=False, timeout=60)  # fmt: skip
    except (OSError, ToolMissingError, CommandFailedError):
        return None
    if proc.returncode != 0:
        return None
    return [line for line in proc.stdout.splitlines() if line.strip()]


def is_dirty(root: Path) -> bool:
    """Tracked changes or untracked (not ignored) files: the one rule of a clean tree."""
    return bool(dirty_paths(root))


def clean_tree_problem(root: Path, *, shown: int = 20) -> str | None:
    """Why ``root`` is not a clean checkout for a ``--release`` (None when it is).

    Fails closed: a tree git cannot read (not a checkout, git missing) is not clean.
    """
    paths = dirty_paths(root)
    if paths is None:
        return f"`git status` cannot read {root}: a release needs a clean git checkout"
    if not paths:
        return None
    more = f"\n  … and {len(paths) - shown} more" if len(paths) > shown else ""
    return (
        f"uncommitted changes or untracked files in {root} (git status --porcelain):\n  "
        + "\n  ".join(paths[:shown])
        + more
    )


def require_clean(root: Path) -> None:
    """GateError (exit 16) unless ``root`` is a clean checkout (:func:`clean_tree_problem`)."""
    problem = clean_tree_problem(root)
    if problem is not None:
        raise GateError(
            f"refusing a release from a dirty working tree: {problem}",
            hint="commit, stash or remove the files (or list them in .gitignore), then rerun "
            "with --release",
        )


def on_branch_problem(  # noqa: PLR0911 - one return per way of not knowing
    root: Path, branch: str, *, remote: str = "origin"
) -> str | None:
    """Why git cannot show that ``HEAD`` is on ``remote``'s ``branch`` (None when it is).

    ``HEAD`` must be reachable from ``refs/remotes/<remote>/<branch>``, the branch's tip as
    the remote has it (``git merge-base --is-ancestor``). When that ref is absent, or does
    not contain ``HEAD`` (a stale one), it is fetched once from ``remote`` and asked again.
    Fails closed: no such remote, a failed fetch, or a shallow clone whose history stops
    before the answer is a problem, never a pass. Environment variables play no part.
    """
    tracking = f"refs/remotes/{remote}/{branch}"

    def contains() -> bool | None:
        if _git(root, "rev-parse", "--verify", "-q", f"{tracking}^{{commit}}") is None:
            return None
        proc = cmd.run(["git", "merge-base", "--is-ancestor", "HEAD", tracking], cwd=root,
                       capture=True, check=False, echo=False, timeout=60)  # fmt: skip
        return proc.returncode == 0

    try:
        if contains():
            return None
        if _git(root, "remote", "get-url", remote) is None:
            return (
                f"the checkout at {root} has no remote {remote!r}, so git cannot show that "
                f"HEAD is on {remote}/{branch}"
            )
        fetch = cmd.run(["git", "fetch", "--quiet", "--no-tags", remote,
                         f"+refs/heads/{branch}:{tracking}"], cwd=root, capture=True,
                        check=False, echo=False, timeout=300,
                        env={"GIT_TERMINAL_PROMPT": "0"})  # fmt: skip
        if fetch.returncode != 0:
            return (
                f"`git fetch {remote} {branch}` failed, so git cannot show that HEAD is on "
                f"{remote}/{branch}: {redact.text(fetch.stderr.strip()[-300:])}"
            )
        found = contains()
    except (OSError, ToolMissingError, CommandFailedError) as exc:
        return f"git cannot tell whether HEAD is on {remote}/{branch}: {exc}"
    if found:
        return None
    head = _git(root, "rev-parse", "HEAD") or "HEAD"
    if _git(root, "rev-parse", "--is-shallow-repository") == "true":
        return (
            f"HEAD ({head}) is not in the history of {remote}/{branch} that this shallow "
            f"clone has (git fetch --unshallow {remote} {branch} to know for sure)"
        )
    return f"HEAD ({head}) is not on {remote}/{branch} (git merge-base --is-ancestor)"


def context(root: Path, env: Mapping[str, str] | None = None) -> BuildContext:
    pr = pull_request(env)
    return BuildContext(
        branch=current_branch(root, env),
        sha=expected_commit(root, env),
        pr_number=pr.number if pr else None,
        dirty=is_dirty(root),
        pr_evidence=pr.evidence if pr else "",
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
