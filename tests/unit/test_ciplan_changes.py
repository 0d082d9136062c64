"""Changed files from real git repositories, and where the base comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from build_support.ciplan import changes, plan
from tests.conftest import git

pytestmark = pytest.mark.subprocess


def commit(repo: Path, message: str, **files: str) -> str:
    for name, text in files.items():
        path = repo / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        git(repo, "add", str(path))
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def feature(git_repo: Path) -> Path:
    """main has docs/notes.md; branch feature changes python/ and moves the notes."""
    commit(git_repo, "docs", docs__notes="notes\n" * 20)
    git(git_repo, "checkout", "-q", "-b", "feature")
    commit(git_repo, "code", python__minray__core="x = 1\n")
    git(git_repo, "mv", "docs/notes", "python/minray/notes")
    git(git_repo, "commit", "-q", "-m", "move")
    return git_repo


def detect(repo: Path, env: dict[str, str], **kwargs: object) -> plan.Changes:
    return changes.detect(
        repo,
        default_branch="main",
        select_all_outside_prs=bool(kwargs.pop("select_all_outside_prs", True)),
        env=env,
        **kwargs,  # type: ignore[arg-type]
    )


def test_buildkite_pull_request_diffs_against_its_base(feature: Path) -> None:
    env = {"BUILDKITE_PULL_REQUEST": "12", "BUILDKITE_PULL_REQUEST_BASE_BRANCH": "main"}
    got = detect(feature, env)
    assert got.select_all is None
    # the rename counts both the old and the new path
    assert sorted(got.files) == ["docs/notes", "python/minray/core", "python/minray/notes"]
    assert got.source == "git diff main...HEAD (pull request into main)"


def test_github_pull_request_uses_github_base_ref(feature: Path) -> None:
    got = detect(feature, {"GITHUB_BASE_REF": "main", "GITHUB_EVENT_NAME": "pull_request"})
    assert "python/minray/core" in got.files


def test_explicit_base(feature: Path) -> None:
    got = detect(feature, {}, base="HEAD~1")
    assert sorted(got.files) == ["docs/notes", "python/minray/notes"]


def test_not_a_pull_request_runs_everything(feature: Path) -> None:
    got = detect(feature, {"BUILDKITE_PULL_REQUEST": "false", "BUILDKITE_BRANCH": "feature"})
    assert got.select_all == "not a pull request (branch feature)"


def test_default_branch_after_a_merge_diffs_the_previous_commit(git_repo: Path) -> None:
    commit(git_repo, "java", java__pom="<project/>\n")
    got = detect(git_repo, {"BUILDKITE_BRANCH": "main"}, select_all_outside_prs=False)
    assert got.files == ("java/pom",)
    assert got.select_all is None
    other = detect(git_repo, {"BUILDKITE_BRANCH": "topic"}, select_all_outside_prs=False)
    assert other.select_all == "not a pull request nor main (topic)"


def test_unknown_base_falls_back_to_everything(feature: Path) -> None:
    env = {"BUILDKITE_PULL_REQUEST": "3", "BUILDKITE_PULL_REQUEST_BASE_BRANCH": "gone"}
    got = detect(feature, env)
    assert got.select_all is not None
    assert "'gone' is not in this clone" in got.select_all
    assert "failed" in (detect(feature, {}, base="no-such-ref").select_all or "")


def test_changed_and_changed_from(tmp_path: Path) -> None:
    listing = tmp_path / "changed.txt"
    listing.write_text("a/b.py\n\n c/d.md \na/b.py\n")
    got = detect(tmp_path, {}, changed=["x"], changed_from=str(listing))
    assert got.files == ("x", "a/b.py", "c/d.md")
    assert got.select_all is None
