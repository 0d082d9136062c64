from __future__ import annotations

import os
from pathlib import Path

import pytest

from build_support import config, pipeline
from build_support.errors import UsageError


def test_steps_cover_every_stage_for_the_host(tmp_path: Path) -> None:
    cfg = config.from_table({"python_versions": ["3.11", "3.12"]}, tmp_path)
    names = [s.name for s in pipeline.steps(cfg, "manylinux2014_x86_64")]
    assert names == [
        "lock-3.11",
        "lock-3.12",
        "wheel",
        "jars-linux",
        "jars-multiplatform",
        "images",
        "release-tests",
        "publish",
    ]
    wheel = next(s for s in pipeline.steps(cfg, "macosx_12_0_arm64") if s.stage == "jars")
    assert wheel.argv == ("darwin",)


def test_list_and_unknown_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config.from_table({}, tmp_path)
    assert pipeline.main(["--list", "--only", "wheel", "images"], cfg) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in out] == ["wheel", "images"]
    with pytest.raises(UsageError, match="unknown pipeline step 'whl'"):
        pipeline.main(["--only", "whl"], cfg)


def test_stage_parser_errors_are_usage_errors() -> None:
    from build_support.args import StageParser

    parser = StageParser(prog="nox -s demo --")
    parser.add_argument("--python")
    with pytest.raises(UsageError, match="unrecognized arguments: --bogus") as exc:
        parser.parse_args(["--bogus"])
    assert exc.value.exit_code == 2
    assert exc.value.hint is not None
    assert "usage: nox -s demo --" in exc.value.hint


def test_release_tests_reuse_passes_in_the_pipeline_and_force_rebuilds(tmp_path: Path) -> None:
    cfg = config.from_table({"python_versions": ["3.12"]}, tmp_path)
    plain = {s.name: s.argv for s in pipeline.steps(cfg, "manylinux2014_x86_64")}
    assert plain["release-tests"] == ("--smoke", "--reuse-passed")
    assert "--force" not in plain["wheel"] + plain["jars-linux"] + plain["images"]
    forced = {s.name: s.argv for s in pipeline.steps(cfg, "manylinux2014_x86_64", force=True)}
    assert forced["release-tests"] == ("--smoke", "--no-reuse")
    for name in ("wheel", "jars-linux", "images"):
        assert forced[name][-1] == "--force", name


def test_a_step_is_reused_only_when_everything_it_makes_was_reused() -> None:
    assert pipeline.reuse_of([]) == (False, "-")
    assert pipeline.reuse_of([("a", True), ("b", True)]) == (True, "yes (2 of 2)")
    assert pipeline.reuse_of([("a", False)]) == (False, "no (1 made)")
    assert pipeline.reuse_of([("a", True), ("b", False)]) == (False, "1 of 2; made: b")


def test_stages_report_reuse_through_one_ledger() -> None:
    from build_support import inputcache

    inputcache.take()
    inputcache.note("x", reused=True)
    inputcache.note("y", reused=False)
    assert inputcache.take() == [("x", True), ("y", False)]
    assert inputcache.take() == []


@pytest.mark.subprocess
def test_the_pipeline_pins_the_commit_it_started_at(git_repo: Path) -> None:
    """A commit made while the pipeline runs stops the next step (exit 13), naming both."""
    from build_support import commits
    from build_support.errors import VerificationError
    from tests.conftest import git

    started = git(git_repo, "rev-parse", "HEAD")
    with pipeline.pinned_commit(git_repo) as sha:
        assert sha == started
        assert commits.expected_commit(git_repo) == started
        (git_repo / "new.txt").write_text("x\n")
        git(git_repo, "add", "new.txt")
        git(git_repo, "commit", "-qm", "landed during the run")
        with pytest.raises(VerificationError, match=started) as err:
            commits.expected_commit(git_repo)
        assert err.value.exit_code == 13
    assert commits.OVERRIDE_VAR not in os.environ
    assert commits.expected_commit(git_repo) == git(git_repo, "rev-parse", "HEAD")


def test_a_step_that_raises_is_its_exit_code_and_the_record_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stage that fails with a plain OSError (or a bug) is reported as the stage alone
    would report it (``cli.as_error``: exit 19, exit 1); ``--keep-going`` runs the next
    step and ``dist/pipeline.json`` records both. (A stage raising something else than a
    harness error is a bug, which no real input causes: the stage's main is replaced.)"""
    from build_support import cli, manifests

    def broken(_argv: list[str], _cfg: config.Config) -> int:
        raise PermissionError(13, "Permission denied", str(tmp_path / "locked"))

    def buggy(_argv: list[str], _cfg: config.Config) -> int:
        raise KeyError("oops")

    mains = {"lock": broken, "wheel": buggy}
    monkeypatch.setattr(cli, "resolve", lambda stage: mains[stage])
    cfg = config.from_table({}, tmp_path)
    plan = [pipeline.Step("lock", "lock", ()), pipeline.Step("wheel", "wheel", ())]
    assert pipeline._run(plan, cfg, keep_going=True) == 19
    record = manifests.read(manifests.pipeline_path(cfg.path("dist")), manifests.PipelineManifest)
    assert [(s.name, s.exit_code) for s in record.steps] == [("lock", 19), ("wheel", 1)]
