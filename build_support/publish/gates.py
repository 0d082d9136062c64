"""The gates: every one is checked before the first byte is sent.

Each check returns the failures it found as ``(gate, message)``; the stage reports them
all at once (plan mode) or raises one :class:`GateError` naming each (``--execute``).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from build_support import commits, fsutil, log, manifests, wheelfile
from build_support.config import Config
from build_support.errors import GateError, InputError
from build_support.publish import credentials
from build_support.publish.model import Action, Artifact, PlanItem
from build_support.publish.settings import PublishSettings


@dataclass(frozen=True)
class Failure:
    gate: str
    message: str

    def __str__(self) -> str:
        return f"gate {self.gate!r}: {self.message}"


def branch_gate(root: Path, branch: str, allowed: str, *, remote: str) -> list[Failure]:
    """Only ``allowed`` publishes, and git must show it: the branch's name (a CI variable,
    else git's) must be ``allowed``, which only narrows; then ``HEAD`` must be reachable
    from ``<remote>/<allowed>`` (:func:`build_support.commits.on_branch_problem`), so that
    no variable can widen the gate."""
    if branch != allowed:
        return [Failure("branch", f"publishing from {branch!r}; only {allowed!r} may publish")]
    problem = commits.on_branch_problem(root, allowed, remote=remote)
    if problem is not None:
        return [Failure("branch", f"{problem}; only commits of {remote}/{allowed} may publish")]
    return []


def pull_request_gate(ctx: commits.BuildContext) -> list[Failure]:
    """Never for a pull request (the rule: :func:`build_support.commits.pull_request`)."""
    if ctx.is_pull_request:
        return [Failure("pull-request", f"this is a pull request build ({ctx.pr_evidence})")]
    return []


def clean_tree_gate(root: Path, *, release: bool) -> list[Failure]:
    """``--release``: no tracked change and no untracked file (:mod:`build_support.commits`)."""
    problem = commits.clean_tree_problem(root) if release else None
    if problem is not None:
        return [Failure("clean-tree", f"--release with {problem}")]
    return []


def planned_gate(
    artifacts: Sequence[Artifact], planned: Mapping[tuple[str, str, str], str], where: Path
) -> list[Failure]:
    """``--execute`` sends exactly what the plan at ``where`` listed: every artifact is in
    it, with the same SHA-256 (or image digest). The plan's JSON went through
    :func:`credentials.scrub`, so the names are looked up scrubbed the same way."""
    failures: list[Failure] = []
    for a in artifacts:
        key = (a.target, credentials.scrub(a.name), credentials.scrub(a.destination))
        want = planned.get(key)
        if want is None:
            failures.append(Failure("plan", f"{a.target} {a.name} is not in the plan {where}"))
        elif want != a.digest:
            failures.append(
                Failure(
                    "plan",
                    f"{a.target} {a.name} is {a.digest} now, but the plan {where} has {want}: "
                    "it changed after the plan was made",
                )
            )
    return failures


def _jar_problems(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            names = [i.filename for i in zf.infolist()]
    except (zipfile.BadZipFile, OSError) as exc:
        return [f"{path.name} is not a readable zip archive: {exc}"]
    return fsutil.member_problems(path.name, names)


def content_gate(artifacts: Sequence[Artifact]) -> list[Failure]:
    """What is sent is what was hashed, and it is sound inside: every file's bytes hash to
    the artifact's SHA-256; a wheel passes :func:`build_support.wheelfile.content_problems`;
    a JAR has no unsafe or repeated entry (its commit: :func:`commit_gate`)."""
    failures: list[Failure] = []
    for a in artifacts:
        if a.path is None:  # an image: its digest is checked against the registry's
            continue
        got = fsutil.sha256_file(a.path)
        if got != a.digest:
            message = f"{a.target} {a.name}: the file fetched hashes to {got}, its record says "
            failures.append(Failure("content", message + a.digest))
            continue
        problems: list[str] = []
        if a.name.endswith(".whl"):
            problems = wheelfile.content_problems(a.path)
        elif a.name.endswith(".jar"):
            problems = _jar_problems(a.path)
        failures += [Failure("content", f"{a.target}: {p}") for p in problems]
    return failures


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


def release_tests_gate(
    results_dir: Path, sha: str, *, cfg: Config, settings: PublishSettings
) -> list[Failure]:
    """This commit's full run passed: the latest run of ``sha``, of the release_tests file
    as it is now (its SHA-256) and of the selection ``release_tests_gate`` names, found
    under ``results_dir`` or in the store (a fleet run's collect). A later failing run
    revokes an earlier pass; runs of other tests, files or selections do not count.
    A failed test named in ``release_tests_ignore_flaky`` is forgiven only while its
    history over the last ``release_tests_history`` commits says flaky.
    """
    from build_support import store as store_mod
    from build_support.releasetests import fleet, history, runs

    wanted = settings.release_tests_gate
    path = cfg.path("release_tests")
    try:
        digest = runs.file_digest(path)
    except InputError as exc:
        return [Failure("release-tests", f"{exc.message}: the gate cannot tell which run counts")]
    s = store_mod.open_store(cfg)
    found = fleet.find_summaries(sha, results_dir, s)
    matching = [
        f for f in found if f.summary.file_digest == digest and f.summary.selection == wanted
    ]
    what = f"{wanted!r} release-tests run of {path.name} (sha256 {digest[:12]}…) for {sha}"
    if not matching:
        others = "; ".join(
            f"{f.where}: {f.summary.selection or '(no selection recorded)'} of "
            f"{(f.summary.file_digest or '(no file digest recorded)')[:12]}"
            for f in found[-5:]
        )
        return [
            Failure(
                "release-tests",
                f"no {what} under {results_dir} or in the store"
                + (f" (other runs of the commit: {others})" if others else ""),
            )
        ]
    latest = matching[-1]
    sm = latest.summary
    failed = [t.name for t in sm.tests if t.exit_code != 0]
    problems = [f"{n} failed" for n in failed if n not in sm.missing]
    problems += [f"{n} has no result (missing)" for n in sm.missing]
    problems += [f"{n} did not run" for n in sm.not_run]
    if sm.stopped_by:
        problems.append(f"stopped: {sm.stopped_by}")
    if sm.total == 0:
        problems.append("it ran no test")
    if sm.exit_code is None:
        problems.append("the runner itself failed")
    forgiven = [
        n for n in failed if n in settings.release_tests_ignore_flaky and n not in sm.missing
    ]
    if forgiven:
        try:
            past = history.read(
                cfg.root,
                store=s,
                results_dir=results_dir,
                selection=wanted,
                last=settings.release_tests_history,
            )
        except InputError as exc:  # no git history here: nothing is known to be flaky
            log.warn(f"release-tests gate: no history, so no test is forgiven: {exc.message}")
            forgiven = []
        else:
            forgiven = [n for n in forgiven if past.state_of(n) == "flaky"]
        for n in forgiven:
            log.warn(
                f"release-tests gate: {n} failed in {sm.run_id}; forgiven: named in "
                "release_tests_ignore_flaky and flaky in its history"
            )
            problems.remove(f"{n} failed")
    if problems or (sm.exit_code not in (0, None) and not forgiven):
        detail = "; ".join(problems) or f"exit {sm.exit_code}"
        return [
            Failure(
                "release-tests",
                f"the latest {what} did not pass ({latest.where}, run {sm.run_id}: {detail})",
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
