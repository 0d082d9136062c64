from __future__ import annotations

import pytest

from build_support import commits
from build_support.errors import GateError, UsageError
from build_support.store import keys

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_wheel_key_layout() -> None:
    assert keys.wheel_key("main", SHA, "minray-1.0-py3-none-any.whl") == (
        f"main/{SHA}/minray-1.0-py3-none-any.whl"
    )


def test_branch_slashes_are_path_segments() -> None:
    assert keys.wheel_key("releases/2.1", SHA, "f.whl") == f"releases/2.1/{SHA}/f.whl"
    assert keys.jar_key("releases/2.1", SHA, "linux", "a.jar") == (
        f"jars/releases/2.1/{SHA}/linux/a.jar"
    )


def test_latest_and_jar_keys() -> None:
    assert keys.latest_key("f.whl") == "latest/f.whl"
    assert keys.jar_key("main", SHA, "darwin", "a.jar") == f"jars/main/{SHA}/darwin/a.jar"
    assert keys.commit_prefix("main", SHA) == f"main/{SHA}/"


@pytest.mark.parametrize(
    "branch",
    [
        "",
        "/main",
        "main/",
        "a//b",
        "../x",
        "a/../b",
        "a b",
        "a\tb",
        "a\\b",
        "x\x00",
        "latest",
        "jars/x",
    ],
)
def test_bad_branches(branch: str) -> None:
    with pytest.raises(UsageError):
        keys.wheel_key(branch, SHA, "f.whl")


@pytest.mark.parametrize("sha", ["", "xyz", "ABCDEF0", "abc", "g" * 40, SHA + "/x"])
def test_bad_sha(sha: str) -> None:
    with pytest.raises(UsageError, match="commit sha"):
        keys.wheel_key("main", sha, "f.whl")


@pytest.mark.parametrize("name", ["", "..", "a/b", "a b.whl", "f.whl.sha256"])
def test_bad_filenames(name: str) -> None:
    with pytest.raises(UsageError):
        keys.latest_key(name)


def test_bad_jar_os() -> None:
    with pytest.raises(UsageError, match="one of"):
        keys.jar_key("main", SHA, "solaris", "a.jar")


@pytest.mark.parametrize("key", ["a", "a/b/c.whl", "releases/2.1/x"])
def test_validate_key_accepts(key: str) -> None:
    assert keys.validate_key(key) == key


@pytest.mark.parametrize("key", ["", "/a", "a/", "a//b", "a/../b", "a/./b", "a b", "x.sha256"])
def test_validate_key_rejects(key: str) -> None:
    with pytest.raises(UsageError):
        keys.validate_key(key)


def test_prefixes() -> None:
    assert keys.validate_prefix("") == ""
    assert keys.validate_prefix("main/") == "main/"
    assert keys.validate_prefix("main/01") == "main/01"
    for bad in ("/", "../", "a//"):
        with pytest.raises(UsageError):
            keys.validate_prefix(bad)


def _ctx(branch: str, env: dict[str, str] | None = None) -> commits.BuildContext:
    pr = commits.pull_request(env or {})
    return commits.BuildContext(
        branch=branch,
        sha="a" * 40,
        pr_number=pr.number if pr else None,
        dirty=False,
        pr_evidence=pr.evidence if pr else "",
    )


def test_promotion_only_from_default_branch() -> None:
    keys.check_promotion(_ctx("main"), "main")
    with pytest.raises(GateError, match="only 'main'"):
        keys.check_promotion(_ctx("releases/2.1"), "main")


@pytest.mark.parametrize(
    "env",
    [
        {"BUILDKITE_PULL_REQUEST": "42"},
        # F4: not a number, still a pull request (the old `pr_number is None` let it promote)
        {"BUILDKITE_PULL_REQUEST": "feature-x"},
        {"GITHUB_EVENT_NAME": "pull_request_target", "GITHUB_REF": "refs/heads/main"},
    ],
)
def test_no_pull_request_promotes_with_or_without_a_number(env: dict[str, str]) -> None:
    ctx = _ctx("main", env)
    assert not ctx.is_release_branch("main")
    with pytest.raises(GateError, match="pull request"):
        keys.check_promotion(ctx, "main")


def test_release_test_keys() -> None:
    sha = "a" * 40
    assert (
        keys.release_attempt_key(sha, "bk-1", "t.aws", 2, "artifacts/x.json")
        == f"release-tests/{sha}/bk-1/t.aws/attempt-2/artifacts/x.json"
    )
    assert keys.release_run_key(sha, "bk-1", "summary.json") == (
        f"release-tests/{sha}/bk-1/summary.json"
    )
    prefix = keys.release_test_prefix(sha, "bk-1", "t")
    assert keys.release_attempt_of(prefix + "attempt-3/junit.xml", sha, "bk-1", "t") == 3
    assert keys.release_attempt_of(prefix + "attempt-0/x", sha, "bk-1", "t") is None
    assert keys.release_attempt_of(prefix + "other/x", sha, "bk-1", "t") is None
    with pytest.raises(UsageError):
        keys.release_attempt_key(sha, "bk-1", "t", 0, "x")
    with pytest.raises(UsageError):
        keys.release_test_prefix(sha, "bk-1", "a b")
    with pytest.raises(UsageError):
        keys.release_run_id(".hidden")
    with pytest.raises(UsageError, match="reserved top-level key"):
        keys.branch_segments("release-tests/x")


def test_every_stage_key_is_made_in_keys() -> None:
    """F10: the cache records and the JAR prefix are laid out here, and no branch can
    write where they are (a branch ``cache/wheels`` once wrote beside the wheel stage's
    cache records)."""
    from build_support import manifests

    sha = "b" * 40
    assert manifests.wheel_cache_key("d1") == "cache/wheels/d1.json"
    assert manifests.jars_cache_key("d2") == "cache/jars/d2.json"
    assert manifests.release_pass_key("d3") == "cache/release-tests/d3.json"
    assert keys.jars_commit_prefix("main", sha) == f"jars/main/{sha}/"
    assert keys.jar_key("main", sha, "linux", "a.jar").startswith(
        keys.jars_commit_prefix("main", sha)
    )
    with pytest.raises(UsageError, match="reserved top-level key"):
        keys.wheel_key("cache/wheels", sha, "a.whl")
    with pytest.raises(UsageError, match="invalid cache kind"):
        keys.cache_key("images", "d4")
