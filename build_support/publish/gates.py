"""The gates: every one is checked before the first byte is sent.

Each check returns the failures it found as ``(gate, message)``; the stage reports them
all at once (plan mode) or raises one :class:`GateError` naming each (``--execute``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from build_support import commits, log, manifests
from build_support.errors import GateError, InputError
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


def release_tests_summaries(
    results_dir: Path, sha: str
) -> list[tuple[Path, manifests.ReleaseTestSummary]]:
    """Every release-tests summary under ``results_dir`` for ``sha``, oldest first."""
    found: list[tuple[Path, manifests.ReleaseTestSummary]] = []
    if not results_dir.is_dir():
        return found
    for run_dir in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        path = manifests.release_summary_path(run_dir)
        if not path.is_file():
            continue
        try:
            summary = manifests.read(path, manifests.ReleaseTestSummary)
        except InputError as exc:
            log.warn(f"ignoring an unreadable release-tests summary: {exc.message}")
            continue
        if summary.commit == sha:
            found.append((path, summary))
    found.sort(key=lambda ps: ps[1].started_at)
    return found


def release_tests_gate(results_dir: Path, sha: str) -> list[Failure]:
    """The latest release-tests run recorded for ``sha`` passed."""
    runs = release_tests_summaries(results_dir, sha)
    if not runs:
        return [Failure("release-tests", f"no release-tests summary for {sha} under {results_dir}")]
    path, s = runs[-1]
    if s.exit_code != 0 or s.failed != 0 or s.total == 0:
        return [
            Failure(
                "release-tests",
                f"the latest release-tests run for {sha} did not pass ({path}: exit "
                f"{s.exit_code}, {s.failed} failed of {s.total})",
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
