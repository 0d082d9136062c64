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
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from build_support import cmd, fsutil, indexes, lockfile, log, procs, reproducible
from build_support.args import StageParser, python_version
from build_support.config import Config
from build_support.errors import ConfigError, StaleError
from build_support.locks import backends, diagnose
from build_support.locks.header import (
    input_digest,
    is_current,
    make_header,
    postprocess,
    split_lockfile,
)
from build_support.locks.inputs import confined, input_paths, read_bytes, validate_file
from build_support.locks.job import LockJob, LockResult
from build_support.locks.settings import BACKENDS, LockSettings


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
        read_bytes(constraint_files[0])
    prefix, version, make_argv = backends.setup(job)
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
    diagnose.check_index(job)
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
            **dict.fromkeys(backends.NEUTRALISED_ENV, ""),
            **job.extra_env,
        }
        sources, extra_args = backends.sources_of(job, prefix, env)
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
            raise diagnose.failure(
                job, (proc.stdout or "") + (proc.stderr or ""), proc.returncode, where
            )
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
