"""A wheel project: its files (git-tracked and untracked-not-ignored), their hashes, its
build requirements, and the commit stamped into a copy of its sources."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from build_support import inputcache, wheelfile
from build_support.errors import InputError, VerificationError
from build_support.sources import project_files
from build_support.wheels.settings import CommitStamp, WheelSettings


@dataclass(frozen=True)
class Project:
    rel: str  # as configured, e.g. "python/cpp"
    path: Path
    files: tuple[str, ...]  # relative to path, '/'-separated
    hashes: Mapping[str, str]
    requires: tuple[str, ...]
    smoke: str
    stamp: CommitStamp = field(default_factory=CommitStamp)
    #: Modules the smoke import must load from extension modules.
    compiled: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.rel

    @property
    def in_dist_info(self) -> bool:
        return self.stamp.into == "dist-info"

    def check_commit(self, wheel: Path, commit: str) -> str:
        """The wheel carries ``commit`` where this project's config puts it."""
        return wheelfile.check_commit(
            wheel, commit, dist_info=self.in_dist_info, files=self.stamp.files
        )


def load_projects(root: Path, settings: WheelSettings) -> list[Project]:
    """The configured projects under ``root``, with their files and hashes."""
    dirs = []
    for rel in settings.projects:
        path = (root / rel).resolve()
        if not ((path / "pyproject.toml").is_file() or (path / "setup.py").is_file()):
            raise InputError(
                f"wheel project {rel!r} ({path}) has no pyproject.toml or setup.py",
                hint="fix [tool.build_support.wheel] projects in pyproject.toml",
            )
        dirs.append((rel, path))
    projects = []
    for rel, path in dirs:
        nested = [p for _, p in dirs if p != path and path in p.parents]
        files = project_files(root, path, nested)
        projects.append(
            Project(
                rel=rel,
                path=path,
                files=tuple(files),
                hashes=inputcache.file_hashes(path, files),
                requires=tuple(wheelfile.build_requires(path)),
                smoke=settings.smoke_of(rel),
                stamp=settings.stamp_of(rel),
                compiled=tuple(settings.compiled_modules.get(rel, ())),
            )
        )
    return projects


def copy_stamped(project: Project, dest: Path, commit: str) -> list[str]:
    """Copy the project's files to ``dest`` and stamp the commit there (in the configured
    files, or every ``_version.py`` holding the placeholder; none for ``dist-info``)."""
    for rel in project.files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project.path / rel, target)
    if project.in_dist_info:
        return []  # the commit goes into the wheel's .dist-info after repair
    stamp = project.stamp
    where = f"tool.build_support.wheel.stamp.{project.rel}"
    missing = [f for f in stamp.files if f not in project.files]
    if missing:
        raise VerificationError(
            f"{project.rel}: the stamp file(s) {', '.join(missing)} are not among the "
            "project's files (git-tracked, or untracked and not ignored)",
            hint=f"fix {where}.files, or stop ignoring the file",
        )
    candidates = list(stamp.files) or [f for f in project.files if f.endswith("_version.py")]
    stamped = wheelfile.stamp_tree(dest, candidates, commit, placeholder=stamp.placeholder)
    unstamped = [f for f in stamp.files if f not in stamped]
    if not stamped or unstamped:
        raise VerificationError(
            f"{project.rel}: {', '.join(unstamped) or 'no _version.py'} holds no placeholder "
            f"{stamp.placeholder}, so the built wheel could not carry its commit",
            hint=f'add `commit = "{stamp.placeholder}"` to the package\'s _version.py, '
            f'or, for a project without one, set {where} = {{ into = "dist-info" }} '
            "(docs/onboarding.md)",
        )
    return stamped
