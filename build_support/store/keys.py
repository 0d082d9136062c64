"""Key layout of the artifact store, as pure functions (Ray's layout).

* wheels: ``{branch}/{sha}/{filename}``
* promoted wheels: ``latest/{filename}`` (only the default branch may promote)
* JARs: ``jars/{branch}/{sha}/{os}/{filename}``
* the publish journal: ``publish/{sha}/journal.json``

A branch name with slashes (``releases/2.1``) keeps them: each part becomes a path
segment, as Ray's bucket does (``releases/2.1/<sha>/ray-….whl``). Every segment is
validated: not empty, not ``.``/``..``, no whitespace, no control characters, no
backslash. Keys ending in :data:`RESERVED_SUFFIX` are reserved for the local
backend's checksum sidecars.
"""

from __future__ import annotations

import re

from build_support.errors import GateError, UsageError

LATEST = "latest"
JARS = "jars"
#: ``publish/{sha}/journal.json``: the publish stage's journal of a commit.
PUBLISH = "publish"
#: The local backend keeps ``<object>.sha256`` beside each object.
RESERVED_SUFFIX = ".sha256"

_SHA = re.compile(r"[0-9a-f]{7,64}")
_BAD_CHARS = re.compile(r"[\s\\\x00-\x1f\x7f]")
#: Operating systems a JAR key may name; ``multiplatform`` holds the repacked JAR that
#: carries every platform's native libraries.
JAR_OSES = ("linux", "darwin", "windows", "multiplatform")


def _check_segment(segment: str, what: str, value: str) -> None:
    if segment in ("", ".", ".."):
        raise UsageError(
            f"invalid {what} {value!r}: empty, '.' or '..' path segment",
            hint="use names like 'main', 'releases/2.1', 'minray-1.0-py3-none-any.whl'",
        )
    if _BAD_CHARS.search(segment):
        raise UsageError(
            f"invalid {what} {value!r}: whitespace, backslash or control character",
            hint="store keys are '/'-separated names without spaces",
        )


def validate_key(key: str) -> str:
    """Return ``key`` if it is a well-formed store key, else raise UsageError."""
    if key.startswith("/") or key.endswith("/"):
        raise UsageError(
            f"invalid key {key!r}: leading or trailing '/'",
            hint="keys are relative, e.g. 'main/<sha>/file.whl'",
        )
    for part in key.split("/"):
        _check_segment(part, "key", key)
    if key.endswith(RESERVED_SUFFIX):
        raise UsageError(
            f"invalid key {key!r}: the suffix {RESERVED_SUFFIX!r} is reserved for checksums",
            hint="every object already carries its SHA-256; don't store checksum files",
        )
    return key


def validate_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key-like string (a trailing '/' is allowed)."""
    if prefix:
        body = prefix[:-1] if prefix.endswith("/") else prefix
        if prefix.startswith("/") or not body:
            raise UsageError(f"invalid prefix {prefix!r}", hint="e.g. 'main/' or 'latest/'")
        for part in body.split("/"):
            _check_segment(part, "prefix", prefix)
    return prefix


def branch_segments(branch: str) -> str:
    """Validate a branch name and return it as path segments (slashes kept)."""
    if branch.startswith("/") or branch.endswith("/"):
        raise UsageError(f"invalid branch {branch!r}: leading or trailing '/'")
    for part in branch.split("/"):
        _check_segment(part, "branch", branch)
    top = branch.split("/", maxsplit=1)[0]
    if top in (LATEST, JARS, PUBLISH):
        raise UsageError(
            f"invalid branch {branch!r}: {top!r} is a reserved top-level key",
            hint="rename the branch",
        )
    return branch


def _sha(sha: str) -> str:
    if not _SHA.fullmatch(sha):
        raise UsageError(
            f"invalid commit sha {sha!r}: expected 7 to 64 lowercase hex digits",
            hint="pass the full commit, e.g. from 'git rev-parse HEAD'",
        )
    return sha


def _filename(filename: str) -> str:
    if "/" in filename:
        raise UsageError(f"invalid file name {filename!r}: contains '/'")
    _check_segment(filename, "file name", filename)
    if filename.endswith(RESERVED_SUFFIX):
        raise UsageError(f"invalid file name {filename!r}: {RESERVED_SUFFIX!r} is reserved")
    return filename


def wheel_key(branch: str, sha: str, filename: str) -> str:
    """``{branch}/{sha}/{filename}``: where a CI build puts its wheel."""
    return f"{branch_segments(branch)}/{_sha(sha)}/{_filename(filename)}"


def latest_key(filename: str) -> str:
    """``latest/{filename}``: where the default branch promotes its wheels."""
    return f"{LATEST}/{_filename(filename)}"


def jar_key(branch: str, sha: str, os: str, filename: str) -> str:
    """``jars/{branch}/{sha}/{os}/{filename}``: a per-platform JAR."""
    if os not in JAR_OSES:
        raise UsageError(f"invalid JAR os {os!r}", hint="one of: " + ", ".join(JAR_OSES))
    return f"{JARS}/{branch_segments(branch)}/{_sha(sha)}/{os}/{_filename(filename)}"


def publish_journal_key(sha: str) -> str:
    """``publish/{sha}/journal.json``: what the publish stage did for a commit."""
    return f"{PUBLISH}/{_sha(sha)}/journal.json"


def commit_prefix(branch: str, sha: str) -> str:
    """``{branch}/{sha}/``: everything one commit's build put in the store."""
    return f"{branch_segments(branch)}/{_sha(sha)}/"


def check_promotion(branch: str, default_branch: str) -> None:
    """Only the default branch may write ``latest/`` (Ray's rule)."""
    if branch != default_branch:
        raise GateError(
            f"refusing to promote from branch {branch!r}: only {default_branch!r} writes latest/",
            hint="promote from a build of the default branch",
        )
