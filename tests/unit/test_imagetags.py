"""The image tag scheme, table-driven (Ray's ci/ray_ci/docker_container.py rules)."""

from __future__ import annotations

import datetime as dt

import pytest

from build_support.errors import ConfigError, UsageError
from build_support.images import tags as imagetags
from build_support.images.tags import TagInputs

SHA = "abc123def4567890abc123def4567890abc12345"
DAY = dt.date(2025, 1, 2)


def _inputs(**overrides: object) -> TagInputs:
    base: dict[str, object] = {
        "branch": "main",
        "sha": SHA,
        "pr_number": None,
        "date": DAY,
        "python": "3.11",
        "flavor": "cpu",
        "arch": "x86_64",
        "default_branch": "main",
        "default_python": "3.11",
        "cuda": "",
        "gpu_alias_cuda": "12.8.1-cudnn",
    }
    base.update(overrides)
    return TagInputs(**base)  # type: ignore[arg-type]


def test_a_pull_request_without_a_number_gets_no_nightly_tag() -> None:
    """F4: ``BUILDKITE_PULL_REQUEST=feature-x`` on main is a pull request (no number): its
    images are tagged ``pr.<sha>``, never ``nightly`` (the old rule only asked for a
    number)."""
    tags = imagetags.image_tags(
        _inputs(pr_evidence="BUILDKITE_PULL_REQUEST=feature-x", python="3.10")
    )
    assert tags[0] == "pr.abc123-py310-cpu"
    assert not [t for t in tags if "nightly" in t]


CASES: list[tuple[str, dict[str, object], list[str]]] = [
    (
        "default branch, default python, cpu",
        {},
        [
            "nightly.250102.abc123-py311-cpu",
            "nightly.250102.abc123-py311",
            "nightly.250102.abc123-cpu",
            "nightly.250102.abc123",
            "nightly-py311-cpu",
            "nightly-py311",
            "nightly-cpu",
            "nightly",
        ],
    ),
    (
        "default branch, other python",
        {"python": "3.12"},
        [
            "nightly.250102.abc123-py312-cpu",
            "nightly.250102.abc123-py312",
            "nightly-py312-cpu",
            "nightly-py312",
        ],
    ),
    (
        "release branch",
        {"branch": "releases/2.41.0", "python": "3.12"},
        ["2.41.0.abc123-py312-cpu", "2.41.0.abc123-py312"],
    ),
    (
        "pull request wins over the branch",
        {"branch": "main", "pr_number": 42, "python": "3.10"},
        ["pr-42.abc123-py310-cpu", "pr-42.abc123-py310"],
    ),
    (
        "feature branch: sha6 only",
        {"branch": "fix/thing", "python": "3.12"},
        ["abc123-py312-cpu", "abc123-py312"],
    ),
    (
        "aarch64 suffix on every tag",
        {"branch": "fix/thing", "arch": "aarch64"},
        [
            "abc123-py311-cpu-aarch64",
            "abc123-py311-aarch64",
            "abc123-cpu-aarch64",
            "abc123-aarch64",
        ],
    ),
    (
        "gpu, the configured GPU platform gets -gpu",
        {"branch": "fix/thing", "flavor": "gpu", "cuda": "12.8.1-cudnn", "python": "3.12"},
        ["abc123-py312-cu128", "abc123-py312-gpu"],
    ),
    (
        "gpu, another CUDA gets no -gpu alias and no empty platform",
        {"branch": "fix/thing", "flavor": "gpu", "cuda": "11.8.0-cudnn8", "python": "3.12"},
        ["abc123-py312-cu118"],
    ),
    (
        "gpu on the default branch with the default python",
        {"flavor": "gpu", "cuda": "12.8.1-cudnn", "pr_number": 7},
        [
            "pr-7.abc123-py311-cu128",
            "pr-7.abc123-py311-gpu",
            "pr-7.abc123-cu128",
            "pr-7.abc123-gpu",
        ],
    ),
    (
        "another default branch name",
        {"branch": "master", "default_branch": "master", "python": "3.13"},
        [
            "nightly.250102.abc123-py313-cpu",
            "nightly.250102.abc123-py313",
            "nightly-py313-cpu",
            "nightly-py313",
        ],
    ),
]


@pytest.mark.parametrize(("case", "overrides", "expected"), CASES, ids=[c[0] for c in CASES])
def test_image_tags(case: str, overrides: dict[str, object], expected: list[str]) -> None:
    assert imagetags.image_tags(_inputs(**overrides)) == expected, case


def test_main_is_not_the_default_branch_elsewhere() -> None:
    tags = imagetags.image_tags(_inputs(default_branch="trunk"))
    assert tags[0] == "abc123-py311-cpu"
    assert "nightly" not in tags


@pytest.mark.parametrize(
    ("cuda", "part"),
    [("12.8.1-cudnn", "-cu128"), ("cu12.1.1-cudnn8", "-cu121"), ("11.7.1", "-cu117")],
)
def test_cuda_part(cuda: str, part: str) -> None:
    assert imagetags.cuda_part(cuda) == part


def test_bad_cuda_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cuda_version"):
        imagetags.cuda_part("latest")


@pytest.mark.parametrize(
    ("ref", "cuda"),
    [
        ("nvidia/cuda:12.8.1-cudnn-devel-ubuntu22.04", "12.8.1-cudnn"),
        ("nvidia/cuda:11.8.0-cudnn8-devel-ubuntu20.04", "11.8.0-cudnn8"),
        ("nvidia/cuda:12.1.1-devel-ubuntu22.04", "12.1.1"),
        ("ubuntu:22.04", "22.04"),
        ("registry:5000/cuda", None),
        ("nvidia/cuda:latest", None),
    ],
)
def test_cuda_from_image(ref: str, cuda: str | None) -> None:
    assert imagetags.cuda_from_image(ref) == cuda


@pytest.mark.parametrize(
    "overrides",
    [{"sha": "not-a-sha"}, {"python": "311"}, {"branch": "releases/"}, {"branch": "releases/a b"}],
)
def test_bad_inputs_are_usage_errors(overrides: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        imagetags.image_tags(_inputs(**overrides))
