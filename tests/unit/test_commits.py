from __future__ import annotations

from pathlib import Path

import pytest

from build_support import commits
from build_support.errors import VerificationError
from tests.conftest import git

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.subprocess
def test_ci_variable_is_trusted_outside_a_checkout_and_logged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert commits.expected_commit(tmp_path, {"BUILDKITE_COMMIT": SHA}) == SHA
    assert commits.expected_commit(tmp_path, {"GITHUB_SHA": SHA}) == SHA
    assert commits.expected_commit(tmp_path, {"BUILD_SUPPORT_COMMIT": SHA}) == SHA
    err = capsys.readouterr().err
    assert f"not a git checkout: trusting BUILD_SUPPORT_COMMIT={SHA}" in err


def test_short_or_bad_sha_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(VerificationError, match="40-character"):
        commits.expected_commit(tmp_path, {"BUILDKITE_COMMIT": "HEAD"})


@pytest.mark.subprocess
def test_unknown_commit_fails_closed(tmp_path: Path) -> None:
    with pytest.raises(VerificationError, match="expected commit is unknown"):
        commits.expected_commit(tmp_path, {})


@pytest.mark.subprocess
@pytest.mark.parametrize("var", ["BUILD_SUPPORT_COMMIT", "BUILDKITE_COMMIT", "GITHUB_SHA"])
def test_a_variable_naming_another_commit_than_head_is_refused(git_repo: Path, var: str) -> None:
    """The variable must not be both what is stamped and what is checked (issue 10)."""
    head = git(git_repo, "rev-parse", "HEAD")
    with pytest.raises(VerificationError) as info:
        commits.expected_commit(git_repo, {var: SHA})
    assert f"{var}={SHA}" in str(info.value)
    assert head in str(info.value)
    assert info.value.exit_code == 13


@pytest.mark.subprocess
def test_a_variable_naming_head_is_accepted_in_a_subfolder(git_repo: Path) -> None:
    head = git(git_repo, "rev-parse", "HEAD")
    sub = git_repo / "sub"
    sub.mkdir()
    assert commits.expected_commit(sub, {"BUILDKITE_COMMIT": head}) == head
    assert commits.expected_commit(sub, {}) == head


def test_disagreeing_variables_are_refused(tmp_path: Path) -> None:
    with pytest.raises(VerificationError, match="disagree"):
        commits.expected_commit(tmp_path, {"BUILD_SUPPORT_COMMIT": SHA, "GITHUB_SHA": "f" * 40})


@pytest.mark.subprocess
def test_a_checkout_without_commits_fails_closed(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    with pytest.raises(VerificationError, match="rev-parse HEAD"):
        commits.expected_commit(tmp_path, {"BUILD_SUPPORT_COMMIT": SHA})


@pytest.mark.subprocess
def test_git_repo_facts(git_repo: Path) -> None:
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


@pytest.mark.subprocess
def test_a_git_folder_that_git_cannot_read_fails_closed(tmp_path: Path) -> None:
    """Not "outside a checkout": that would trust the variable unchecked."""
    (tmp_path / ".git").mkdir()  # no repository git can read
    sub = tmp_path / "src"
    sub.mkdir()
    with pytest.raises(VerificationError, match=r"has a \.git") as info:
        commits.expected_commit(sub, {"BUILD_SUPPORT_COMMIT": SHA})
    assert "safe.directory" in (info.value.hint or "")
