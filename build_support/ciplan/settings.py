"""``[tool.build_support.ciplan]``: the CI plan's settings, validated when the config loads.

Light on purpose (the standard library and build_support's light modules only): the
config registry (:data:`build_support.config.SECTIONS`) imports it at every load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from build_support import stages
from build_support.config import SUPPORTED_PLATFORMS
from build_support.errors import ConfigError


def builtin_groups() -> tuple[str, ...]:
    """The built-in step groups, in pipeline order: each stage's ``ci_group``."""
    return stages.ci_groups()


DEFAULT_TIMEOUTS: Mapping[str, int] = MappingProxyType(
    {"lock": 30, "wheel": 60, "jars": 60, "images": 90, "release_tests": 240, "publish": 60}
)

DEFAULT_QUEUES: Mapping[str, str] = MappingProxyType(
    {
        "manylinux2014_x86_64": "builder-x86_64",
        "manylinux2014_aarch64": "builder-arm64",
        "macosx_12_0_arm64": "builder-macos-arm64",
    }
)

DEFAULT_RUNS_ON: Mapping[str, str] = MappingProxyType(
    {
        "manylinux2014_x86_64": "ubuntu-24.04",
        "manylinux2014_aarch64": "ubuntu-24.04-arm",
        "macosx_12_0_arm64": "macos-14",
    }
)


@dataclass(frozen=True, kw_only=True)
class CustomStep:
    """``[tool.build_support.ciplan.steps.<key>]``: a step of the project's own."""

    #: The command, as an argument list (run without a shell by ``--run-local``).
    command: tuple[str, ...]
    label: str = ""
    depends_on: tuple[str, ...] = ()
    platform: str = ""
    timeout_minutes: int = 30
    artifact_paths: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CiPlanSettings:
    """``[tool.build_support.ciplan]``."""

    #: Rules files, globs relative to the project root.
    rules: tuple[str, ...] = ("ci/*.rules.txt",)
    #: tag → the step groups it selects (every declared tag must be listed).
    tags: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    #: Which built-in groups the plan has.
    builtin_steps: tuple[str, ...] = field(default_factory=builtin_groups)
    #: Custom steps, by key; the key is also their group name.
    steps: Mapping[str, CustomStep] = field(default_factory=lambda: MappingProxyType({}))
    #: Ray's rule: a build that is not a pull request runs everything. When false, a
    #: default-branch build runs what its merge (``HEAD^...HEAD``) changed.
    select_all_outside_prs: bool = True
    #: The agent platform of steps that do not build for one (lock check, publish, …).
    default_platform: str = "manylinux2014_x86_64"
    #: Buildkite agent queue per platform tag (arm64 and macOS are native agents).
    queues: Mapping[str, str] = field(default_factory=lambda: DEFAULT_QUEUES)
    #: GitHub Actions ``runs-on`` label per platform tag.
    runs_on: Mapping[str, str] = field(default_factory=lambda: DEFAULT_RUNS_ON)
    #: Minutes per group (``timeout_in_minutes`` / ``timeout-minutes``), over
    #: :data:`DEFAULT_TIMEOUTS`.
    timeouts: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    #: Groups whose failure does not fail the build.
    soft_fail: tuple[str, ...] = ()
    release_tests_args: tuple[str, ...] = ("--smoke",)
    #: The release-test exit status CI retries automatically, and how often.
    retry_exit_status: int = 79
    retry_limit: int = 1
    publish_args: tuple[str, ...] = ("--execute",)
    publish_concurrency_group: str = "build-support-publish"
    #: Environment of every Buildkite step / of the GitHub workflow.
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    github_env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: The generated GitHub workflow, relative to the project root.
    workflow: str = ".github/workflows/ci.yml"
    #: The Python that runs nox on CI.
    tool_python: str = "3.12"
    #: Buildkite accepts at most this many steps per upload.
    max_steps: int = 500
    #: The release-test fan-out (``ci-plan -- --release-tests``): one concurrency group
    #: per cluster kind (``cluster.byod.type``) or per test ``group``, its limit (by kind
    #: or group name, else the default), the minutes added to a test's own timeout, and
    #: GitHub's ``max-parallel`` per team job.
    release_tests_concurrency_by: str = "cluster"
    release_tests_concurrency: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({})
    )
    release_tests_default_concurrency: int = 4
    release_tests_timeout_margin_minutes: int = 15
    release_tests_max_parallel: int = 4

    def groups(self) -> tuple[str, ...]:
        return (*self.builtin_steps, *self.steps)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, where: str = "tool.build_support.ciplan") -> None:  # noqa: PLR0912
        builtin = builtin_groups()
        for g in self.builtin_steps:
            if g not in builtin:
                raise ConfigError(
                    f"{where}.builtin_steps contains {g!r}",
                    hint="allowed: " + ", ".join(builtin),
                )
        clash = sorted(set(self.steps) & set(builtin))
        if clash:
            raise ConfigError(
                f"{where}.steps redefines built-in step group(s) {', '.join(clash)}",
                hint="give custom steps other names",
            )
        groups = self.groups()
        for tag, targets in self.tags.items():
            for g in targets:
                if g not in groups:
                    raise ConfigError(
                        f"{where}.tags.{tag} names step group {g!r}, which the plan does not have",
                        hint="step groups: " + ", ".join(groups),
                    )
        for g in (*self.soft_fail, *self.timeouts):
            if g not in groups and g not in builtin:
                raise ConfigError(
                    f"{where}: {g!r} (in soft_fail or timeouts) is not a step group",
                    hint="step groups: " + ", ".join(groups),
                )
        for key, table in (("queues", self.queues), ("runs_on", self.runs_on)):
            for tag in table:
                if tag not in SUPPORTED_PLATFORMS:
                    raise ConfigError(
                        f"{where}.{key}.{tag}: not a platform tag",
                        hint="allowed: " + ", ".join(SUPPORTED_PLATFORMS),
                    )
        platforms_used = [self.default_platform] + [s.platform for s in self.steps.values()]
        for tag in platforms_used:
            if tag and tag not in SUPPORTED_PLATFORMS:
                raise ConfigError(
                    f"{where}: platform {tag!r} is not a platform tag",
                    hint="allowed: " + ", ".join(SUPPORTED_PLATFORMS),
                )
        if self.release_tests_concurrency_by not in ("cluster", "group"):
            raise ConfigError(
                f"{where}.release_tests_concurrency_by = {self.release_tests_concurrency_by!r}",
                hint='allowed: "cluster" (cluster.byod.type) or "group" (the test\'s group)',
            )
        limits = {
            **{
                f"release_tests_concurrency.{k}": v
                for k, v in self.release_tests_concurrency.items()
            },
            "release_tests_default_concurrency": self.release_tests_default_concurrency,
            "release_tests_max_parallel": self.release_tests_max_parallel,
        }
        for key, value in limits.items():
            if value < 1:
                raise ConfigError(f"{where}.{key} = {value}: at least 1 step runs at a time")
        if self.release_tests_timeout_margin_minutes < 0:
            raise ConfigError(f"{where}.release_tests_timeout_margin_minutes must be >= 0")
        if not 1 <= self.max_steps <= 500:
            raise ConfigError(
                f"{where}.max_steps = {self.max_steps}: Buildkite takes 1 to 500 steps per upload"
            )
