"""The changed files of a build: ``git diff --name-only <base>...<head>``, or given.

The base is ``--base``, else the pull request's base branch (Buildkite's
``BUILDKITE_PULL_REQUEST_BASE_BRANCH``, GitHub's ``GITHUB_BASE_REF``), else, on the
default branch when ``select_all_outside_prs`` is off, the previous commit. A build that
is not a pull request runs everything (Ray's rule), and so does any build whose changes
cannot be known: the plan says why. Renames count both paths (``--no-renames``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from build_support import cmd, commits
from build_support.ciplan.plan import Changes
from build_support.errors import InputError


def _git(root: Path, *args: str) -> tuple[int, str]:
    proc = cmd.run(["git", *args], cwd=root, capture=True, check=False, echo=False)
    return proc.returncode, proc.stdout


def resolve_ref(root: Path, branch: str) -> str | None:
    """A local ref for ``branch``: ``origin/<branch>``, ``<branch>``, else fetch it."""
    for candidate in (f"origin/{branch}", branch):
        code, _ = _git(root, "rev-parse", "--verify", "-q", f"{candidate}^{{commit}}")
        if code == 0:
            return candidate
    code, _ = _git(root, "fetch", "-q", "origin", branch)
    if code == 0:
        return "FETCH_HEAD"
    return None


def diff(root: Path, base: str, head: str = "HEAD") -> tuple[str, ...] | str:
    """The changed paths between the merge base of ``base`` and ``head``, or why not."""
    code, out = _git(root, "diff", "--name-only", "--no-renames", "-z", f"{base}...{head}", "--")
    if code != 0:
        return f"`git diff {base}...{head}` failed (no such ref, or no merge base)"
    return tuple(p for p in out.split("\0") if p)


def pr_base(env: Mapping[str, str]) -> str | None:
    """The pull request's base branch, when this build is one (:func:`commits.pull_request`)."""
    if commits.pull_request(env) is None:
        return None
    return env.get("BUILDKITE_PULL_REQUEST_BASE_BRANCH") or env.get("GITHUB_BASE_REF") or None


def read_list(path: str) -> tuple[str, ...]:
    """``--changed-from FILE`` (``-``: stdin): one path per line."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot read the changed-file list {path}: {exc.strerror}",
            hint="give a file with one changed path per line",
        ) from exc
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def detect(  # noqa: PLR0911 - one return per source of changes
    root: Path,
    *,
    default_branch: str,
    select_all_outside_prs: bool,
    base: str | None = None,
    head: str = "HEAD",
    changed: Sequence[str] = (),
    changed_from: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Changes:
    env = os.environ if env is None else env
    if changed or changed_from:
        files = (*changed, *(read_list(changed_from) if changed_from else ()))
        source = "--changed" if changed and not changed_from else f"--changed-from {changed_from}"
        return Changes(tuple(dict.fromkeys(files)), source)
    if base is not None:
        result = diff(root, base, head)
        if isinstance(result, str):
            return Changes((), f"git diff {base}...{head}", select_all=result)
        return Changes(result, f"git diff {base}...{head}")
    branch_base = pr_base(env)
    if branch_base is not None:
        ref = resolve_ref(root, branch_base)
        if ref is None:
            return Changes(
                (),
                f"pull request into {branch_base}",
                select_all=f"the base branch {branch_base!r} is not in this clone and "
                "`git fetch origin` failed",
            )
        result = diff(root, ref, head)
        if isinstance(result, str):
            return Changes((), f"git diff {ref}...{head}", select_all=result)
        return Changes(result, f"git diff {ref}...{head} (pull request into {branch_base})")
    branch = commits.current_branch(root, env)
    if select_all_outside_prs:
        return Changes((), f"branch {branch}", select_all=f"not a pull request (branch {branch})")
    if branch == default_branch:
        result = diff(root, f"{head}^", head)
        if isinstance(result, str):
            return Changes((), f"git diff {head}^...{head}", select_all=result)
        return Changes(result, f"git diff {head}^...{head} (the merge into {branch})")
    return Changes(
        (), f"branch {branch}", select_all=f"not a pull request nor {default_branch} ({branch})"
    )
