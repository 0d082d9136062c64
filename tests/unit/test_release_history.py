"""``release-tests -- history``: cells, states, pass rates; and the gate's flaky switch.

The runs are written by the stages' own writers (``reports.write_reports``, then
``fleet.put_reports`` into a store in tmp_path), for commits of a real git repository.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from build_support import config, store
from build_support.publish import gates
from build_support.publish.settings import PublishSettings
from build_support.releasetests import fleet, history, reports, runs
from build_support.releasetests.exitcodes import ResultStatus
from build_support.releasetests.results import AttemptResult, ReleaseTestResult
from tests.conftest import git

#: Five commits, oldest first: each test's exit codes per commit (a list: its attempts).
FIVE: dict[str, list[list[int]]] = {
    "steady": [[0], [0], [0], [0], [0]],
    "flaky": [[0], [79, 0], [0], [40], [0]],
    "broken": [[0], [0], [40], [40], [40]],
}


def result(name: str, codes: list[int], duration: float) -> ReleaseTestResult:
    r = ReleaseTestResult(
        name=name, group="g", team="core", frequency="nightly", python="3.12", smoke=True
    )
    for n, code in enumerate(codes, start=1):
        status = ResultStatus.SUCCESS if code == 0 else ResultStatus.ERROR
        r.attempts.append(
            AttemptResult(
                attempt=n, exit_code=code, status=status, retryable=code == 79, duration=duration
            )
        )
    return r


def store_run(
    s: store.Store, work: Path, sha: str, run: str, results: list[ReleaseTestResult], *,
    digest: str, started: str, selection: str = "smoke",
) -> None:  # fmt: skip
    """A gathered run of ``results`` for ``sha``, as collect writes and puts it."""
    codes = [r.exit_code for r in results]
    meta = {"run_id": run, "branch": "main", "commit": sha, "smoke": True,
            "started_at": started, "file_digest": digest, "selection": selection,
            "exit_code": next((c for c in codes if c), 0)}  # fmt: skip
    run_dir = work / f"{sha[:7]}-{run}"
    run_dir.mkdir(parents=True)
    reports.write_reports(results, meta, run_dir)
    fleet.put_reports(s, run_dir, sha=sha, run=run)


def five_commits(repo: Path, s: store.Store, digest: str) -> list[str]:
    """Five commits on ``main`` and a run of each (the third commit has two: the later
    one counts); returns the commits, oldest first."""
    shas = []
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for i in range(5):
        (repo / "n").write_text(str(i))
        git(repo, "add", "n")
        git(repo, "commit", "-q", "-m", f"c{i}")
        sha = git(repo, "rev-parse", "HEAD")
        shas.append(sha)
        results = [result(n, codes[i], 10.0 + i * (n == "broken")) for n, codes in FIVE.items()]
        when = (start + dt.timedelta(days=i)).isoformat()
        if i == 2:  # an earlier run of the same commit that passed: the later one counts
            early = [result(n, [0], 1.0) for n in FIVE]
            store_run(s, repo.parent / "w", sha, "early", early, digest=digest, started="0")
        store_run(s, repo.parent / "w", sha, f"bk-{i}", results, digest=digest, started=when)
        # a run of another selection never fills a cell
        store_run(s, repo.parent / "w", sha, f"one-{i}", [result("steady", [40], 1.0)],
                  digest=digest, started=when + "z", selection="tests:steady")  # fmt: skip
    return shas


@pytest.mark.parametrize(
    ("cells", "state", "streak"),
    [
        (["pass", "pass", "none", "pass"], "passing", 0),
        (["pass", "retried", "pass"], "flaky", 0),
        (["pass", "fail", "pass", "fail"], "flaky", 1),
        (["pass", "pass", "fail", "missing"], "failing", 2),
        (["fail", "fail", "pass"], "passing", 0),
        (["none", "none"], "unknown", 0),
    ],
)
def test_states(cells: list[history.Cell], state: str, streak: int) -> None:
    assert history.state_of(cells) == (state, streak)
    assert history.state_of(cells, jailed=True)[0] == "jailed"


@pytest.mark.subprocess
def test_five_commits_give_passing_flaky_and_failing(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BUILD_SUPPORT_STORE", raising=False)
    (git_repo / "release").mkdir()
    yaml_path = git_repo / "release" / "release_tests.yaml"
    yaml_path.write_text("[]\n")
    cfg = config.from_table({"python_versions": ["3.12"]}, git_repo)
    s = store.open_store(cfg)
    shas = five_commits(git_repo, s, runs.file_digest(yaml_path))
    h = history.read(git_repo, store=s, results_dir=None, selection="smoke", last=5)
    assert [c.sha for c in h.commits] == shas
    by = {t.name: t for t in h.tests}
    assert [t.name for t in h.tests] == sorted(FIVE)
    assert by["steady"].state == "passing"
    assert by["flaky"].state == "flaky"
    assert (by["broken"].state, by["broken"].consecutive_failures) == ("failing", 3)
    assert by["flaky"].cells == ("pass", "retried", "pass", "fail", "pass")
    assert by["steady"].pass_rate == 1.0
    assert by["flaky"].pass_rate == 0.8
    assert by["broken"].pass_rate == 0.4
    assert by["broken"].duration_trend is not None
    assert by["broken"].duration_trend > 0
    assert by["steady"].duration_trend == 0.0
    assert history.read(git_repo, store=s, results_dir=None, selection="smoke", last=2
                        ).commits[0].sha == shas[3]  # fmt: skip
    page = history.html_page(h)
    assert page.count('class="test-row"') == 3
    assert page.count("<svg") == 3

    # the gate: the latest run (commit 5) passed; a sixth commit's run fails "flaky"
    (git_repo / "n").write_text("6")
    git(git_repo, "commit", "-qam", "c6")
    sha = git(git_repo, "rev-parse", "HEAD")
    failing = [result("steady", [0], 1.0), result("flaky", [40], 1.0), result("broken", [40], 1.0)]
    store_run(s, tmp_path / "w6", sha, "bk-6", failing,
              digest=runs.file_digest(yaml_path), started="2026-02-01")  # fmt: skip

    def gate(*named: str) -> str:
        settings = PublishSettings(release_tests_ignore_flaky=named)
        found = gates.release_tests_gate(tmp_path / "none", sha, cfg=cfg, settings=settings)
        return " ".join(f.message for f in found)

    assert "flaky failed" in gate()  # not named: not forgiven
    assert "broken failed" in gate("flaky", "broken")  # named, but failing, not flaky
    assert "flaky failed" not in gate("flaky", "broken")
    (broken,) = (r for r in failing if r.name == "broken")
    broken.attempts[0] = AttemptResult(attempt=1, exit_code=0, status=ResultStatus.SUCCESS,
                                       retryable=False, duration=1.0)  # fmt: skip
    store_run(s, tmp_path / "w7", sha, "bk-7", failing,
              digest=runs.file_digest(yaml_path), started="2026-02-02")  # fmt: skip
    assert gate("flaky") == ""  # only the named flaky test failed: forgiven
