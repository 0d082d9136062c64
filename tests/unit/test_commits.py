from __future__ import annotations

from pathlib import Path

import pytest

from build_support import commits
from build_support.errors import VerificationError

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_ci_variable_wins(tmp_path: Path) -> None:
    assert commits.expected_commit(tmp_path, {"BUILDKITE_COMMIT": SHA}) == SHA
    assert commits.expected_commit(tmp_path, {"GITHUB_SHA": SHA}) == SHA


def test_short_or_bad_sha_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(VerificationError, match="40-character"):
        commits.expected_commit(tmp_path, {"BUILDKITE_COMMIT": "HEAD"})


@pytest.mark.subprocess
def test_unknown_commit_fails_closed(tmp_path: Path) -> None:
    with pytest.raises(VerificationError, match="expected commit is unknown"):
        commits.expected_commit(tmp_path, {})


@pytest.mark.subprocess
def test_git_repo_facts(git_repo: Path) -> None:
    from tests.conftest import git

    ctx = commits.context(git_repo, {})
    assert ctx.branch == "main"
    assert ctx.sha == git(git_repo, "rev-parse", "HEAD")
    assert ctx.pr_number is None
    assert not ctx.dirty
    (git_repo / "README").write_text("changed\n")
    assert commits.is_dirty(git_repo)


def test_pull_request_number() -> None:
    assert commits.pull_request_number({"BUILDKITE_PULL_REQUEST": "123"}) == 123
    assert commits.pull_request_number({"BUILDKITE_PULL_REQUEST": "false"}) is None
    env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF": "refs/pull/7/merge"}
    assert commits.pull_request_number(env) == 7
