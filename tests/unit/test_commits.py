from __future__ import annotations

from pathlib import Path

import pytest

from build_support import commits
from build_support.ciplan.changes import pr_base
from build_support.errors import GateError, VerificationError
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


def _number(env: dict[str, str]) -> int | None:
    pr = commits.pull_request(env)
    return pr.number if pr else None


def test_pull_request_number() -> None:
    assert _number({"BUILDKITE_PULL_REQUEST": "123"}) == 123
    assert _number({"BUILDKITE_PULL_REQUEST": "false"}) is None
    env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF": "refs/pull/7/merge"}
    assert _number(env) == 7


@pytest.mark.parametrize(
    ("env", "number"),
    [
        # pull_request_target runs on the base branch's ref, with its secrets: still a PR
        ({"GITHUB_EVENT_NAME": "pull_request_target", "GITHUB_REF": "refs/heads/main"}, None),
        ({"GITHUB_REF": "refs/pull/9/merge"}, 9),
        ({"BUILDKITE_PULL_REQUEST": "pr-12"}, None),
        ({"GITHUB_EVENT_NAME": "pull_request_review"}, None),
    ],
)
def test_every_sign_of_a_pull_request_counts(env: dict[str, str], number: int | None) -> None:
    """One rule (F3): the publish gate and the CI plan ask :func:`commits.pull_request`."""
    pr = commits.pull_request(env)
    assert pr is not None
    assert pr.number == number
    assert next(iter(env)) in pr.evidence
    assert pr_base({**env, "GITHUB_BASE_REF": "main"}) == "main"


def test_pull_request_target_takes_its_number_from_the_event(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"number": 31, "pull_request": {"number": 31}}')
    env = {"GITHUB_EVENT_NAME": "pull_request_target", "GITHUB_REF": "refs/heads/main",
           "GITHUB_EVENT_PATH": str(event)}  # fmt: skip
    assert _number(env) == 31
    assert _number({**env, "GITHUB_EVENT_PATH": str(tmp_path / "no")}) is None


def test_not_a_pull_request() -> None:
    for env in ({}, {"BUILDKITE_PULL_REQUEST": "false"}, {"GITHUB_EVENT_NAME": "push"}):
        assert commits.pull_request(env) is None
        assert pr_base({**env, "GITHUB_BASE_REF": "main"}) is None


@pytest.mark.subprocess
def test_an_untracked_file_makes_the_tree_dirty(git_repo: Path) -> None:
    """One rule (F5): tracked changes and untracked files not ignored, anywhere."""
    (git_repo / ".gitignore").write_text("*.log\n")
    git(git_repo, "add", ".gitignore")
    git(git_repo, "commit", "-q", "-m", "ignore")
    (git_repo / "debug.log").write_text("ignored\n")
    assert commits.clean_tree_problem(git_repo) is None
    (git_repo / "sub").mkdir()
    (git_repo / "sub" / "new.py").write_text("")
    assert commits.is_dirty(git_repo)
    problem = commits.clean_tree_problem(git_repo)
    assert problem is not None
    assert "sub/new.py" in problem
    with pytest.raises(GateError, match="dirty working tree") as info:
        commits.require_clean(git_repo)
    assert info.value.exit_code == 16


@pytest.mark.subprocess
def test_outside_a_checkout_the_tree_is_not_clean(tmp_path: Path) -> None:
    assert "cannot read" in (commits.clean_tree_problem(tmp_path) or "")


@pytest.fixture
def cloned(tmp_path: Path, git_repo: Path) -> Path:
    """A bare "origin" made from ``git_repo`` (its main), and a clone of it."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(git_repo), str(origin))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    return clone


@pytest.mark.subprocess
def test_head_on_the_remote_branch_passes_and_a_feature_commit_does_not(cloned: Path) -> None:
    assert commits.on_branch_problem(cloned, "main") is None
    git(cloned, "checkout", "-q", "-b", "feature")
    (cloned / "f").write_text("x\n")
    git(cloned, "add", "f")
    git(cloned, "commit", "-q", "-m", "feature")
    problem = commits.on_branch_problem(cloned, "main")
    assert problem is not None
    assert "is not on origin/main" in problem
    assert "no remote 'upstream'" in (
        commits.on_branch_problem(cloned, "main", remote="upstream") or ""
    )


@pytest.mark.subprocess
def test_a_ci_checkout_fetches_the_remote_branch(cloned: Path, tmp_path: Path) -> None:
    """Detached HEAD at a new tip of main, no (or a stale) origin/main: fetched, passes."""
    work = tmp_path / "dev"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(work))
    (work / "g").write_text("y\n")
    git(work, "add", "g")
    git(work, "commit", "-q", "-m", "on main")
    git(work, "push", "-q", "origin", "main")
    tip = git(work, "rev-parse", "HEAD")
    git(cloned, "fetch", "-q", "origin", tip)  # what a CI agent does: fetch the commit
    git(cloned, "checkout", "-q", "--detach", tip)
    assert commits.on_branch_problem(cloned, "main") is None  # the stale ref was refreshed
    git(cloned, "update-ref", "-d", "refs/remotes/origin/main")
    assert commits.on_branch_problem(cloned, "main") is None  # the absent ref was fetched
    assert git(cloned, "rev-parse", "refs/remotes/origin/main") == tip


@pytest.mark.subprocess
def test_a_shallow_clone_that_cannot_tell_fails_closed(git_repo: Path, tmp_path: Path) -> None:
    """An older commit of main in a depth-1 CI clone: git cannot show it, so refused."""
    older = git(git_repo, "rev-parse", "HEAD")
    (git_repo / "later").write_text("z\n")
    git(git_repo, "add", "later")
    git(git_repo, "commit", "-q", "-m", "later")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{git_repo}", str(shallow))
    git(shallow, "fetch", "-q", "--depth", "1", "origin", older)
    git(shallow, "checkout", "-q", "--detach", older)
    problem = commits.on_branch_problem(shallow, "main")
    assert problem is not None
    assert "shallow clone" in problem
    assert "git fetch --unshallow origin main" in problem
    git(shallow, "fetch", "-q", "--unshallow", "origin", "main")
    assert commits.on_branch_problem(shallow, "main") is None


@pytest.mark.subprocess
def test_an_unreachable_remote_fails_closed(cloned: Path, tmp_path: Path) -> None:
    git(cloned, "update-ref", "-d", "refs/remotes/origin/main")
    git(cloned, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    problem = commits.on_branch_problem(cloned, "main")
    assert problem is not None
    assert "`git fetch origin main` failed" in problem


@pytest.mark.subprocess
def test_a_git_folder_that_git_cannot_read_fails_closed(tmp_path: Path) -> None:
    """Not "outside a checkout": that would trust the variable unchecked."""
    (tmp_path / ".git").mkdir()  # no repository git can read
    sub = tmp_path / "src"
    sub.mkdir()
    with pytest.raises(VerificationError, match=r"has a \.git") as info:
        commits.expected_commit(sub, {"BUILD_SUPPORT_COMMIT": SHA})
    assert "safe.directory" in (info.value.hint or "")
