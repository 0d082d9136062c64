"""Release tests on the fleet: one CI step per test, every result in the store, one gather.

A *fleet run* is one CI build of the release tests. Every step of it runs
``nox -s release-tests -- NAME --fleet`` on its own agent and puts what the test
produced under ``release-tests/{sha}/{run}/{name}/attempt-{n}/`` in the store
(:mod:`build_support.store.keys`): a typed ``result.json``
(:class:`~build_support.manifests.ReleaseTestAttempt`), ``junit.xml``, the logs and the
artifacts. A CI retry of the step (exit 79) is a new process: it takes the next free
attempt number. The gathering step (``release-tests -- collect --fleet``) reads every
selected test's attempts back, names each test without any as *missing* (a failure,
never a pass), and writes the one JUnit, HTML and ``summary.json`` that the publish gate
reads, locally and in the store.

The run id comes from ``--fleet RUN``, else ``BUILD_SUPPORT_RELEASE_RUN``, else the CI
build (``BUILDKITE_BUILD_ID``: ``bk-<id>``; ``GITHUB_RUN_ID``: ``gh-<id>``), so every step
of one build agrees on it without being told.
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from build_support import fsutil, log, manifests, redact
from build_support.errors import InputError, UsageError
from build_support.releasetests import reports
from build_support.releasetests.exitcodes import ExitCode, ResultStatus
from build_support.releasetests.loader import ReleaseTest
from build_support.releasetests.results import AttemptResult, ReleaseTestResult
from build_support.store import keys
from build_support.store.base import Store

#: Where a step finds its fleet run id, in order, and the prefix each one gets.
RUN_ID_SOURCES: tuple[tuple[str, str], ...] = (
    ("BUILD_SUPPORT_RELEASE_RUN", ""),
    ("BUILDKITE_BUILD_ID", "bk-"),
    ("GITHUB_RUN_ID", "gh-"),
)

#: The file names of one attempt in the store, besides its logs and ``artifacts/``.
RESULT_FILE = "result.json"
JUNIT_FILE = "junit.xml"
#: The gathered run's files (``release-tests/{sha}/{run}/…``).
SUMMARY_FILE = "summary.json"
REPORT_FILES = ("report.xml", "report.html")


def run_id(explicit: str, env: Mapping[str, str]) -> str:
    """The fleet run id: ``explicit``, else the first variable of :data:`RUN_ID_SOURCES`."""
    value = explicit
    if not value:
        for var, prefix in RUN_ID_SOURCES:
            if env.get(var, "").strip():
                value = prefix + env[var].strip()
                break
    if not value:
        raise UsageError(
            "--fleet without a run id, and this is not a Buildkite or GitHub Actions build",
            hint="pass --fleet RUN (the same RUN to every step and to collect), or set "
            "BUILD_SUPPORT_RELEASE_RUN",
        )
    return keys.release_run_id(value)


# --------------------------------------------------------------------------- one step


def attempt_numbers(store: Store, sha: str, run: str, name: str) -> list[int]:
    """The attempts of ``name`` in the run that have a ``result.json``, in order."""
    found = set()
    for info in store.list(keys.release_test_prefix(sha, run, name)):
        n = keys.release_attempt_of(info.key, sha, run, name)
        if n is not None and info.key.endswith(f"/{keys.ATTEMPT_PREFIX}{n}/{RESULT_FILE}"):
            found.add(n)
    return sorted(found)


def next_attempt(store: Store, sha: str, run: str, name: str) -> int:
    """The attempt number this step's first attempt takes (1, or after the last stored)."""
    numbers = [
        n
        for info in store.list(keys.release_test_prefix(sha, run, name))
        if (n := keys.release_attempt_of(info.key, sha, run, name)) is not None
    ]
    return max(numbers, default=0) + 1


def put_result(
    store: Store,
    result: ReleaseTestResult,
    *,
    run: str,
    branch: str,
    sha: str,
    digest: str,
    first: int,
) -> list[str]:
    """Put every attempt of ``result`` (numbered from ``first``) into the store.

    Per attempt: its files as the runner left them (logs, which it wrote redacted, and
    the artifacts it collected), ``junit.xml`` and, last, the typed ``result.json``
    (redacted): collect counts an attempt only once its ``result.json`` is there.
    """
    put: list[str] = []
    for local in result.attempts:
        number = first + local.attempt - 1
        folder = Path(local.directory)
        files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
        for path in files:
            rel = path.relative_to(folder).as_posix()
            if rel == RESULT_FILE:
                continue  # the runner's own attempt document; the typed one replaces it
            key = keys.release_attempt_key(sha, run, result.name, number, rel)
            store.put(key, path)
            put.append(key)
        one = dataclasses.replace(
            result,
            attempts=[dataclasses.replace(local, attempt=number, directory=f"attempt-{number}")],
        )
        (clean,) = reports.redacted([one])
        record = manifests.ReleaseTestAttempt(
            run=run,
            attempt=number,
            branch=branch,
            commit=sha,
            file_digest=digest,
            result=clean.record(),
        )
        with tempfile.TemporaryDirectory(prefix="build-support-fleet.") as tmp:
            junit = Path(tmp) / JUNIT_FILE
            fsutil.write_atomic(junit, reports.junit_xml([clean]))
            key = keys.release_attempt_key(sha, run, result.name, number, JUNIT_FILE)
            store.put(key, junit)
            put.append(key)
            doc = manifests.write(Path(tmp) / RESULT_FILE, record)
            key = keys.release_attempt_key(sha, run, result.name, number, RESULT_FILE)
            store.put(key, doc)
            put.append(key)
    return put


# --------------------------------------------------------------------------- gather


R = TypeVar("R")


def _read(store: Store, key: str, cls: type[R]) -> R:
    with tempfile.TemporaryDirectory(prefix="build-support-fleet.") as tmp:
        dest = Path(tmp) / "record.json"
        store.get(key, dest)
        return manifests.read(dest, cls)


def missing_result(test: ReleaseTest, python: str, why: str) -> ReleaseTestResult:
    """A selected test without a result: a failure (Ray's FETCH_RESULT_ERROR), never a pass."""
    return ReleaseTestResult(
        name=test.name,
        group=test.group,
        team=test.team,
        frequency=test.frequency,
        python=test.python or python,
        smoke=test.smoke,
        attempts=[
            AttemptResult(
                attempt=1,
                exit_code=int(ExitCode.FETCH_RESULT_ERROR),
                status=ResultStatus.INFRA_ERROR,
                retryable=False,
                duration=0.0,
                message=f"missing: {why}",
            )
        ],
    )


def gather(
    store: Store,
    tests: Sequence[ReleaseTest],
    *,
    run: str,
    sha: str,
    digest: str,
    default_python: str,
) -> tuple[list[ReleaseTestResult], list[str]]:
    """Every selected test's result in the run, attempts merged; and the missing names."""
    results: list[ReleaseTestResult] = []
    missing: list[str] = []
    for test in tests:
        prefix = keys.release_test_prefix(sha, run, test.name)
        records: list[manifests.ReleaseTestAttempt] = []
        other: list[str] = []
        for n in attempt_numbers(store, sha, run, test.name):
            key = keys.release_attempt_key(sha, run, test.name, n, RESULT_FILE)
            rec = _read(store, key, manifests.ReleaseTestAttempt)
            if rec.commit != sha or rec.file_digest != digest:
                other.append(
                    f"attempt-{n} ran commit {rec.commit[:12]} of file {rec.file_digest[:12]}"
                )
                continue
            records.append(rec)
        if not records:
            why = f"no result in the store under {prefix}"
            if other:
                why += " for this commit and release_tests file (" + "; ".join(other) + ")"
            log.error(f"{test.name}: {why}")
            missing.append(test.name)
            results.append(missing_result(test, default_python, why))
            continue
        merged = ReleaseTestResult.from_record(records[-1].result)
        merged.attempts = [
            a for rec in records for a in ReleaseTestResult.from_record(rec.result).attempts
        ]
        results.append(merged)
    return results, missing


def put_reports(store: Store, run_dir: Path, *, sha: str, run: str) -> list[str]:
    """The gathered run's reports into ``release-tests/{sha}/{run}/``; summary last."""
    put = []
    for name in (*REPORT_FILES, SUMMARY_FILE):
        key = keys.release_run_key(sha, run, name)
        store.put(key, run_dir / name)
        put.append(key)
    return put


# --------------------------------------------------------------------------- summaries


@dataclasses.dataclass(frozen=True)
class FoundSummary:
    where: str
    summary: manifests.ReleaseTestSummary


def find_summaries(sha: str, results_dir: Path | None, store: Store | None) -> list[FoundSummary]:
    """Every release-tests summary of ``sha``: local runs and fleet runs, oldest first.

    The same run found in both places (a collect wrote it locally and to the store)
    counts once. An unreadable summary is skipped with a warning.
    """
    found: dict[tuple[str, str], FoundSummary] = {}

    def add(where: str, load: Callable[[], manifests.ReleaseTestSummary]) -> None:
        try:
            s = load()
        except InputError as exc:
            log.warn(f"ignoring an unreadable release-tests summary: {redact.text(exc.message)}")
            return
        if s.commit == sha:
            found.setdefault((s.run_id, s.started_at), FoundSummary(where, s))

    if results_dir is not None and results_dir.is_dir():
        for run_dir in sorted(p for p in results_dir.iterdir() if p.is_dir()):
            path = manifests.release_summary_path(run_dir)
            if path.is_file():
                add(
                    str(path), functools.partial(manifests.read, path, manifests.ReleaseTestSummary)
                )
    if store is not None:
        prefix = keys.release_commit_prefix(sha)
        for info in store.list(prefix):
            _run, _, name = info.key.removeprefix(prefix).partition("/")
            if name == SUMMARY_FILE:
                read = functools.partial(_read, store, info.key, manifests.ReleaseTestSummary)
                add(f"store {info.key}", read)
    return sorted(found.values(), key=lambda f: f.summary.started_at)
