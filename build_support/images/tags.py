"""Docker image tags, as pure functions of where the build is (Ray's tag scheme).

``{version}-py{XY}-{cpu|cuXY}[-aarch64]``, where version is

* ``nightly.YYMMDD.sha6`` on the default branch (plus the alias ``nightly``),
* ``X.sha6`` on ``releases/X``,
* ``pr-N.sha6`` on a pull request,
* else ``sha6``.

Aliases (``reference/ray-pipeline-facts.md`` section 4): the CPU flavor also gets an
empty platform part, the default Python an empty python part, and the configured GPU
platform the ``-gpu`` platform part. Every combination of the version, python and
platform parts is a tag; the first one is the primary tag.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from build_support.commits import BuildContext
from build_support.errors import ConfigError, UsageError
from build_support.platforms import Arch

Flavor = Literal["cpu", "gpu"]

#: Docker's tag grammar.
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_CUDA_RE = re.compile(r"(?:cu)?(\d+)\.(\d+)(?:\.\d+)?(?:-[A-Za-z0-9.]+)?")
_PYTHON_RE = re.compile(r"3\.\d{1,2}")
_SHA_RE = re.compile(r"[0-9a-f]{6,64}")

RELEASE_PREFIX = "releases/"


@dataclass(frozen=True, kw_only=True)
class TagInputs:
    """Everything a tag depends on; host and clock facts are passed in."""

    branch: str
    sha: str
    pr_number: int | None
    date: dt.date
    python: str
    flavor: Flavor
    arch: Arch
    default_branch: str
    default_python: str
    #: The CUDA version of the GPU base, e.g. ``12.8.1-cudnn`` (GPU flavor only).
    cuda: str = ""
    #: The GPU platform that also gets the ``-gpu`` alias (Ray's ``GPU_PLATFORM``).
    gpu_alias_cuda: str = ""
    #: Why this build is a pull request ("" when it is not): ``BuildContext.pr_evidence``.
    pr_evidence: str = ""

    @property
    def ctx(self) -> BuildContext:
        return BuildContext(
            branch=self.branch,
            sha=self.sha,
            pr_number=self.pr_number,
            dirty=False,
            pr_evidence=self.pr_evidence,
        )


def short_sha(sha: str) -> str:
    if not _SHA_RE.fullmatch(sha):
        raise UsageError(f"invalid commit {sha!r} for an image tag", hint="a hex commit SHA")
    return sha[:6]


def version_tags(ctx: BuildContext, *, date: dt.date, default_branch: str) -> list[str]:
    """The version part(s): the primary first, then the ``nightly`` alias if any. A pull
    request never gets ``nightly`` (``ctx.is_release_branch``), with or without a number."""
    sha6 = short_sha(ctx.sha)
    branch = ctx.branch
    if ctx.pr_number is not None:
        return [f"pr-{ctx.pr_number}.{sha6}"]
    if ctx.is_pull_request:
        return [f"pr.{sha6}"]
    if ctx.is_release_branch(default_branch):
        return [f"nightly.{date:%y%m%d}.{sha6}", "nightly"]
    if branch.startswith(RELEASE_PREFIX):
        release = branch[len(RELEASE_PREFIX) :]
        if not release or not _TAG_RE.fullmatch(release):
            raise UsageError(
                f"release branch {branch!r} does not give a valid tag part {release!r}",
                hint="name release branches releases/X with X made of letters, digits, . _ -",
            )
        return [f"{release}.{sha6}"]
    return [sha6]


def python_part(python: str) -> str:
    """``3.11`` -> ``-py311``."""
    if not _PYTHON_RE.fullmatch(python):
        raise UsageError(f"invalid Python version {python!r}", hint="e.g. 3.11")
    return "-py" + python.replace(".", "")


def cuda_part(cuda: str) -> str:
    """``12.8.1-cudnn`` (or ``cu12.8.1-cudnn``) -> ``-cu128``: major and minor only."""
    m = _CUDA_RE.fullmatch(cuda)
    if m is None:
        raise ConfigError(
            f"cannot read a CUDA version from {cuda!r}",
            hint="set [tool.build_support.images] cuda_version, e.g. '12.8.1-cudnn'",
        )
    return f"-cu{m.group(1)}{m.group(2)}"


def cuda_from_image(ref: str) -> str | None:
    """``nvidia/cuda:12.8.1-cudnn-devel-ubuntu22.04`` -> ``12.8.1-cudnn``."""
    _, _, tag = ref.rpartition(":")
    m = re.match(r"(\d+\.\d+(?:\.\d+)?)(-cudnn\d*)?(?:-|$)", tag)
    if m is None or "/" in tag:
        return None
    return m.group(1) + (m.group(2) or "")


def platform_parts(flavor: Flavor, cuda: str = "", gpu_alias_cuda: str = "") -> list[str]:
    if flavor == "cpu":
        return ["-cpu", ""]
    primary = cuda_part(cuda)
    parts = [primary]
    if gpu_alias_cuda and cuda_part(gpu_alias_cuda) == primary:
        parts.append("-gpu")
    return parts


def arch_suffix(arch: Arch) -> str:
    return "" if arch == "x86_64" else f"-{arch}"


def image_tags(inputs: TagInputs) -> list[str]:
    """Every tag of one image, the primary tag first, without duplicates."""
    versions = version_tags(inputs.ctx, date=inputs.date, default_branch=inputs.default_branch)
    py_parts = [python_part(inputs.python)]
    if inputs.python == inputs.default_python:
        py_parts.append("")
    plat_parts = platform_parts(inputs.flavor, inputs.cuda, inputs.gpu_alias_cuda)
    suffix = arch_suffix(inputs.arch)
    tags: list[str] = []
    for version in versions:
        for py in py_parts:
            for plat in plat_parts:
                tag = f"{version}{py}{plat}{suffix}"
                if tag not in tags:
                    tags.append(tag)
    for tag in tags:
        if not _TAG_RE.fullmatch(tag):  # pragma: no cover - parts are validated above
            raise UsageError(f"computed an invalid image tag {tag!r}")
    return tags
