"""The lock stage: compile ``requirements/*.in`` into one pinned, hashed lockfile per Python.

``nox -s lock-3.12`` runs ``python -m build_support lock --python 3.12``. The result is
``requirements/compiled/requirements_compiled_py3.12.txt`` in pip-compile's format,
with ``--hash`` lines for every pin, a short header of our own (no timestamp, no
absolute path) and nothing that points into the local filesystem.

Two backends resolve: pip-tools (pinned 7.4.1, the reference; it runs under the
*target* interpreter) and uv (``uv pip compile --python-version X.Y``). Both are seeded
with the existing lockfile, so pins move only when the inputs force them to or when
``--upgrade``/``--upgrade-package`` asks.

The header records a digest of everything that determines the result (the input and
constraint files, backend and its version, Python version, and the index when the
project names one; otherwise pip-tools and uv take it from their own configuration, see
build_support.indexes), and which index the last resolution used. When the digest
matches, the stage skips resolution entirely; this path imports nothing heavy.
``--check`` always re-resolves (into a temporary file) and fails when the resolution
differs from the committed one: package, version, markers and hash set, compared with
:func:`lockfile.differences`, so header and comments never count and either backend can
check a file the other wrote; see docs/lock.md for exactly what it catches.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from build_support import (
    cmd,
    fsutil,
    indexes,
    lockfile,
    log,
    procs,
    redact,
    reproducible,
    tools,
    toolvenv,
)
from build_support.args import StageParser, python_version
from build_support.config import Config
from build_support.errors import (
    ConfigError,
    InputError,
    ResolutionError,
    StaleError,
)
from build_support.settings import Backend as Backend  # noqa: PLC0414 - re-exported
from build_support.settings import LockSettings as LockSettings  # noqa: PLC0414 - re-exported

BACKENDS: tuple[Backend, ...] = ("pip-tools", "uv")

#: The pip-tools release the reference pipeline pins, and what it is installed with.
PIP_TOOLS_PIN = tools.pin("pip-tools")

#: Bumped when the flags or the post-processing change: old lockfiles then recompile.
FORMAT_VERSION = "2"

#: Packages never pinned (Ray's ``--unsafe-package pip --unsafe-package setuptools``).
UNSAFE_PACKAGES = ("pip", "setuptools")

DIGEST_KEY = "input-digest"
BODY_KEY = "body-digest"
#: Header line recording where the last resolution took packages from (credentials
#: stripped). Provenance only: not part of the digest, ignored by ``--check``.
INDEX_KEY = "index"
_HEADER_FIELD = re.compile(r"^# ([a-z-]+): (\S+)\s*$")


@dataclass(frozen=True, kw_only=True)
class LockJob:
    """Everything one lock run needs; tests build it directly with tmp_path locations."""

    python: str
    inputs_dir: Path
    output: Path
    inputs: tuple[str, ...] = ()
    constraints: str | None = "constraints.txt"
    backend: Backend = "pip-tools"
    #: None: the installer's own configuration decides (see build_support.indexes).
    index_url: str | None = None
    find_links: tuple[str, ...] = ()
    #: Resolve from ``find_links`` only.
    no_index: bool = False
    check: bool = False
    #: Resolve twice (each in its own temporary folder) and require identical bytes.
    check_reproducible: bool = False
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    retries: int = 3
    #: Cache of pip-tools/uv (None: the tools' defaults); tests give each run its own.
    cache_dir: Path | None = None
    #: Where tool venvs for other interpreters are made (pip-tools backend).
    tools_dir: Path | None = None
    allowed_pythons: tuple[str, ...] = ("3.10", "3.11", "3.12", "3.13")
    extra_env: Mapping[str, str] = field(default_factory=dict)
    #: Folders besides ``inputs_dir`` that ``-r``/``-c`` may point into.
    include_dirs: tuple[Path, ...] = ()

    @property
    def include_roots(self) -> tuple[Path, ...]:
        return (self.inputs_dir, *self.include_dirs)


@dataclass(frozen=True)
class LockResult:
    output: Path
    status: Literal["skipped", "unchanged", "written", "checked", "reproducible"]
    pins: int
    seconds: float


# --------------------------------------------------------------------------- inputs


def input_paths(inputs_dir: Path, names: Sequence[str]) -> list[Path]:
    """The input files in order: ``names`` or every ``*.in`` in ``inputs_dir``, sorted."""
    if not inputs_dir.is_dir():
        raise InputError(
            f"requirements folder {inputs_dir} does not exist",
            hint="create it with one .in file per concern, or fix [tool.build_support.paths]"
            " requirements",
        )
    if names:
        where = "[tool.build_support.lock] inputs"
        paths = [inputs_dir / n for n in names]
        for p in paths:
            confined(p, (inputs_dir,), where=where)
    else:
        paths = sorted(inputs_dir.glob("*.in"))
        if not paths:
            raise InputError(
                f"no *.in files in {inputs_dir}",
                hint="add the lock inputs (base.in, test.in, …) or list them in"
                " [tool.build_support.lock] inputs",
            )
    for p in paths:
        _read_bytes(p)
    return paths


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            f"lock input {path} does not exist",
            hint="create it, or remove it from [tool.build_support.lock] inputs",
        ) from None
    except OSError as exc:
        raise InputError(
            f"lock input {path} cannot be read: {exc.strerror or exc}",
            hint=f"fix the file's permissions (ls -l {path})",
        ) from None


_OPTIONS_WITH_FILE = ("-r", "--requirement", "-c", "--constraint")
_OPTIONS_ALLOWED = (
    *_OPTIONS_WITH_FILE,
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--no-binary",
    "--only-binary",
    "--prefer-binary",
    "--pre",
    "--trusted-host",
    "--no-index",
)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, content) with comments stripped and continuations joined."""
    out: list[tuple[int, str]] = []
    buf = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not buf:
            start = number
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            out.append((start, buf.strip()))
        buf = ""
    if buf.strip():
        out.append((start, buf.strip()))
    return out


#: How much of an offending line an error message shows.
SHOWN_LINE = 200


def _shown(line: str) -> str:
    """An offending line for an error message: cut to SHOWN_LINE characters."""
    return repr(line if len(line) <= SHOWN_LINE else line[:SHOWN_LINE] + "…")


def confined(target: Path, roots: Sequence[Path], *, where: str) -> Path:
    """``target`` resolved, if it lies inside one of ``roots``; else an InputError.

    Lock inputs may pull in (``-r``/``-c``) only files of the requirements folder (and
    the configured ``include_dirs``): ``-r /proc/self/environ`` would otherwise hand the
    whole environment to the resolver and to error messages.
    """
    resolved = target.resolve()
    if any(resolved.is_relative_to(root.resolve()) for root in roots):
        return resolved
    raise InputError(
        f"{where}: {target} is outside the requirements folder {roots[0]}; lock inputs may"
        " only include files from it",
        hint="move the file into the requirements folder, or add its folder to"
        " [tool.build_support.lock] include_dirs",
    )


def referenced_files(path: Path, roots: Sequence[Path] | None = None) -> list[Path]:
    """Files that ``path`` pulls in with ``-r``/``-c``, each confined to ``roots``."""
    roots = (path.parent,) if roots is None else roots
    refs: list[Path] = []
    for n, line in _logical_lines(path.read_text(encoding="utf-8", errors="replace")):
        m = re.match(r"^(-r|--requirement|-c|--constraint)(?:\s+|=)(\S+)$", line)
        if m and "://" not in m.group(2):
            refs.append(confined(path.parent / m.group(2), roots, where=f"{path}:{n}"))
    return refs


def validate_file(
    path: Path, *, seen: set[Path] | None = None, roots: Sequence[Path] | None = None
) -> None:
    """Check every line of a requirements input; an InputError names file and line.

    A message shows the offending line (cut to SHOWN_LINE characters), never more of the
    file; ``-r``/``-c`` targets must lie inside ``roots`` (default: the file's folder).
    """
    from packaging.requirements import InvalidRequirement, Requirement

    roots = (path.parent,) if roots is None else roots
    seen = set() if seen is None else seen
    resolved = path.resolve()
    if resolved in seen:
        return
    seen.add(resolved)
    try:
        text = _read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})",
            hint="save the file as UTF-8",
        ) from None
    for number, line in _logical_lines(text):
        where = f"{path}:{number}"
        if line.startswith("-"):
            parts = re.split(r"\s+|=", line, maxsplit=1)
            option, value = parts[0], (parts[1].strip() if len(parts) > 1 else "")
            if option not in _OPTIONS_ALLOWED:
                raise InputError(
                    f"{where}: unsupported option {_shown(option)} in a lock input",
                    hint="allowed options: " + ", ".join(_OPTIONS_ALLOWED),
                )
            if option in _OPTIONS_WITH_FILE:
                if not value:
                    raise InputError(f"{where}: {option} needs a file name")
                if "://" not in value:
                    target = confined(path.parent / value, roots, where=where)
                    if not target.is_file():
                        raise InputError(
                            f"{where}: {option} {_shown(value)}: no such file ({target})",
                            hint="fix the reference or create the file",
                        )
                    validate_file(target, seen=seen, roots=roots)
            continue
        requirement = re.split(r"\s+--", line, maxsplit=1)[0]
        try:
            Requirement(requirement)
        except InvalidRequirement as exc:
            reason = str(exc).splitlines()[0] if str(exc) else "invalid"
            raise InputError(
                f"{where}: invalid requirement {_shown(requirement)}: {reason[:SHOWN_LINE]}",
                hint="fix the line (PEP 508: name[extras] specifier ; marker), then rerun",
            ) from None


# --------------------------------------------------------------------------- digest


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
        data = _read_bytes(path)
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


# --------------------------------------------------------------------------- backends


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


#: pip-tools 7.4.1 breaks with pip >= 24.3 (``find_all_candidates.cache_clear``).
PIP_PIN = tools.pin("pip")
TOOL_PINS = tools.LOCK_TOOL_PINS


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def pip_tools_command(python: str, tools_dir: Path | None) -> tuple[list[str], str]:
    """(argv prefix running ``piptools`` under the target interpreter, pip-tools version).

    The current interpreter is used when it is the target and has a pip-tools that works
    with its pip; otherwise a cached tool venv of the target interpreter.
    """
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == python:
        from importlib.metadata import PackageNotFoundError, version

        try:
            have, pip = version("pip-tools"), version("pip")
        except PackageNotFoundError:
            pass
        else:
            if _version_tuple(pip) <= _version_tuple(PIP_PIN.split("==")[1]):
                return [sys.executable, "-m", "piptools"], have
            log.info(f"pip {pip} here is too new for pip-tools {have}; using a tool venv")
    return [str(_tool_venv(python, tools_dir)), "-m", "piptools"], PIP_TOOLS_PIN.split("==")[1]


def _tool_venv(python: str, tools_dir: Path | None) -> Path:
    """A cached venv of ``python`` holding the pinned pip-tools."""
    from build_support import pythons

    interp = pythons.require([python])[python]
    return toolvenv.ensure(interp.path, TOOL_PINS, version=python, root=tools_dir)


def uv_command() -> list[str]:
    """How to run uv: the ``uv`` package's binary if importable, else ``uv`` on PATH.

    pyenv shims are skipped (each call through one costs a shell start).
    """
    import importlib.util

    if importlib.util.find_spec("uv") is not None:
        from uv import find_uv_bin  # type: ignore[import-not-found,unused-ignore]

        return [find_uv_bin()]
    path = os.pathsep.join(
        d for d in os.environ.get("PATH", "").split(os.pathsep) if "shims" not in Path(d).parts
    )
    found = shutil.which("uv", path=path)
    if not found:
        pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
        found = next((str(p) for p in sorted(pyenv.glob("versions/*/bin/uv"))), None)
    return [found] if found else [cmd.which("uv")]


def uv_version(uv: Sequence[str]) -> str:
    out = cmd.output([*uv, "--version"])
    parts = out.split()
    return parts[1] if len(parts) > 1 else out


def _explicit_sources(job: LockJob) -> bool:
    """True when the project or command line names the index; else the installer decides."""
    return bool(job.index_url) or job.no_index


def _index_args(job: LockJob) -> list[str]:
    """Index options only for what was asked; none at all lets the installer's config rule."""
    args: list[str] = []
    if job.no_index:
        args.append("--no-index")
    elif job.index_url:
        args += ["--index-url", job.index_url]
    for link in job.find_links:
        args += ["--find-links", link]
    return args


def _with_job_options(
    argv: list[str], job: LockJob, output: Path, inputs: Sequence[str]
) -> list[str]:
    """The options both backends spell the same way, then output and inputs."""
    if job.cache_dir is not None:
        argv += ["--cache-dir", str(job.cache_dir)]
    if job.constraints:
        argv += ["--constraint", job.constraints]
    if job.upgrade:
        argv.append("--upgrade")
    for pkg in job.upgrade_packages:
        argv += ["--upgrade-package", pkg]
    return [*argv, "--output-file", str(output), *inputs]


def pip_tools_argv(
    job: LockJob, prefix: Sequence[str], output: Path, inputs: Sequence[str]
) -> list[str]:
    argv = [
        *prefix,
        "compile",
        "--quiet",
        "--resolver=backtracking",
        "--strip-extras",
        "--no-header",
        "--generate-hashes",
        "--no-reuse-hashes",
        "--annotation-style=split",
        "--no-emit-index-url",
        "--no-emit-find-links",
        "--no-emit-trusted-host",
        *(a for p in UNSAFE_PACKAGES for a in ("--unsafe-package", p)),
        *_index_args(job),
        "--pip-args",
        f"--retries {job.retries} --timeout 30",
    ]
    return _with_job_options(argv, job, output, inputs)


def uv_argv(job: LockJob, prefix: Sequence[str], output: Path, inputs: Sequence[str]) -> list[str]:
    argv = [
        *prefix,
        "pip",
        "compile",
        "--quiet",
        "--no-config",
        # Any interpreter will do: --python-version sets the markers resolved for. Never
        # let uv go looking for (or download) one.
        "--python",
        sys.executable,
        "--no-python-downloads",
        "--python-version",
        job.python,
        "--generate-hashes",
        "--no-header",
        "--annotation-style=split",
        *(a for p in UNSAFE_PACKAGES for a in ("--no-emit-package", p)),
        *_index_args(job),
    ]
    return _with_job_options(argv, job, output, inputs)


#: Never let this machine's installer settings add inputs to the lock.
_NEUTRALISED_ENV = ("PIP_CONSTRAINT", "PIP_REQUIREMENT", "UV_CONSTRAINT", "UV_OVERRIDE")


def _sources(
    job: LockJob, prefix: Sequence[str], env: dict[str, str]
) -> tuple[indexes.Sources, list[str]]:
    """(where this run takes packages from, extra options); may add what uv needs to ``env``.

    Named sources replace the installer's (its index variables are blanked); otherwise
    pip-tools reads pip's configuration and uv its own, or pip's when it has none.
    """
    if _explicit_sources(job):
        env.update(dict.fromkeys((*indexes.PIP_SOURCE_VARS, *indexes.UV_SOURCE_VARS), ""))
        named = indexes.Sources(
            index_url=job.index_url,
            find_links=job.find_links,
            no_index=job.no_index,
            origin="[tool.build_support.lock] index_url / the command line",
        )
        return named, []
    seen = {**os.environ, **env}
    args: list[str] = []
    if job.backend == "uv":
        extra, args, found = indexes.uv_env(seen)
        env.update(extra)
    else:
        found = indexes.pip_sources(prefix[0], seen)
    return replace(found, find_links=(*found.find_links, *job.find_links)), args


# --------------------------------------------------------------------------- failures

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


def _failure(job: LockJob, output: str, returncode: int, index: str) -> ResolutionError:
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


def _check_index(job: LockJob) -> None:
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


# --------------------------------------------------------------------------- the stage


def _backend_setup(job: LockJob) -> tuple[list[str], str, Callable[..., list[str]]]:
    if job.backend == "uv":
        uv = uv_command()
        return uv, uv_version(uv), uv_argv
    prefix, version = pip_tools_command(job.python, job.tools_dir)
    return prefix, version, pip_tools_argv


def lock(job: LockJob) -> LockResult:
    """Compile (or check) one lockfile. Raises the errors hierarchy on bad input."""
    start = time.monotonic()
    if job.python not in job.allowed_pythons:
        raise ConfigError(
            f"unknown Python version {job.python!r} for the lock stage",
            hint="allowed: " + ", ".join(job.allowed_pythons),
        )
    if job.backend not in BACKENDS:
        raise ConfigError(
            f"unknown lock backend {job.backend!r}", hint="allowed: " + ", ".join(BACKENDS)
        )
    files = input_paths(job.inputs_dir, job.inputs)
    constraint_files: list[Path] = []
    if job.constraints:
        constraint_files = [job.inputs_dir / job.constraints]
        where = "[tool.build_support.lock] constraints"
        confined(constraint_files[0], (job.inputs_dir,), where=where)
        _read_bytes(constraint_files[0])
    prefix, version, make_argv = _backend_setup(job)
    digest = input_digest(
        [*files, *constraint_files],
        inputs_dir=job.inputs_dir,
        backend=job.backend,
        backend_version=version,
        python=job.python,
        index_url=job.index_url,
        find_links=job.find_links,
        no_index=job.no_index,
        include_dirs=job.include_dirs,
    )
    resolving = job.check or job.check_reproducible or job.upgrade or bool(job.upgrade_packages)
    if not resolving and is_current(job.output, digest):
        from build_support import inputcache  # the reuse ledger the pipeline reads

        inputcache.note(f"lockfile {job.output.name}", reused=True)
        log.info(
            f"{job.output.name}: inputs unchanged ({digest[:19]}…), skipping resolution"
            f" (--upgrade-package NAME to move a pin, --check to re-resolve)"
        )
        return LockResult(job.output, "skipped", _count_pins(job.output), time.monotonic() - start)

    for f in [*files, *constraint_files]:
        validate_file(f, roots=job.include_roots)
    _check_index(job)
    if job.check_reproducible:
        return _check_reproducible(
            job, prefix, make_argv, files, digest=digest, version=version, start=start
        )
    body, sources = _resolve(job, prefix, make_argv, files)
    header = make_header(
        job, files=files, digest=digest, body=body, version=version, sources=sources
    )
    text = header + body
    pins = len(lockfile.pins(body))
    elapsed = time.monotonic() - start
    old = job.output.read_text(encoding="utf-8") if job.output.is_file() else None
    if job.check:
        if old is None:
            raise StaleError(
                f"{job.output} does not exist",
                hint=f"run nox -s lock-{job.python} and commit the lockfile",
            )
        check_resolution(job, old, body)
        log.info(
            f"{job.output.name}: up to date ({pins} pins; re-resolved with {job.backend}"
            f" in {elapsed:.1f}s: same packages, versions, markers and hashes)"
        )
        return LockResult(job.output, "checked", pins, elapsed)
    if old == text:
        log.info(f"{job.output.name}: resolved, no change ({pins} pins)")
        return LockResult(job.output, "unchanged", pins, elapsed)
    fsutil.write_atomic(job.output, text)
    log.info(f"{job.output.name}: written ({pins} pins, {elapsed:.1f}s)")
    return LockResult(job.output, "written", pins, elapsed)


def _check_reproducible(
    job: LockJob,
    prefix: Sequence[str],
    make_argv: Callable[..., list[str]],
    files: Sequence[Path],
    *,
    digest: str,
    version: str,
    start: float,
) -> LockResult:
    """Resolve twice, each in its own temporary folder, and compare the whole files
    (header included) byte for byte; the lockfile itself is not written."""
    texts: list[str] = []
    body = ""
    for n in (1, 2):
        log.step(f"--check-reproducible: resolution {n} of 2")
        body, sources = _resolve(job, prefix, make_argv, files)
        texts.append(
            make_header(
                job, files=files, digest=digest, body=body, version=version, sources=sources
            )
            + body
        )
    name = job.output.name
    difference = reproducible_difference(texts[0], texts[1], where=name)
    reproducible.require_identical(
        [reproducible.Comparison(name, job.output, job.output, difference)]
    )
    log.success(f"{name}: two resolutions with {job.backend} gave byte-identical files")
    return LockResult(
        job.output, "reproducible", len(lockfile.pins(body)), time.monotonic() - start
    )


def reproducible_difference(first: str, second: str, *, where: str) -> str | None:
    """Where two lockfiles compiled from the same inputs differ; None when byte-identical.

    A body difference is named by its first differing body line (numbered as in the
    file) and the packages that resolve differently: the header's body digest differs
    too, but names nothing, and a differing ``--hash`` line does not name its package.
    """
    if first == second:
        return None
    _fields, body_a = split_lockfile(first)
    _fields, body_b = split_lockfile(second)
    if body_a == body_b:
        return reproducible.first_text_difference(first, second)
    start = len(first.splitlines()) - len(body_a.splitlines()) + 1
    line = reproducible.first_text_difference(body_a, body_b, start=start)
    changes = lockfile.differences(body_a, body_b, where=where)
    return f"{line}" + (f"; packages: {', '.join(changes)}" if changes else "")


def check_resolution(job: LockJob, committed: str, recompiled_body: str) -> None:
    """StaleError unless ``committed`` resolves exactly as ``recompiled_body`` does.

    Compared semantically (:func:`lockfile.differences`: package, version, markers, hash
    set), so the header, ``# via`` comments and the backend that wrote the file do not
    count: ``--check --backend uv`` gates a pip-tools lockfile. A hand edit counts only
    when it changes the resolution (a version edited by hand keeps its old hashes, which
    the re-resolution does not reproduce).
    """
    changes = lockfile.differences(committed, recompiled_body, where=str(job.output))
    if changes:
        shown = "\n".join(f"  {c}" for c in changes)
        raise StaleError(
            f"{job.output} is not up to date with its inputs: re-resolving with"
            f" {job.backend} gives {len(changes)} change(s) (- committed, + re-resolved):\n"
            f"{shown}",
            hint=f"run nox -s lock-{job.python} and commit the result",
        )


def _count_pins(path: Path) -> int:
    return len(lockfile.pins(path.read_text(encoding="utf-8")))


def _seed(job: LockJob, body: str) -> str:
    """What the resolver is seeded with: the committed pins. uv reuses any hash it finds
    in its output file (it has no ``--no-reuse-hashes``), so it gets the pins without
    hashes and computes every hash from the index, as pip-tools does here."""
    if job.backend != "uv":
        return body
    return "".join(f"{p.requirement}\n" for p in lockfile.parse(body, where=str(job.output)))


def _resolve(
    job: LockJob, prefix: Sequence[str], make_argv: Callable[..., list[str]], files: Sequence[Path]
) -> tuple[str, str]:
    """(body, where packages came from): the backend run in a folder seeded with the lockfile."""
    with tempfile.TemporaryDirectory(prefix="lock-") as tmp:
        out = Path(tmp) / job.output.name
        if job.output.is_file() and not job.upgrade:
            _fields, body = split_lockfile(job.output.read_text(encoding="utf-8"))
            out.write_text(_seed(job, body), encoding="utf-8")
        names = [os.path.relpath(f, job.inputs_dir) for f in files]
        env = {
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "UV_HTTP_RETRIES": str(job.retries),
            "UV_NO_PROGRESS": "1",
            "CUSTOM_COMPILE_COMMAND": f"nox -s lock-{job.python}",
            **dict.fromkeys(_NEUTRALISED_ENV, ""),
            **job.extra_env,
        }
        sources, extra_args = _sources(job, prefix, env)
        where = indexes.describe(sources, installer="uv" if job.backend == "uv" else "pip")
        argv = make_argv(job, prefix, out, names)
        at = argv.index("--output-file")
        argv[at:at] = extra_args
        # Every process the resolver starts carries this marker, and none outlives it
        # (a build backend the resolver spawned, after a SIGTERM or Ctrl-C).
        owner = procs.new_owner_token()
        env[procs.OWNER_VAR] = owner
        with log.group(f"resolve Python {job.python} with {job.backend} from {where}"):
            try:
                proc = cmd.run(argv, cwd=job.inputs_dir, env=env, capture=True, check=False)
            finally:
                procs.kill_marked(owner)
        if proc.returncode != 0 or not out.is_file():
            raise _failure(job, (proc.stdout or "") + (proc.stderr or ""), proc.returncode, where)
        return postprocess(out.read_text(encoding="utf-8")), where


# --------------------------------------------------------------------------- CLI


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = StageParser(prog="nox -s lock-X.Y --", description="Compile the lockfile for one Python.")
    p.add_argument(
        "--python", required=True, type=python_version, help="target Python version, e.g. 3.12"
    )
    p.add_argument("--check", action="store_true", help="fail (exit 8) if the lockfile is stale")
    p.add_argument(
        "--check-reproducible",
        action="store_true",
        help="resolve twice (different temporary folders) and fail (exit 13) naming the first"
        " differing line unless both files are byte-identical; the lockfile is not written",
    )
    p.add_argument(
        "--upgrade-package",
        "-P",
        action="append",
        default=[],
        metavar="NAME",
        help="let this package move to its newest allowed version (repeatable)",
    )
    p.add_argument("--upgrade", action="store_true", help="let every pin move")
    p.add_argument("--backend", choices=BACKENDS, help="override [tool.build_support.lock] backend")
    p.add_argument("--index-url", help="override [tool.build_support.lock] index_url")
    p.add_argument("--find-links", action="append", default=[], metavar="DIR_OR_URL")
    p.add_argument("--no-index", action="store_true", help="resolve from --find-links only")
    return p.parse_args(list(argv))


def main(argv: list[str], cfg: Config, *, host_machine: str | None = None) -> int:
    """``python -m build_support lock --python X.Y [--check] [--upgrade-package NAME]…``."""
    args = parse_args(argv)
    settings = cfg.section("lock", LockSettings)
    if args.python not in cfg.python_versions:
        raise ConfigError(
            f"unknown Python version {args.python!r} for the lock stage",
            hint="allowed (tool.build_support.python_versions): " + ", ".join(cfg.python_versions),
        )
    if host_machine is None:
        import platform

        host_machine = platform.machine()
    if settings.skip_on_aarch64 and host_machine in ("aarch64", "arm64"):
        log.warn(
            f"lock-{args.python}: skipping on an {host_machine} host, as Ray does (some pinned"
            " packages have no aarch64 wheels); compile lockfiles on x86_64, or set"
            " [tool.build_support.lock] skip_on_aarch64 = false"
        )
        return 0
    inputs_dir = cfg.path("requirements")
    output = lockfile.path(
        inputs_dir, args.python, output_dir=settings.output_dir, output_name=settings.output_name
    )
    index_url = None if args.no_index else (args.index_url or settings.index_url or None)
    job = LockJob(
        python=args.python,
        inputs_dir=inputs_dir,
        output=output,
        inputs=settings.inputs,
        constraints=settings.constraints or None,
        backend=args.backend or settings.backend,
        index_url=index_url,
        find_links=tuple(args.find_links),
        no_index=args.no_index,
        check=args.check,
        check_reproducible=args.check_reproducible,
        upgrade=args.upgrade,
        upgrade_packages=tuple(args.upgrade_package),
        retries=settings.retries,
        allowed_pythons=cfg.python_versions,
        include_dirs=tuple(cfg.root / d for d in settings.include_dirs),
    )
    result = lock(job)
    summary = log.Summary(
        "lock", headers=("lockfile", "python", "backend", "pins", "status", "time")
    )
    summary.add(
        lockfile=os.path.relpath(result.output, cfg.root),
        python=job.python,
        backend=job.backend,
        pins=str(result.pins),
        status=result.status,
        time=f"{result.seconds:.2f}s",
    )
    summary.emit()
    return 0
