"""The files of a source tree that a build reads: one listing for every input digest."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from build_support import cmd
from build_support.errors import BuildSupportError, CommandFailedError

_JUNK = {".git", "build", "dist", "__pycache__", ".nox", ".tox", ".eggs"}


def project_files(root: Path, project: Path, exclude: Sequence[Path] = ()) -> list[str]:
    """Git-tracked and untracked-not-ignored files under ``project``, minus ``exclude``.

    Outside a git checkout: every file, minus build output and caches.
    """
    rel_project = project.relative_to(root).as_posix()
    try:
        out = cmd.output(
            [
                "git",
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
                "--",
                rel_project,
            ],
            cwd=root,
        )
        listed = [p for p in out.split("\0") if p]
    except (CommandFailedError, BuildSupportError):
        listed = [
            p.relative_to(root).as_posix()
            for p in project.rglob("*")
            if p.is_file()
            and not _JUNK.intersection(p.relative_to(project).parts)
            and not any(part.endswith(".egg-info") for part in p.parts)
        ]
    prefix = "" if rel_project == "." else rel_project + "/"
    excluded = [e.relative_to(project).as_posix() + "/" for e in exclude]
    files = []
    for p in listed:
        rel = p[len(prefix) :] if prefix and p.startswith(prefix) else p
        if any(rel.startswith(e) for e in excluded) or not (project / rel).is_file():
            continue
        files.append(rel)
    return sorted(set(files))
