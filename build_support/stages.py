"""The stage table: every stage named once, with everything the harness knows of it.

One :class:`Stage` entry says, for one ``python -m build_support STAGE``:

* ``entry``: its ``main(argv, cfg) -> int`` (``module:function``, imported lazily by
  :mod:`build_support.cli`);
* ``section`` and ``settings``: its ``[tool.build_support.<section>]`` and the frozen
  dataclass that reads it (:data:`build_support.config.SECTIONS`);
* ``tools`` / ``actions`` / ``optional_tools``: the executables it may run
  (:data:`build_support.tools.STAGES`, provisioning and ``doctor``);
* ``exit_scheme``: a mapper from a harness error to the stage's own exit code
  (:func:`build_support.cli.exit_code_for`; release-tests: Ray's);
* ``pipeline``: the builder of its steps in ``nox -s pipeline`` (table order is the
  pipeline's order; :func:`build_support.pipeline.steps`);
* ``ci_group`` / ``ci``: its step group and step builder in the CI plan
  (:func:`build_support.ciplan.plan.build_steps`);
* ``session``: its nox session (:mod:`build_support.nox.sessions`).

Every consumer reads :data:`STAGES` when it runs, so a new stage is one entry here plus
its folder. This module is light on purpose (the standard library only, and references
as strings): the noxfile and every config load import it, and a unit test fails when
loading the config imports a third-party or stage module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeVar

V = TypeVar("V")


@dataclass(frozen=True, kw_only=True)
class Session:
    """How a stage is a nox session (``nox -s <stage>``)."""

    #: The session's docstring (``nox -l``).
    doc: str
    #: ``tool``: one session on the tool Python; ``each``: one per configured Python
    #: (``lock-3.12``), which the stage gets as ``--python X.Y``.
    python: Literal["tool", "each"] = "tool"
    #: The harness's dependency groups (from a source tree) or extras (an installed
    #: harness) the session installs besides the harness.
    groups: tuple[str, ...] = ()
    #: pip-tools, pinned (:data:`build_support.tools.LOCK_TOOL_PINS`), in the session venv.
    lock_tools: bool = False
    #: The stage's stdout is data (piped, parsed): keep stderr apart (nox merges them).
    stderr_apart: bool = False


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One stage: see the module docstring for what reads each field."""

    name: str
    entry: str
    section: str | None = None
    settings: str | None = None
    tools: tuple[str, ...] = ()
    #: ``action`` → the tools of ``STAGE ACTION`` (its first positional argument).
    actions: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    #: Tools it runs only when configured to: their absence is the stage's own error.
    optional_tools: tuple[str, ...] = ()
    exit_scheme: str | None = None
    #: ``module:function(cfg, host_tag, *, publish, force) -> list[pipeline.Step]``.
    pipeline: str | None = None
    ci_group: str | None = None
    #: ``module:function(builder: ciplan.plan.Builder) -> None``.
    ci: str | None = None
    #: Runs after every other step (CI: after the custom steps, depending on all).
    final: bool = False
    #: Tool sets (``.ci/run``, ``doctor``) the stage belongs to: ``pipeline``, ``ci``.
    groups: tuple[str, ...] = ()
    session: Session | None = None
    #: False: the stage runs without a ``[tool.build_support]`` (``init`` writes one).
    needs_config: bool = True


def _table(*stages: Stage) -> dict[str, Stage]:
    return {s.name: s for s in stages}


#: Every stage, in pipeline order (also the order of ``nox -l`` and of the CI plan).
#: Settings classes are named here as ``module:Class`` strings, nowhere else.
STAGES: dict[str, Stage] = _table(
    Stage(
        name="lock",
        entry="build_support.locks:main",
        section="lock",
        settings="build_support.locks.settings:LockSettings",
        tools=("python",),
        optional_tools=("uv",),
        pipeline="build_support.pipeline:lock_steps",
        ci_group="lock",
        ci="build_support.ciplan.plan:lock_steps",
        groups=("pipeline", "ci"),
        session=Session(
            doc="Compile requirements/*.in into this Python's pinned, hashed lockfile.",
            python="each",
            lock_tools=True,
        ),
    ),
    Stage(
        name="wheel",
        entry="build_support.wheels:main",
        section="wheel",
        settings="build_support.wheels.settings:WheelSettings",
        tools=("python", "git", "gcc", "libc-headers"),
        optional_tools=("uv",),
        pipeline="build_support.pipeline:wheel_steps",
        ci_group="wheel",
        ci="build_support.ciplan.plan:wheel_steps",
        groups=("pipeline", "ci"),
        session=Session(
            doc="Build, stamp, repair, verify and store the project's wheels: "
            "-- [PLATFORM...] [--python X.Y].",
            groups=("test",),
        ),
    ),
    Stage(
        name="jars",
        entry="build_support.jars:main",
        section="jars",
        settings="build_support.jars.settings:JarsSettings",
        tools=(
            "git",
            "gcc",
            "libc-headers",
            "aarch64-linux-gnu-gcc",
            "aarch64-libc-headers",
            "x86_64-linux-gnu-gcc",
            "x86_64-libc-headers",
            "java",
            "javac",
            "jni-headers",
            "mvn",
        ),
        actions=MappingProxyType(
            {
                "darwin": ("git", "cc", "java", "javac", "jni-headers", "mvn"),
                "multiplatform": ("git", "java"),
                "check-poms": (),
                "generate-poms": (),
                "deploy-check": (),
            }
        ),
        pipeline="build_support.pipeline:jars_steps",
        ci_group="jars",
        ci="build_support.ciplan.plan:jars_steps",
        groups=("pipeline", "ci"),
        session=Session(doc="Build the project's JARs with Maven: -- linux|darwin|multiplatform."),
    ),
    Stage(
        name="images",
        entry="build_support.images:main",
        section="images",
        settings="build_support.images.settings:ImagesSettings",
        tools=(
            "python",
            "git",
            "docker",
            "debian-docker-client",
            "dockerd",
            "debootstrap",
            "mount",
            "sh",
        ),
        pipeline="build_support.pipeline:images_steps",
        ci_group="images",
        ci="build_support.ciplan.plan:images_steps",
        groups=("pipeline", "ci"),
        session=Session(
            doc="Build the base-deps and product images with BuildKit: "
            "-- [--python X.Y] [--flavor cpu|gpu]."
        ),
    ),
    Stage(
        name="release-tests",
        entry="build_support.releasetests.cli:main",
        section="release_tests",
        settings="build_support.releasetests.settings:ReleaseTestsSettings",
        tools=("python", "git", "sh"),
        exit_scheme="build_support.releasetests.exitcodes:harness_exit_code",
        pipeline="build_support.pipeline:release_tests_steps",
        ci_group="release_tests",
        ci="build_support.ciplan.plan:release_tests_steps",
        groups=("pipeline", "ci"),
        session=Session(
            doc="Run release/release_tests.yaml against the stored wheel: "
            "-- [NAME|GLOB...] [--smoke].",
            # `--list` prints one line per test on stdout: keep warnings (stderr) apart.
            stderr_apart=True,
        ),
    ),
    Stage(
        name="store",
        entry="build_support.store:cli_main",
        section="store",
        settings="build_support.settings:StoreSettings",
        session=Session(doc="Artifact store CLI for CI glue: -- put|get|ls|promote|rm ..."),
    ),
    Stage(
        name="ci-plan",
        entry="build_support.ciplan.cli:main",
        section="ciplan",
        settings="build_support.ciplan.settings:CiPlanSettings",
        tools=("git",),
        groups=("ci",),
        session=Session(
            doc="CI plan from changed files: Buildkite YAML on stdout: -- [--explain] [--check].",
            # stdout is piped into `buildkite-agent pipeline upload`.
            stderr_apart=True,
        ),
    ),
    Stage(
        name="publish",
        entry="build_support.publish:main",
        section="publish",
        settings="build_support.publish.settings:PublishSettings",
        tools=("python", "git", "gpg", "docker", "dockerd"),
        pipeline="build_support.pipeline:publish_steps",
        ci_group="publish",
        ci="build_support.ciplan.plan:publish_steps",
        final=True,
        groups=("ci",),
        session=Session(
            doc="Gate, plan and (with -- --execute) publish the commit: -- [pypi|maven|docker...].",
            groups=("publish",),
        ),
    ),
    Stage(
        name="verify",
        entry="build_support.supplychain.verify:main",
        session=Session(
            doc="Check downloaded artifacts against their signed provenance and SBOM: -- PATH...",
        ),
    ),
    Stage(
        name="pipeline",
        entry="build_support.pipeline:main",
        session=Session(
            doc="The main job: every stage for the host platform on the bundled product.",
            groups=("test",),
            lock_tools=True,
        ),
    ),
    Stage(name="pythons", entry="build_support.cli:pythons_main", tools=("python",)),
    Stage(
        name="doctor",
        entry="build_support.provision:doctor_main",
        session=Session(
            doc="Every stage's tools: present or not, version, what would be installed: "
            "-- [STAGE...]."
        ),
    ),
    Stage(name="init", entry="build_support.init:main", tools=("git",), needs_config=False),
)


class View(Mapping[str, V]):
    """A read-only mapping computed from :data:`STAGES` each time it is read."""

    def __init__(self, compute: Callable[[], Mapping[str, V]]) -> None:
        self._compute = compute

    def __getitem__(self, key: str) -> V:
        return self._compute()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._compute())

    def __len__(self) -> int:
        return len(self._compute())

    def __repr__(self) -> str:
        return repr(dict(self._compute()))


def get(name: str) -> Stage | None:
    return STAGES.get(name)


def entries() -> dict[str, str]:
    """stage → ``module:function`` of its main."""
    return {s.name: s.entry for s in STAGES.values()}


def exit_schemes() -> dict[str, str]:
    return {s.name: s.exit_scheme for s in STAGES.values() if s.exit_scheme}


def sections() -> dict[str, str]:
    """``[tool.build_support.<section>]`` → ``module:Class`` of the stages' sections."""
    return {s.section: s.settings for s in STAGES.values() if s.section and s.settings}


def tool_table() -> dict[str, tuple[str, ...]]:
    """``stage`` and ``stage action`` → the tools it may run."""
    out: dict[str, tuple[str, ...]] = {}
    for s in STAGES.values():
        out[s.name] = s.tools
        for action, names in s.actions.items():
            out[f"{s.name} {action}"] = names
    return out


def optional_tools() -> dict[str, tuple[str, ...]]:
    return {s.name: s.optional_tools for s in STAGES.values() if s.optional_tools}


def in_group(group: str) -> tuple[str, ...]:
    """The stages of a tool set (``pipeline``, ``ci``), in table order."""
    return tuple(s.name for s in STAGES.values() if group in s.groups)


def ci_groups() -> tuple[str, ...]:
    """The CI plan's built-in step groups, in order."""
    return tuple(s.ci_group for s in STAGES.values() if s.ci_group and s.ci)


def pipeline_stages() -> tuple[str, ...]:
    """The stages with steps in ``nox -s pipeline``, in order."""
    return tuple(s.name for s in STAGES.values() if s.pipeline)


def load(target: str) -> Any:
    """The object a ``module:attribute`` string names (imported now)."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)
