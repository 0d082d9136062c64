"""The internal CI plan: steps, their graph, and which of them a change selects.

One plan feeds every rendering (Buildkite YAML, the GitHub Actions workflow, JSON,
``--explain``, ``--run-local``). A step belongs to a *group* (``lock``, ``wheel``,
``jars``, ``images``, ``release_tests``, ``publish``, or a configured custom step);
tags from the rules files select groups (``[tool.build_support.ciplan] tags``), and a
selected step pulls in every step it depends on, because a step's inputs come from the
store and must have been produced for the same commit.
"""

from __future__ import annotations

import graphlib
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from build_support import manifests, platforms, stages
from build_support.ciplan import rules as rules_mod
from build_support.ciplan.settings import (
    DEFAULT_QUEUES,
    DEFAULT_RUNS_ON,
    DEFAULT_TIMEOUTS,
    CiPlanSettings,
    CustomStep,
)
from build_support.config import Config
from build_support.errors import ConfigError
from build_support.images.settings import ImagesSettings
from build_support.jars.settings import JarsSettings
from build_support.releasetests.settings import ReleaseTestsSettings

if TYPE_CHECKING:
    from build_support.releasetests.loader import ReleaseTest

__all__ = [
    "DEFAULT_QUEUES",
    "DEFAULT_RUNS_ON",
    "DEFAULT_TIMEOUTS",
    "Builder",
    "Changes",
    "CiPlanSettings",
    "CustomStep",
    "Selection",
    "Step",
    "build_steps",
    "check_graph",
    "load_settings",
    "release_test_steps",
    "select",
]


def load_settings(cfg: Config) -> CiPlanSettings:
    """The ``[tool.build_support.ciplan]`` section (validated when the config loaded)."""
    return cfg.section("ciplan", CiPlanSettings)


@dataclass(frozen=True, kw_only=True)
class Step:
    """One job on one agent: what runs, after what, where, and under which conditions."""

    key: str
    label: str
    group: str
    #: The GitHub Actions job this step is one matrix cell of, and its cell.
    job: str
    matrix: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: The command with ``{axis}`` placeholders for the job's matrix axes.
    template: tuple[str, ...]
    depends_on: tuple[str, ...] = ()
    platform: str
    timeout_minutes: int
    retry_exit_status: int | None = None
    retry_limit: int = 0
    artifact_paths: tuple[str, ...] = ()
    soft_fail: bool = False
    #: Runs only on the default branch outside pull requests (publishing).
    default_branch_only: bool = False
    concurrency_group: str | None = None
    #: How many steps of ``concurrency_group`` run at once.
    concurrency: int = 1
    #: Runs when a step it depends on failed (a gathering step).
    allow_dependency_failure: bool = False
    #: Release-test steps: the team whose Buildkite group / GitHub job holds the step.
    team: str = ""

    @property
    def command(self) -> tuple[str, ...]:
        return tuple(part.format_map(self.matrix) for part in self.template)

    @property
    def command_line(self) -> str:
        from build_support import cmd

        return cmd.quote(self.command)


def short_platform(tag: str) -> str:
    """``manylinux2014_aarch64`` → ``linux-aarch64`` (keys and labels)."""
    os_name, arch = platforms.parse_platform_tag(tag)
    return f"{os_name}-{arch}"


def _nox(session: str, *args: str) -> tuple[str, ...]:
    return ("nox", "-s", session, *(("--", *args) if args else ()))


@dataclass
class Builder:
    """One plan being built: the stages' step builders add to :attr:`steps` in order."""

    cfg: Config
    settings: CiPlanSettings
    steps: list[Step] = field(default_factory=list)
    #: (python, platform tag) → the key of the wheel step that builds it.
    wheel_keys: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def default(self) -> str:
        return self.settings.default_platform

    @property
    def dist(self) -> Path:
        """``paths.dist`` relative to the project root: where the steps' manifests are."""
        return Path(self.cfg.paths.dist)

    def upload(self, path: Path) -> tuple[str]:
        """The artifact path of one file :mod:`build_support.manifests` names."""
        return (path.as_posix(),)

    @property
    def groups(self) -> tuple[str, ...]:
        return self.settings.builtin_steps

    def make(self, group: str, **fields: Any) -> Step:
        return Step(
            group=group,
            timeout_minutes=self.settings.timeouts.get(group, DEFAULT_TIMEOUTS.get(group, 60)),
            soft_fail=group in self.settings.soft_fail,
            **fields,
        )


def build_steps(cfg: Config, settings: CiPlanSettings) -> list[Step]:
    """Every step the project's CI can run, in pipeline order.

    Each built-in group's steps come from its stage's ``ci`` builder
    (:data:`build_support.stages.STAGES`, in the table's order); the custom steps come
    before the ``final`` stages (publish), which depend on every step before them.
    """
    b = Builder(cfg, settings)
    chosen = [s for s in stages.STAGES.values() if s.ci and s.ci_group in b.groups]
    for stage in (s for s in chosen if not s.final):
        stages.load(str(stage.ci))(b)
    for key, custom in settings.steps.items():
        b.steps.append(
            Step(
                key=key,
                label=custom.label or key,
                job=key,
                template=tuple(
                    part.replace("{", "{{").replace("}", "}}") for part in custom.command
                ),
                depends_on=custom.depends_on,
                platform=custom.platform or b.default,
                artifact_paths=custom.artifact_paths,
                group=key,
                timeout_minutes=settings.timeouts.get(key, custom.timeout_minutes),
                soft_fail=key in settings.soft_fail,
            )
        )
    for stage in (s for s in chosen if s.final):
        stages.load(str(stage.ci))(b)
    check_graph(b.steps, max_steps=settings.max_steps)
    return b.steps


def lock_steps(b: Builder) -> None:
    b.steps.append(
        b.make(
            "lock",
            key="lock-check",
            label="lock check (every Python)",
            job="lock-check",
            template=_nox("lock", "--check", "--backend", "uv"),
            platform=b.default,
        )
    )


def wheel_steps(b: Builder) -> None:
    for tag, version in itertools.product(b.cfg.platforms, b.cfg.python_versions):
        short = short_platform(tag)
        key = f"wheel-py{version.replace('.', '')}-{short}"
        b.wheel_keys[(version, tag)] = key
        b.steps.append(
            b.make(
                "wheel",
                key=key,
                label=f"wheel {version} {tag}",
                job="wheel",
                matrix=MappingProxyType({"python": version, "platform": tag}),
                template=_nox("wheel", "{platform}", "--python", "{python}"),
                platform=tag,
                artifact_paths=b.upload(manifests.wheels_path(b.dist)),
            )
        )


def jars_steps(b: Builder) -> None:
    jars = b.cfg.section("jars", JarsSettings)
    os_names = list(dict.fromkeys(p.os for p in jars.expected()))
    os_keys = []
    for os_name in os_names:
        # One job per OS: `jars -- linux` builds every linux native (aarch64 with a
        # cross compiler) and owns jars/{branch}/{sha}/linux/ in the store.
        tag = b.default if os_name == "linux" else "macosx_12_0_arm64"
        key = f"jars-{os_name}"
        os_keys.append(key)
        b.steps.append(
            b.make(
                "jars",
                key=key,
                label=f"jars {os_name}",
                job="jars",
                matrix=MappingProxyType({"os": os_name}),
                template=_nox("jars", "{os}"),
                platform=tag,
                artifact_paths=b.upload(manifests.jars_path(b.dist, os_name)),
            )
        )
    b.steps.append(
        b.make(
            "jars",
            key="jars-multiplatform",
            label="jars multiplatform",
            job="jars-multiplatform",
            template=_nox("jars", "multiplatform"),
            depends_on=tuple(os_keys),
            platform=b.default,
            artifact_paths=b.upload(manifests.jars_path(b.dist, platforms.MULTIPLATFORM)),
        )
    )


def images_steps(b: Builder) -> None:
    images = b.cfg.section("images", ImagesSettings)
    for tag in b.cfg.platforms:
        if not tag.startswith("manylinux"):
            continue
        needs = tuple(
            b.wheel_keys[(v, tag)] for v in images.python_versions if (v, tag) in b.wheel_keys
        )
        b.steps.append(
            b.make(
                "images",
                key=f"images-{short_platform(tag)}",
                label=f"images {short_platform(tag)}",
                job="images",
                matrix=MappingProxyType({"platform": tag}),
                template=_nox("images", "--platform", "{platform}"),
                depends_on=(*(("lock-check",) if "lock" in b.groups else ()), *needs),
                platform=tag,
                artifact_paths=b.upload(manifests.images_path(b.dist)),
            )
        )


def release_tests_steps(b: Builder) -> None:
    rt = b.cfg.section("release_tests", ReleaseTestsSettings)
    version = rt.python or b.cfg.python_versions[0]
    b.steps.append(
        b.make(
            "release_tests",
            key="release-tests",
            label="release tests",
            job="release-tests",
            template=_nox("release-tests", *b.settings.release_tests_args),
            depends_on=tuple(k for k in [b.wheel_keys.get((version, b.default))] if k),
            platform=b.default,
            retry_exit_status=b.settings.retry_exit_status,
            retry_limit=b.settings.retry_limit,
            artifact_paths=(f"{rt.results_dir}/**/*",),
        )
    )


def publish_steps(b: Builder) -> None:
    b.steps.append(
        b.make(
            "publish",
            key="publish",
            label="publish",
            job="publish",
            template=_nox("publish", *b.settings.publish_args),
            depends_on=tuple(s.key for s in b.steps),
            platform=b.default,
            default_branch_only=True,
            concurrency_group=b.settings.publish_concurrency_group,
            artifact_paths=b.upload(manifests.publish_plan_path(b.dist).parent / "*.json"),
        )
    )


#: The key of the gathering step of a release-test fan-out.
COLLECT_KEY = "release-tests-collect"


def step_key(name: str, taken: set[str]) -> str:
    """A Buildkite step key for a release test: ``rt-`` and the name's letters, digits,
    ``-`` and ``_`` (other characters become ``_``), unique in ``taken``."""
    base = "rt-" + re.sub(r"[^A-Za-z0-9_-]", "_", name)
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}-{n}"
    taken.add(key)
    return key


def cluster_kind(test: ReleaseTest) -> str:
    """The kind of cluster a test needs (``cluster.byod.type``: cpu, gpu, …), or "default"."""
    byod = test.cluster.get("byod")
    kind = byod.get("type") if isinstance(byod, Mapping) else None
    return str(kind) if kind else "default"


def release_test_steps(
    cfg: Config,
    settings: CiPlanSettings,
    tests: Sequence[ReleaseTest],
    *,
    selection_args: Sequence[str],
) -> list[Step]:
    """One step per selected release test, then the step that gathers them.

    Each step runs ``nox -s release-tests -- NAME --fleet`` (``--smoke`` for a test
    selected as a smoke run) on the default platform's agent, in the test's team's group,
    in a concurrency group per cluster kind (or per ``group``, ``release_tests_concurrency_by``),
    retried by CI on ``retry_exit_status`` up to ``release_tests.max_retries`` times, with
    the test's timeout (and prepare timeout) plus a margin. Unstable tests (``stable:
    false``, run only on request) soft-fail. The gathering step runs after every test
    step, also when some failed, and its exit status is the run's.
    """
    rt = cfg.section("release_tests", ReleaseTestsSettings)
    default = settings.default_platform
    taken: set[str] = {COLLECT_KEY}
    steps: list[Step] = []
    margin = settings.release_tests_timeout_margin_minutes
    for test in tests:
        prepare = (test.run.prepare_timeout or test.run.timeout) if test.run.prepare else 0.0
        seconds = test.run.timeout + prepare
        by = (
            cluster_kind(test) if settings.release_tests_concurrency_by == "cluster" else test.group
        )
        by = by or "default"
        args = ("{test}", "--fleet", *(("--smoke",) if test.smoke else ()))
        steps.append(
            Step(
                key=step_key(test.name, taken),
                label=f"{test.name}{' (smoke)' if test.smoke else ''}",
                group="release_tests",
                job=f"release-tests-{re.sub(r'[^A-Za-z0-9_-]', '_', test.team or 'default')}",
                matrix=MappingProxyType({"test": test.name}),
                template=_nox("release-tests", *args),
                platform=default,
                timeout_minutes=math.ceil(seconds / 60) + margin,
                retry_exit_status=settings.retry_exit_status,
                retry_limit=rt.max_retries,
                artifact_paths=(f"{rt.results_dir}/**/*",),
                soft_fail=not test.stable,
                concurrency_group=f"release-tests-{re.sub(r'[^A-Za-z0-9_-]', '_', by)}",
                concurrency=settings.release_tests_concurrency.get(
                    by, settings.release_tests_default_concurrency
                ),
                team=test.team or "default",
            )
        )
    steps.append(
        Step(
            key=COLLECT_KEY,
            label="release tests: collect",
            group="release_tests",
            job=COLLECT_KEY,
            template=tuple(
                p.replace("{", "{{").replace("}", "}}")
                for p in _nox("release-tests", "collect", "--fleet", *selection_args)
            ),
            depends_on=tuple(s.key for s in steps),
            platform=default,
            timeout_minutes=30,
            artifact_paths=(f"{rt.results_dir}/**/*",),
            allow_dependency_failure=True,
        )
    )
    check_graph(steps, max_steps=settings.max_steps)
    return steps


def check_graph(steps: Sequence[Step], *, max_steps: int = 500) -> list[str]:
    """Unique keys, every dependency defined, no cycle; returns the keys in a run order."""
    keys: dict[str, Step] = {}
    for s in steps:
        if s.key in keys:
            raise ConfigError(f"two CI steps have the key {s.key!r}", hint="rename a custom step")
        keys[s.key] = s
    if len(steps) > max_steps:
        raise ConfigError(
            f"the CI plan has {len(steps)} steps; one Buildkite upload takes at most {max_steps}",
            hint="configure fewer Pythons or platforms, or fewer custom steps",
        )
    for s in steps:
        for dep in s.depends_on:
            if dep not in keys:
                raise ConfigError(
                    f"CI step {s.key!r} depends on {dep!r}, which is not a step",
                    hint="steps: " + ", ".join(keys),
                )
    sorter = graphlib.TopologicalSorter({s.key: s.depends_on for s in steps})
    try:
        return list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise ConfigError(f"the CI steps depend on each other in a cycle: {cycle}") from exc


# -- selection ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Changes:
    """The changed files of this build, and where they came from."""

    files: tuple[str, ...]
    source: str
    #: Set when this build runs everything regardless of its files (not a pull request).
    select_all: str | None = None


@dataclass(frozen=True)
class FileDecision:
    path: str
    #: (rules file, matching rule or None) per rules file.
    matches: tuple[tuple[Path, rules_mod.Rule | None], ...]

    @property
    def tags(self) -> tuple[str, ...]:
        found: dict[str, None] = {}
        for _path, rule in self.matches:
            if rule is not None:
                found.update(dict.fromkeys(rule.tags))
        return tuple(found)

    @property
    def unmatched(self) -> bool:
        return all(rule is None for _p, rule in self.matches)

    def describe(self) -> str:
        parts = [
            rule.describe(path) + (" (skip)" if rule.skip else "")
            for path, rule in self.matches
            if rule is not None
        ]
        return "; ".join(parts) or "no rule"


@dataclass(frozen=True)
class Selection:
    """Which steps run, and why each step runs or not."""

    changes: Changes
    files: tuple[FileDecision, ...]
    #: Why everything is selected (None: selected by the changed files' tags).
    everything: str | None
    tags: Mapping[str, tuple[str, ...]]
    selected: frozenset[str]
    reasons: Mapping[str, str]

    def is_selected(self, key: str) -> bool:
        return key in self.selected

    def groups(self, steps: Sequence[Step]) -> dict[str, bool]:
        out: dict[str, bool] = {}
        for s in steps:
            out[s.group] = out.get(s.group, False) or s.key in self.selected
        return out


def everything(steps: Sequence[Step], why: str) -> Selection:
    """A selection of every step (a plan that is not decided by changed files)."""
    keys = frozenset(s.key for s in steps)
    return Selection(Changes((), why), (), why, {}, keys, dict.fromkeys(keys, why))


def check_tags(settings: CiPlanSettings, rules_files: Sequence[rules_mod.RulesFile]) -> None:
    """Every declared tag must say which step groups it selects."""
    for rf in rules_files:
        for tag in sorted(rf.declared):
            if tag not in settings.tags:
                raise ConfigError(
                    f"tag {tag!r} (declared at {rf.path}:{rf.declared_at[tag]}) selects no step "
                    "group: [tool.build_support.ciplan.tags] has no entry for it",
                    hint=f'add e.g. {tag} = ["wheel"] ({tag} = [] if it selects nothing)',
                )


def _unmatched(decisions: Sequence[FileDecision]) -> str | None:
    unmatched = [d.path for d in decisions if d.unmatched]
    if not unmatched:
        return None
    shown = ", ".join(unmatched[:5]) + (" …" if len(unmatched) > 5 else "")
    return f"{len(unmatched)} changed file(s) match no rule: {shown}"


def _tag_reason(tag: str, files: Sequence[str], by_path: Mapping[str, FileDecision]) -> str:
    more = f" and {len(files) - 1} more" if len(files) > 1 else ""
    return f"tag {tag} from {files[0]}{more} ({by_path[files[0]].describe()})"


def _add_dependencies(steps: Sequence[Step], selected: set[str], reasons: dict[str, str]) -> None:
    """A selected step needs its inputs built for the same commit: select them too."""
    by_key = {s.key: s for s in steps}
    for key in reversed(check_graph(steps)):
        if key in selected:
            for dep in by_key[key].depends_on:
                if dep not in selected:
                    selected.add(dep)
                    reasons[dep] = f"needed by {key}"


def select(
    steps: Sequence[Step],
    rules_files: Sequence[rules_mod.RulesFile],
    changes: Changes,
    settings: CiPlanSettings,
    *,
    rules_missing: str | None = None,
) -> Selection:
    """Apply the rules to the changed files; fall back to everything when unsure."""
    decisions = tuple(
        FileDecision(f, tuple((rf.path, rf.match(f).rule) for rf in rules_files))
        for f in changes.files
    )
    everything = changes.select_all or rules_missing or _unmatched(decisions)
    tag_sources: dict[str, list[str]] = {}
    for d in decisions:
        for tag in d.tags:
            tag_sources.setdefault(tag, []).append(d.path)
    tags = {t: tuple(files) for t, files in tag_sources.items()}
    reasons: dict[str, str] = {}
    selected: set[str] = set()
    if everything is not None:
        for s in steps:
            selected.add(s.key)
            reasons[s.key] = f"everything: {everything}"
        return Selection(changes, decisions, everything, tags, frozenset(selected), reasons)
    by_group: dict[str, list[str]] = {}
    for tag in tags:
        for g in settings.tags.get(tag, ()):
            by_group.setdefault(g, []).append(tag)
    by_path = {d.path: d for d in decisions}
    for s in steps:
        if s.group in by_group:
            selected.add(s.key)
            reasons[s.key] = "; ".join(
                _tag_reason(tag, tags[tag], by_path) for tag in by_group[s.group]
            )
    _add_dependencies(steps, selected, reasons)
    for s in steps:
        if s.key not in selected:
            wanted = sorted(t for t, gs in settings.tags.items() if s.group in gs)
            reasons[s.key] = (
                f"no changed file has a tag that selects {s.group} ({', '.join(wanted)})"
                if wanted
                else f"no tag selects {s.group}: it runs only when everything does"
            )
    return Selection(changes, decisions, None, tags, frozenset(selected), reasons)
