"""Why a resolution failed, in words: the index was unreachable, or these packages
conflict (read from pip-tools' and uv's output); a missing local index before any
resolver starts."""

from __future__ import annotations

import re
from pathlib import Path

from build_support import redact
from build_support.errors import ResolutionError
from build_support.locks.job import LockJob


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_NETWORK_MARKERS = (
    "Failed to establish a new connection",
    "Max retries exceeded",
    "Name or service not known",
    "Temporary failure in name resolution",
    "Connection refused",
    "NewConnectionError",
    "Could not fetch URL",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "error sending request",
    "Failed to fetch",
    "dns error",
    "tcp connect error",
)
_REQ_TOKEN = re.compile(r"\b([A-Za-z][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?:==|>=|<=|!=|~=|<|>)")
_NAME_PATTERNS = (
    re.compile(r"No matching distribution found for ([A-Za-z0-9._-]+)"),
    re.compile(r"no version of ([A-Za-z0-9._-]+)"),
    re.compile(r"([A-Za-z0-9._-]+) was not found in the (?:package registry|provided package)"),
    re.compile(
        r"Could not find a version that (?:satisfies|matches) (?:the requirement )?"
        r"([A-Za-z0-9._-]+)"
    ),
)


_PIP_CANNOT_INSTALL = re.compile(r"Cannot install (.+?) because")
_PIP_REQUIREMENT_INFO = (
    re.compile(r"SpecifierRequirement\('([A-Za-z0-9][A-Za-z0-9._-]*)"),
    re.compile(r"Candidate\('[^']*/([A-Za-z0-9][A-Za-z0-9_.]*?)-\d[^'/]*\.whl'\)"),
)


def conflicting_packages(output: str) -> list[str]:
    """Package names a resolver's failure output blames, first mention first."""
    names: list[str] = []
    for listing in _PIP_CANNOT_INSTALL.findall(output):
        for item in re.split(r",\s*|\s+and\s+", listing):
            m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", item.strip())
            if m and not item.strip().startswith("-"):
                names.append(m.group(0))
    for pattern in (*_PIP_REQUIREMENT_INFO, *_NAME_PATTERNS):
        names += pattern.findall(output)
    focus = []
    capture = False
    for line in output.splitlines():
        if any(k in line for k in ("conflict is caused by", "No solution found", "incompatible")):
            capture = True
        if capture:
            focus.append(line)
    names += _REQ_TOKEN.findall("\n".join(focus))
    seen: dict[str, str] = {}
    skip = {"the", "and", "you", "we", "require", "requested", "depends", "because", "python"}
    for n in names:
        key = _canonical(n)
        if key not in skip and key not in seen:
            seen[key] = n
    return list(seen)


def failure(job: LockJob, output: str, returncode: int, index: str) -> ResolutionError:
    tail = redact.tail("\n".join(output.strip().splitlines()[-25:]))
    if any(m in output for m in _NETWORK_MARKERS):
        return ResolutionError(
            f"could not reach the package index {index} ({job.backend}, exit {returncode}):\n"
            + tail,
            hint="check the network/proxy, or point the installer at a reachable index"
            " (PIP_INDEX_URL or pip.conf; UV_DEFAULT_INDEX for uv), or set"
            " [tool.build_support.lock] index_url (or --index-url); see docs/lock.md",
        )
    names = conflicting_packages(output)
    what = ("conflicting or unavailable packages: " + ", ".join(names)) if names else "see below"
    return ResolutionError(
        f"{job.backend} could not resolve the Python {job.python} lock inputs against"
        f" {index}; {what}\n{tail}",
        hint="relax the conflicting requirements in the .in files or constraints, then rerun"
        f" nox -s lock-{job.python}",
    )


def check_index(job: LockJob) -> None:
    """A local index that is missing fails here, naming it, before any resolver starts."""
    locations = [*([job.index_url] if job.index_url else []), *job.find_links]
    for loc in locations:
        if loc.startswith("file://"):
            path = Path(loc[len("file://") :])
        elif "://" in loc:
            continue
        else:
            path = Path(loc)
        if not path.exists():
            raise ResolutionError(
                f"package index {loc} does not exist",
                hint="fix --index-url/--find-links or [tool.build_support.lock] index_url",
            )
