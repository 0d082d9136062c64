"""The lockfile's header and freshness: the digest of everything that decides the
resolution, the header lines of our own (no timestamp, no absolute path), reading them
back, and the post-processing that makes a resolver's output reproducible.

When the recorded digest matches, the stage skips resolution entirely; this path
imports nothing heavy.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

from build_support.locks.inputs import read_bytes, referenced_files
from build_support.locks.job import LockJob

#: Bumped when the flags or the post-processing change: old lockfiles then recompile.
FORMAT_VERSION = "2"

DIGEST_KEY = "input-digest"
BODY_KEY = "body-digest"
#: Header line recording where the last resolution took packages from (credentials
#: stripped). Provenance only: not part of the digest, ignored by ``--check``.
INDEX_KEY = "index"
_HEADER_FIELD = re.compile(r"^# ([a-z-]+): (\S+)\s*$")


def input_digest(
    files: Sequence[Path],
    *,
    inputs_dir: Path,
    backend: str,
    backend_version: str,
    python: str,
    index_url: str | None,
    find_links: Sequence[str] = (),
    no_index: bool = False,
    include_dirs: Sequence[Path] = (),
) -> str:
    """SHA-256 over everything that decides the resolution (paths relative, no timestamps).

    The sources count when the project or the command line names them; an index taken
    from the installer's configuration does not (a mirror serves the same files, and a
    lockfile must not go stale because another machine uses another mirror).
    """
    h = hashlib.sha256()
    lines = [
        f"format={FORMAT_VERSION}",
        f"backend={backend} {backend_version}",
        f"python={python}",
        f"index={index_url or '-'}",
        *(["no-index"] if no_index else []),
        *(f"find-links={f}" for f in find_links),
    ]
    todo = list(files)
    done: set[Path] = set()
    while todo:
        path = todo.pop(0)
        resolved = path.resolve()
        if resolved in done:
            continue
        done.add(resolved)
        data = read_bytes(path)
        name = os.path.relpath(resolved, inputs_dir.resolve())
        lines.append(f"file={name} sha256={hashlib.sha256(data).hexdigest()}")
        roots = (inputs_dir, *include_dirs)
        todo.extend(p for p in referenced_files(path, roots) if p.is_file())
    h.update("\n".join(lines).encode())
    return "sha256:" + h.hexdigest()


def body_digest(body: str) -> str:
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


def make_header(
    job: LockJob,
    *,
    files: Sequence[Path],
    digest: str,
    body: str,
    version: str,
    sources: str = "",
) -> str:
    names = " ".join(os.path.relpath(f, job.inputs_dir) for f in files)
    if job.constraints:
        names += f" (constraints: {job.constraints})"
    return "\n".join(
        [
            f"# {job.output.name}: pinned, hashed dependencies for Python {job.python}.",
            f"# Compiled by build_support.locks with {job.backend} {version} from: {names}",
            (
                f"# Do not edit. Update: nox -s lock-{job.python} [-- --upgrade-package NAME];"
                f" verify: nox -s lock-{job.python} -- --check"
            ),
            *([f"# {INDEX_KEY}: {sources}"] if sources else []),
            f"# {DIGEST_KEY}: {digest}",
            f"# {BODY_KEY}: {body_digest(body)}",
            "",
        ]
    )


def split_lockfile(text: str) -> tuple[dict[str, str], str]:
    """(header fields, body) of a lockfile written by this module."""
    fields: dict[str, str] = {}
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines) and lines[i].startswith("#"):
        m = _HEADER_FIELD.match(lines[i])
        if m:
            fields[m.group(1)] = m.group(2)
        i += 1
        if m and m.group(1) == BODY_KEY:
            break
    if BODY_KEY not in fields:
        return {}, text
    return fields, "".join(lines[i:])


def is_current(lockfile: Path, digest: str) -> bool:
    """True when ``lockfile`` was compiled from exactly these inputs and not edited since."""
    try:
        text = lockfile.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    fields, body = split_lockfile(text)
    return fields.get(DIGEST_KEY) == digest and fields.get(BODY_KEY) == body_digest(body)


# --------------------------------------------------------------------------- output


def postprocess(text: str) -> str:
    """Make a resolver's output reproducible: no local ``file:`` entries, no trailing space.

    Ray does this with ``sed -i "/@ file/d"``; here a whole entry (its ``--hash`` lines
    and ``# via`` comments included) is dropped, so the file stays well-formed.
    """
    out: list[str] = []
    skipping = False
    for line in text.splitlines():
        stripped = line.rstrip()
        is_entry = bool(stripped) and not stripped[0].isspace() and not stripped.startswith("#")
        if is_entry:
            skipping = "@ file:" in stripped or stripped.startswith(("-e file:", "file:"))
        elif skipping and (not stripped or stripped[0].isspace()):
            continue
        elif stripped.startswith("#") and not stripped.startswith("#   ") and skipping:
            skipping = False
        if skipping:
            continue
        out.append(stripped)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"
