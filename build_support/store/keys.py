"""Key layout of the artifact store, as pure functions (Ray's layout).

* wheels: ``{branch}/{sha}/{filename}``
* promoted wheels: ``latest/{filename}`` (only the default branch may promote)
* JARs: ``jars/{branch}/{sha}/{os}/{filename}``
* the publish journal: ``publish/{sha}/journal.json``, and the lock held by a publish
  while it sends: ``publish/{sha}/lock.json`` (:mod:`build_support.store.lease`)
* release tests run on the fleet: ``release-tests/{sha}/{run}/{name}/attempt-{n}/{file}``
  (one attempt of one test, with its ``result.json``, JUnit, logs and artifacts), and
  ``release-tests/{sha}/{run}/{summary.json,report.xml,report.html}`` (the gathered run)

A branch name with slashes (``releases/2.1``) keeps them: each part becomes a path
segment, as Ray's bucket does (``releases/2.1/<sha>/ray-….whl``). Every segment is
validated: not empty, not hidden (a leading ``.``: the local backend keeps its temporary
files and locks under such names), no whitespace, no control characters, no backslash,
at most :data:`MAX_SEGMENT_BYTES` bytes (UTF-8), and a key at most :data:`MAX_KEY_BYTES`.
Keys ending in :data:`RESERVED_SUFFIX` are reserved for the local backend's checksum
sidecars, and keys under ``latest/`` are written only by promotion
(:func:`check_promotion`), never by a plain put.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from build_support import platforms
from build_support.errors import GateError, UsageError

if TYPE_CHECKING:
    from build_support.commits import BuildContext

LATEST = "latest"
JARS = "jars"
#: ``publish/{sha}/journal.json``: the publish stage's journal of a commit.
PUBLISH = "publish"
#: ``release-tests/{sha}/{run}/…``: release tests run one step per test, and their summary.
RELEASE_TESTS = "release-tests"
#: The local backend keeps ``<object>.sha256`` beside each object.
RESERVED_SUFFIX = ".sha256"
#: A path segment: file systems allow 255 bytes, and the local backend needs room for
#: its sidecar and hidden temporary names (``.<name>.sha256.tmp-<host>-<pid>-<random>``).
MAX_SEGMENT_BYTES = 200
#: A whole key (S3 allows 1024 bytes, including the store's own prefix).
MAX_KEY_BYTES = 900

_SHA = re.compile(r"[0-9a-f]{7,64}")
_BAD_CHARS = re.compile(r"[\s\\\x00-\x1f\x7f]")
#: Operating systems a JAR key may name; ``multiplatform`` holds the repacked JAR that
#: carries every platform's native libraries.
JAR_OSES = (*platforms.JAR_OSES, platforms.MULTIPLATFORM)


def _check_utf8(value: str, what: str) -> None:
    """UsageError for a name that is not valid UTF-8 (argv bytes Python kept as surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise UsageError(
            f"invalid {what} '{shown}': not valid UTF-8",
            hint="store keys, prefixes and file names are UTF-8 text; rename the file or "
            "pass the key in UTF-8",
        ) from None


def _check_segment(segment: str, what: str, value: str) -> None:
    if segment in ("", ".", ".."):
        raise UsageError(
            f"invalid {what} {value!r}: empty, '.' or '..' path segment",
            hint="use names like 'main', 'releases/2.1', 'ray-2.40.0-py3-none-any.whl'",
        )
    if _BAD_CHARS.search(segment):
        raise UsageError(
            f"invalid {what} {value!r}: whitespace, backslash or control character",
            hint="store keys are '/'-separated names without spaces",
        )
    if segment.startswith("."):
        raise UsageError(
            f"invalid {what} {value!r}: the segment {segment!r} is hidden (starts with '.')",
            hint="hidden names are reserved for the store's temporary files and locks",
        )
    if len(segment.encode()) > MAX_SEGMENT_BYTES:
        raise UsageError(
            f"invalid {what} {value[:60]!r}…: a path segment is "
            f"{len(segment.encode())} bytes long, the limit is {MAX_SEGMENT_BYTES}",
            hint="shorten the file or branch name",
        )


def validate_key(key: str) -> str:
    """Return ``key`` if it is a well-formed store key, else raise UsageError."""
    _check_utf8(key, "key")
    if key.startswith("/") or key.endswith("/"):
        raise UsageError(
            f"invalid key {key!r}: leading or trailing '/'",
            hint="keys are relative, e.g. 'main/<sha>/file.whl'",
        )
    if len(key.encode()) > MAX_KEY_BYTES:
        raise UsageError(
            f"invalid key {key[:60]!r}…: {len(key.encode())} bytes long, "
            f"the limit is {MAX_KEY_BYTES}",
            hint="use a shorter branch or file name",
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
    _check_utf8(prefix, "prefix")
    if prefix:
        body = prefix[:-1] if prefix.endswith("/") else prefix
        if prefix.startswith("/") or not body:
            raise UsageError(f"invalid prefix {prefix!r}", hint="e.g. 'main/' or 'latest/'")
        for part in body.split("/"):
            _check_segment(part, "prefix", prefix)
    return prefix


def branch_segments(branch: str) -> str:
    """Validate a branch name and return it as path segments (slashes kept)."""
    _check_utf8(branch, "branch")
    if branch.startswith("/") or branch.endswith("/"):
        raise UsageError(f"invalid branch {branch!r}: leading or trailing '/'")
    for part in branch.split("/"):
        _check_segment(part, "branch", branch)
    top = branch.split("/", maxsplit=1)[0]
    if top in (LATEST, JARS, PUBLISH, RELEASE_TESTS, CACHE):
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
    _check_utf8(filename, "file name")
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


def release_commit_prefix(sha: str) -> str:
    """``release-tests/{sha}/``: every release-test run of a commit."""
    return f"{RELEASE_TESTS}/{_sha(sha)}/"


def release_run_id(run: str) -> str:
    """Return ``run`` if it can name a release-test run in a key, else raise UsageError."""
    _check_segment(run, "release-test run id", run)
    return run


def release_run_prefix(sha: str, run: str) -> str:
    """``release-tests/{sha}/{run}/``: one run of the release tests (every step of it)."""
    return f"{release_commit_prefix(sha)}{release_run_id(run)}/"


def release_test_prefix(sha: str, run: str, name: str) -> str:
    """``release-tests/{sha}/{run}/{name}/``: every attempt of one test in one run."""
    _check_segment(name, "release test name", name)
    return f"{release_run_prefix(sha, run)}{name}/"


#: ``attempt-{n}``: the folder of one attempt (n counts from 1 across CI retries).
ATTEMPT_PREFIX = "attempt-"


def release_attempt_key(sha: str, run: str, name: str, attempt: int, path: str) -> str:
    """``release-tests/{sha}/{run}/{name}/attempt-{n}/{path}``: a file of one attempt."""
    if attempt < 1:
        raise UsageError(f"invalid attempt number {attempt}: attempts count from 1")
    return validate_key(f"{release_test_prefix(sha, run, name)}{ATTEMPT_PREFIX}{attempt}/{path}")


def release_attempt_of(key: str, sha: str, run: str, name: str) -> int | None:
    """The attempt number of a key under :func:`release_test_prefix`, or None."""
    rest = key.removeprefix(release_test_prefix(sha, run, name))
    head = rest.split("/", 1)[0]
    if rest == key or not head.startswith(ATTEMPT_PREFIX):
        return None
    number = head.removeprefix(ATTEMPT_PREFIX)
    return int(number) if number.isdigit() and int(number) > 0 else None


def release_run_key(sha: str, run: str, filename: str) -> str:
    """``release-tests/{sha}/{run}/{filename}``: the gathered run's summary and reports."""
    return f"{release_run_prefix(sha, run)}{_filename(filename)}"


def publish_lock_key(sha: str) -> str:
    """``publish/{sha}/lock.json``: held by the publish of a commit while it sends."""
    return f"{PUBLISH}/{_sha(sha)}/lock.json"


def commit_prefix(branch: str, sha: str) -> str:
    """``{branch}/{sha}/``: everything one commit's build put in the store."""
    return f"{branch_segments(branch)}/{_sha(sha)}/"


def jars_commit_prefix(branch: str, sha: str) -> str:
    """``jars/{branch}/{sha}/``: every JAR one commit's jars stages put in the store."""
    return f"{JARS}/{commit_prefix(branch, sha)}"


#: The cache records' top-level folder: ``cache/{kind}/{digest}.json``.
CACHE = "cache"
CACHE_KINDS = ("wheels", "jars", "release-tests")


def cache_key(kind: str, digest: str) -> str:
    """``cache/{wheels|jars|release-tests}/{digest}.json``: one stage's cache record."""
    if kind not in CACHE_KINDS:
        raise UsageError(f"invalid cache kind {kind!r}", hint="one of: " + ", ".join(CACHE_KINDS))
    _check_segment(digest, "digest", digest)
    return f"{CACHE}/{kind}/{digest}.json"


def is_reserved(key: str) -> bool:
    """Whether ``key`` is under ``latest/``, which only :func:`check_promotion` opens."""
    return key.split("/", 1)[0] == LATEST


def check_writable(key: str) -> None:
    """A plain put or copy may not write ``latest/``: GateError (exit 16)."""
    if is_reserved(key):
        raise GateError(
            f"refusing to write {key!r}: {LATEST}/ is reserved for promotion",
            hint="promote a build of the default branch instead: "
            "'python -m build_support.store promote' (not from a pull request)",
        )


def check_promotion(ctx: BuildContext, default_branch: str) -> None:
    """Only the default branch, outside a pull request, may write ``latest/`` (Ray's rule:
    ``ctx.is_release_branch``)."""
    if ctx.is_release_branch(default_branch):
        return
    if ctx.branch != default_branch:
        raise GateError(
            f"refusing to promote from branch {ctx.branch!r}: "
            f"only {default_branch!r} writes {LATEST}/",
            hint="promote from a build of the default branch",
        )
    if ctx.is_pull_request:
        number = f" #{ctx.pr_number}" if ctx.pr_number is not None else ""
        raise GateError(
            f"refusing to promote from pull request{number} ({ctx.pr_evidence or 'no evidence'}): "
            f"pull requests never write {LATEST}/",
            hint="promote from the build of the merged commit on the default branch",
        )
