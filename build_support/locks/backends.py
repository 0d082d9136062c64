"""The two resolvers: pip-tools (pinned, the reference; it runs under the *target*
interpreter, from a tool venv) and uv (``uv pip compile --python-version X.Y``), their
command lines, and where each takes packages from (build_support.indexes)."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from build_support import cmd, indexes, log, tools, toolvenv
from build_support.locks.job import LockJob

#: The pip-tools release the reference pipeline pins, and what it is installed with.
PIP_TOOLS_PIN = tools.pin("pip-tools")

#: Packages never pinned (Ray's ``--unsafe-package pip --unsafe-package setuptools``).
UNSAFE_PACKAGES = ("pip", "setuptools")


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
    """How to run uv (:func:`build_support.toolvenv.find_uv`), or a ToolMissingError."""
    return [toolvenv.find_uv() or cmd.which("uv")]


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
NEUTRALISED_ENV = ("PIP_CONSTRAINT", "PIP_REQUIREMENT", "UV_CONSTRAINT", "UV_OVERRIDE")


def sources_of(
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


def setup(job: LockJob) -> tuple[list[str], str, Callable[..., list[str]]]:
    """(argv prefix, backend version, argv builder) of the job's backend."""
    if job.backend == "uv":
        uv = uv_command()
        return uv, uv_version(uv), uv_argv
    prefix, version = pip_tools_command(job.python, job.tools_dir)
    return prefix, version, pip_tools_argv
