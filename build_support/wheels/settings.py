"""``[tool.build_support.wheel]`` and where a project's wheels carry their commit (light:
loaded with the config; standard library and build_support's light modules only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from build_support import commits, tools
from build_support.config import MODULE_NAME
from build_support.errors import ConfigError, VerificationError

#: The bundled product's wheel projects (the default of ``projects``).
_DEFAULT_PROJECTS = ("python", "python/cpp")


@dataclass(frozen=True, kw_only=True)
class CommitStamp:
    """Where one project's wheels carry their commit: ``[tool.build_support.wheel] stamp``.

    ``into = "source"`` (the default): ``placeholder`` is replaced by the commit in
    ``files`` (relative to the project; each a top-level ``<package>/_version.py`` of the
    wheel, e.g. Ray's ``ray/_version.py`` with ``{{RAY_COMMIT_SHA}}``) in a copy of the
    sources before the build; no ``files``: every ``_version.py`` holding the placeholder.
    ``into = "dist-info"``: for a project without a version file, the commit is written to
    the wheel's ``<name>.dist-info/COMMIT`` (listed in RECORD with its hash) after repair.
    Both are read back from inside the wheel by ``wheelfile.read_commit``.
    """

    into: Literal["source", "dist-info"] = "source"
    files: tuple[str, ...] = ()
    placeholder: str = commits.PLACEHOLDER

    def check(self, where: str) -> None:
        """What the types cannot say, checked at config load."""
        if not commits.PLACEHOLDER_RE.match(self.placeholder):
            raise ConfigError(
                f"{where}.placeholder = {self.placeholder!r} is not a placeholder",
                hint='use the form "{{NAME}}" (letters, digits, _), e.g. "{{RAY_COMMIT_SHA}}"',
            )
        if self.into == "dist-info" and self.files:
            raise ConfigError(
                f"{where}: into = 'dist-info' takes no files (the commit goes into the wheel's "
                ".dist-info, not into a source file)",
                hint="drop files, or use into = 'source'",
            )
        for rel in self.files:
            pure = PurePosixPath(rel)
            if pure.is_absolute() or ".." in pure.parts or pure.name != "_version.py":
                raise ConfigError(
                    f"{where}.files contains {rel!r}: expected a path inside the project to a "
                    "package's _version.py (e.g. 'ray/_version.py')",
                    hint="publish and release tests read a wheel's commit from its top-level "
                    "<package>/_version.py; a project without one can use into = 'dist-info'",
                )

    def check_files(self, project: Path, where: str) -> None:
        """Each configured file exists and assigns the placeholder to ``commit``."""
        for rel in self.files:
            path = project / rel
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"{where}.files: cannot read {path}: {exc.strerror}",
                    hint="fix the path (relative to the project directory)",
                ) from None
            try:
                value = commits.commit_from_source(text, str(path))
            except VerificationError as exc:
                raise ConfigError(f"{where}.files: {exc.message}") from None
            if value != self.placeholder:
                raise ConfigError(
                    f"{where}.files: {path} must assign the placeholder to commit, e.g. "
                    f'`commit = "{self.placeholder}"`; it assigns {value!r}',
                    hint="add that line, or set the placeholder the file uses",
                )


@dataclass(frozen=True, kw_only=True)
class WheelSettings:
    """``[tool.build_support.wheel]``."""

    #: PEP 517 projects (directories relative to the root) to build wheels of.
    projects: tuple[str, ...] = _DEFAULT_PROJECTS
    #: Build image per platform, for platforms the host cannot build natively (or all,
    #: with ``native = false``). ``rootfs:<suite>`` = a local Debian image (rootfs.py).
    images: Mapping[str, str] = field(default_factory=dict)
    #: Build natively when the host is the target platform.
    native: bool = True
    #: Extra smoke-import statement per project, run after ``import <package>``, e.g.
    #: ``{ python = "import ray; ray.init" }``.
    smoke: Mapping[str, str] = field(default_factory=dict)
    #: Tools installed in the per-Python tool venv (Linux) and in build containers.
    tool_requirements: tuple[str, ...] = tools.WHEEL_TOOL_PINS
    #: Tools for macOS builds (delocate repairs there).
    macos_tool_requirements: tuple[str, ...] = tools.MACOS_WHEEL_TOOL_PINS
    macos_deployment_target: str = "12.0"
    #: Debian packages of a ``rootfs:`` build image.
    container_packages: tuple[str, ...] = (
        "python3",
        "python3-dev",
        "python3-venv",
        "python3-pip",
        "gcc",
        "libc6-dev",
    )
    #: Which installer ``build`` uses for isolated envs on the host.
    installer: Literal["auto", "pip", "uv"] = "auto"
    #: Parallel builds; 0 = the number of cores.
    jobs: int = 0
    #: Copy wheels to ``latest/`` when building the default branch (not a pull request).
    promote_latest: bool = True
    build_timeout: float = 3600.0
    container_timeout: float = 7200.0
    #: Where each project's wheels carry their commit (project → :class:`CommitStamp`);
    #: a project not listed: every ``_version.py`` holding ``{{COMMIT_SHA}}``.
    stamp: Mapping[str, CommitStamp] = field(default_factory=dict)
    #: Modules the smoke import must find compiled (an extension module, not a pure
    #: Python fallback), per project, e.g. ``{ "python" = ["ray._raylet"] }``.
    compiled_modules: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = "tool.build_support.wheel"
        for key, table in (("stamp", self.stamp), ("compiled_modules", self.compiled_modules)):
            for project in table:
                if project not in self.projects:
                    raise ConfigError(
                        f"{where}.{key} names project {project!r}, which is not in projects "
                        f"{list(self.projects)}",
                        hint=f"use a project directory exactly as listed in {where}.projects",
                    )
        for project, stamp in self.stamp.items():
            stamp.check(f"{where}.stamp.{project}")
        for project, modules in self.compiled_modules.items():
            for module in modules:
                if not MODULE_NAME.match(module):
                    raise ConfigError(
                        f"{where}.compiled_modules.{project} contains {module!r}, which is "
                        "not a dotted module name",
                        hint="e.g. 'ray._raylet'",
                    )

    def smoke_of(self, project: str) -> str:
        """The extra smoke-import statement of ``project`` ("" for none)."""
        return self.smoke.get(project, "")

    def stamp_of(self, project: str) -> CommitStamp:
        return self.stamp.get(project, CommitStamp())

    def check_files(self, root: Path) -> None:
        """At config load: the configured stamp files exist and hold their placeholder."""
        for project, stamp in self.stamp.items():
            stamp.check_files(root / project, f"tool.build_support.wheel.stamp.{project}")
