"""The gates: every one is checked before the first byte is sent.

Each check returns the failures it found as ``(gate, message)``; the stage reports them
all at once (plan mode) or raises one :class:`GateError` naming each (``--execute``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_support import commits
from build_support.errors import GateError
from build_support.publish.model import Action, Artifact, PlanItem


@dataclass(frozen=True)
class Failure:
    gate: str
    message: str

    def __str__(self) -> str:
        return f"gate {self.gate!r}: {self.message}"


def branch_gate(branch: str, allowed: str) -> list[Failure]:
    if branch != allowed:
        return [Failure("branch", f"publishing from {branch!r}; only {allowed!r} may publish")]
    return []


def pull_request_gate(env: Mapping[str, str] | None = None) -> list[Failure]:
    """Never for a pull request (Buildkite and GitHub Actions variables)."""
    env = os.environ if env is None else env
    found: list[str] = []
    bk = env.get("BUILDKITE_PULL_REQUEST", "").strip()
    if bk and bk != "false":
        found.append(f"BUILDKITE_PULL_REQUEST={bk}")
    event = env.get("GITHUB_EVENT_NAME", "")
    if event.startswith("pull_request"):
        found.append(f"GITHUB_EVENT_NAME={event}")
    ref = env.get("GITHUB_REF", "")
    if ref.startswith("refs/pull/"):
        found.append(f"GITHUB_REF={ref}")
    if found:
        return [Failure("pull-request", "this is a pull request build (" + ", ".join(found) + ")")]
    return []


def clean_tree_gate(root: Path, *, release: bool) -> list[Failure]:
    if release and commits.is_dirty(root):
        return [Failure("clean-tree", f"--release with uncommitted changes in {root}")]
    return []


def head_gate(root: Path, sha: str) -> list[Failure]:
    """The commit being published is the checkout's commit, when there is a checkout."""
    head = commits._git(root, "rev-parse", "HEAD")
    if head and commits.SHA_RE.match(head) and head != sha:
        return [
            Failure(
                "commit",
                f"publishing commit {sha} but the checkout at {root} is at {head}",
            )
        ]
    return []


def commit_gate(artifacts: Sequence[Artifact], sha: str) -> list[Failure]:
    """Every artifact carries ``sha``, read from inside it."""
    return [
        Failure(
            "commit",
            f"{a.target} {a.name} carries commit {a.commit or '(none)'}, "
            f"not the commit being published {sha}",
        )
        for a in artifacts
        if a.commit != sha
    ]


def release_tests_summaries(results_dir: Path, sha: str) -> list[tuple[Path, dict[str, Any]]]:
    """Every release-tests ``summary.json`` under ``results_dir`` for ``sha``, oldest first."""
    found: list[tuple[Path, dict[str, Any]]] = []
    if not results_dir.is_dir():
        return found
    for path in sorted(results_dir.glob("*/summary.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("commit") == sha:
            found.append((path, data))
    found.sort(key=lambda pd: str(pd[1].get("started_at", "")))
    return found


def release_tests_gate(results_dir: Path, sha: str) -> list[Failure]:
    """The latest release-tests run recorded for ``sha`` passed."""
    runs = release_tests_summaries(results_dir, sha)
    if not runs:
        return [
            Failure(
                "release-tests",
                f"no release-tests summary for {sha} under {results_dir}",
            )
        ]
    path, data = runs[-1]
    if data.get("exit_code") != 0 or data.get("failed", 1) != 0 or not data.get("total"):
        return [
            Failure(
                "release-tests",
                f"the latest release-tests run for {sha} did not pass ({path}: exit "
                f"{data.get('exit_code')}, {data.get('failed')} failed of {data.get('total')})",
            )
        ]
    return []


def versions_gate(items: Sequence[PlanItem]) -> list[Failure]:
    """No version may already be on a target with different content."""
    return [
        Failure("versions", f"{i.artifact.target} {i.artifact.destination}: {i.reason}")
        for i in items
        if i.action is Action.CONFLICT
    ]


def reachable_gate(items: Sequence[PlanItem]) -> list[Failure]:
    """Execute only knowing what every target holds."""
    return [
        Failure("target-state", f"{i.artifact.target} {i.artifact.destination}: {i.reason}")
        for i in items
        if i.action is Action.UNKNOWN
    ]


def refuse(failures: Sequence[Failure]) -> GateError:
    names = ", ".join(dict.fromkeys(f.gate for f in failures))
    return GateError(
        f"publish refused by gate(s) {names}:\n  " + "\n  ".join(map(str, failures)),
        hint="nothing was sent; fix the cause, or run the plan (without --execute) to see it",
    )
