"""The release-tests gate (issue 18 item 9): this commit's full run of this file passed.

Summaries are written by the stages' own writers (``manifests.write``; a fleet run's
collect also puts it in the store under ``store.keys.release_run_key``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from build_support import config, manifests, store
from build_support.errors import ConfigError
from build_support.publish import gates
from build_support.publish.settings import PublishSettings
from build_support.releasetests import runs
from build_support.store import keys

SHA = "a" * 40
YAML = "- name: t\n  team: core\n  frequency: nightly\n  working_dir: .\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> config.Config:
    monkeypatch.delenv("BUILD_SUPPORT_STORE", raising=False)
    (tmp_path / "release").mkdir()
    (tmp_path / "release" / "release_tests.yaml").write_text(YAML)
    return config.from_table({"python_versions": ["3.12"]}, tmp_path)


def summary(
    cfg: config.Config,
    run: str,
    *,
    code: int,
    started: str,
    selection: str = "smoke",
    digest: str | None = None,
    commit: str = SHA,
    failed: tuple[str, ...] = (),
    in_store: bool = False,
) -> None:
    tests = tuple(
        manifests.TestRecord(
            name=name,
            group="",
            team="core",
            frequency="nightly",
            python="3.12",
            smoke=True,
            wheel="",
            commit=commit,
            exit_code=40 if name in failed else 0,
            exit_name="",
            exit_class="",
            status="error" if name in failed else "success",
            flaky=False,
            duration_seconds=1.0,
            attempts=(),
        )
        for name in ("t", "u")
    )
    record = manifests.ReleaseTestSummary(
        run_id=run, commit=commit, exit_code=code, started_at=started, selection=selection,
        file_digest=runs.file_digest(cfg.path("release_tests")) if digest is None else digest,
        total=2, passed=2 - len(failed), failed=len(failed), tests=tests,
    )  # fmt: skip
    if in_store:
        with tempfile.TemporaryDirectory() as tmp:
            path = manifests.write(Path(tmp) / "summary.json", record)
            store.open_store(cfg).put(keys.release_run_key(commit, run, "summary.json"), path)
    else:
        manifests.write(manifests.release_summary_path(results(cfg) / run), record)


def results(cfg: config.Config) -> Path:
    return cfg.root / "results" / "release-tests"


def gate(cfg: config.Config, **settings: Any) -> list[gates.Failure]:
    return gates.release_tests_gate(
        results(cfg), SHA, cfg=cfg, settings=PublishSettings(**settings)
    )


def test_no_run_fails(project: config.Config) -> None:
    [f] = gate(project)
    assert f.gate == "release-tests"
    assert "no 'smoke' release-tests run of release_tests.yaml" in f.message


def test_a_later_failing_full_run_revokes_an_earlier_pass(project: config.Config) -> None:
    summary(project, "r1", code=0, started="2026-01-01T00:00:00")
    assert gate(project) == []
    summary(project, "r2", code=40, started="2026-01-02T00:00:00", failed=("u",))
    [f] = gate(project)
    assert "did not pass" in f.message
    assert "u failed" in f.message
    assert "run r2" in f.message


def test_a_passing_run_of_one_test_after_a_failing_full_run_is_not_enough(
    project: config.Config,
) -> None:
    summary(project, "full", code=40, started="2026-01-01T00:00:00", failed=("t",))
    summary(project, "just-u", code=0, started="2026-01-02T00:00:00", selection="tests:u")
    summary(project, "other-commit", code=0, started="2026-01-03T00:00:00", commit="b" * 40)
    [f] = gate(project)
    assert "run full" in f.message


def test_a_run_of_another_file_does_not_count(project: config.Config) -> None:
    summary(project, "old-yaml", code=0, started="2026-01-01T00:00:00", digest="0" * 64)
    [f] = gate(project)
    assert "no 'smoke' release-tests run" in f.message
    assert "smoke of 000000000000" in f.message  # the run it saw, and why it did not count


def test_the_configured_selection_counts_and_the_store_holds_fleet_runs(
    project: config.Config,
) -> None:
    summary(project, "smoke", code=0, started="2026-01-01T00:00:00")
    summary(project, "bk-1", code=40, started="2026-01-02T00:00:00", selection="nightly",
            failed=("t",), in_store=True)  # fmt: skip
    assert gate(project) == []  # a nightly failure does not revoke the smoke gate
    [f] = gate(project, release_tests_gate="nightly")
    assert "store release-tests/" in f.message
    summary(project, "bk-2", code=0, started="2026-01-03T00:00:00", selection="nightly",
            in_store=True)  # fmt: skip
    assert gate(project, release_tests_gate="nightly") == []


def test_missing_tests_fail_and_a_bad_selection_is_a_config_error(project: config.Config) -> None:
    summary(project, "r", code=18, started="2026-01-01T00:00:00", failed=("u",))
    path = manifests.release_summary_path(results(project) / "r")
    record = manifests.read(path, manifests.ReleaseTestSummary)
    import dataclasses

    manifests.write(path, dataclasses.replace(record, missing=("u",)))
    [f] = gate(project)
    assert "u has no result (missing)" in f.message
    with pytest.raises(ConfigError, match="release_tests_gate = 'nighty'"):
        PublishSettings(release_tests_gate="nighty")
