"""The wheel stage: build, stamp, repair, verify and store the product's wheels.

``nox -s wheel -- [PLATFORM…] [--python X.Y …] [--force] [--release] [--image P=REF]``

For every configured PEP 517 project (``[tool.build_support.wheel] projects``), every
requested Python and every target platform (default: the host's):

1. the project's files (git-tracked and untracked-not-ignored) are copied to a
   temporary directory and the commit is stamped there, so the working tree is never
   touched, even when a build fails or is killed;
2. an input digest (file contents, interpreter version, platform, build requirements,
   build image, commit) is looked up in the artifact store (``cache/wheels/<digest>.json``):
   a hit reuses the stored wheel instead of compiling (``--force`` rebuilds);
3. ``python -m build --wheel`` runs under the target interpreter (natively, or in a build
   container of the target platform, under QEMU for aarch64 on x86_64), then
   ``auditwheel repair --plat <platform>`` (``delocate-wheel`` on macOS) proves the policy;
4. the wheel is verified before it leaves: file-name tags equal its WHEEL metadata and
   target the requested platform and Python, the ``_version.py`` inside (or, for a
   project stamped ``into = "dist-info"``, the ``.dist-info/COMMIT`` written after repair)
   carries the expected commit, and it installs into a fresh venv and imports (each of
   the project's ``compiled_modules`` as an extension module), reporting that commit;
5. it goes to ``dist/`` (atomically), to the store under ``{branch}/{sha}/{file}``, and on
   the default branch (not a pull request) to ``latest/{file}``.

Builds of several Pythons run in parallel, up to the number of cores.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import shutil
import tempfile
import time
import types
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, NoReturn

from build_support import (
    cmd,
    commits,
    fsutil,
    indexes,
    inputcache,
    log,
    manifests,
    platforms,
    procs,
    provision,
    pythons,
    reproducible,
    store,
    toolvenv,
    wheelfile,
    wheelhouse,
)
from build_support.args import StageParser, non_negative_int, python_version
from build_support.config import Config
from build_support.errors import (
    BuildSupportError,
    CommandFailedError,
    DockerError,
    GateError,
    InputError,
    InterpreterNotFoundError,
    PlatformError,
    StoreError,
    UsageError,
    VerificationError,
)
from build_support.settings import CommitStamp
from build_support.settings import WheelSettings as WheelSettings  # noqa: PLC0414 - re-exported
from build_support.sources import project_files
from build_support.supplychain import attest

Mode = Literal["native", "container"]

#: Images made locally by :mod:`build_support.rootfs` are named ``rootfs:<debian suite>``.
ROOTFS_PREFIX = "rootfs:"
DRIVER = Path(__file__).resolve().with_name("containerbuild.py")
RESULT_PREFIX = "BS-RESULT "

#: The smoke import, run with ``python -I -c CODE <package>`` in a fresh venv. Each of
#: COMPILED must load from an extension module (a pure-Python fallback fails it); the
#: commit comes from ``<package>._version``, or from DIST's ``.dist-info/COMMIT``.
_CHECK_TEMPLATE = """\
import importlib, importlib.machinery, importlib.metadata, json, sys
COMPILED, DIST = {compiled!r}, {dist!r}
pkg = sys.argv[1]
mod = importlib.import_module(pkg)
{extra}
compiled = {{}}
for name in COMPILED:
    m = importlib.import_module(name)
    origin = getattr(m, "__file__", None) or ""
    if not origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        sys.exit(f"{{name}} is not compiled: it was imported from {{origin or 'nowhere'}}, "
                 "not an extension module (a pure-Python fallback?)")
    compiled[name] = origin
if DIST:
    commit = importlib.metadata.distribution(DIST).read_text({commit_file!r}).strip()
else:
    ver = importlib.import_module(pkg + "._version")
    commit = getattr(ver, "commit", None) or getattr(ver, "__commit__", None)
print(json.dumps({{"commit": commit, "file": mod.__file__, "compiled": compiled}}))
"""


#: Build images used when ``images`` in the config names none for a platform.
DEFAULT_IMAGES: Mapping[str, str] = types.MappingProxyType(
    {
        "manylinux2014_x86_64": "quay.io/pypa/manylinux2014_x86_64",
        "manylinux2014_aarch64": "quay.io/pypa/manylinux2014_aarch64",
    }
)


# --- pure planning ------------------------------------------------------------------------


@dataclass(frozen=True)
class NativeTarget:
    """A platform this host builds itself (with the host's interpreters)."""

    platform: str
    arch: platforms.Arch
    mode: ClassVar[Mode] = "native"
    image: ClassVar[None] = None


@dataclass(frozen=True)
class ContainerTarget:
    """A platform built in a container of ``image`` (under QEMU for a foreign arch)."""

    platform: str
    arch: platforms.Arch
    image: str
    mode: ClassVar[Mode] = "container"


Target = NativeTarget | ContainerTarget


def build_mode(
    platform: str, host: platforms.Host, *, image: str | None, native: bool = True
) -> Mode:
    """How ``platform`` is built on ``host``: natively, in a container, or refused."""
    target_os, target_arch = platforms.parse_platform_tag(platform)
    where = f"{host.system}-{host.machine}"
    if target_os == "darwin":
        if host.system == "Darwin" and host.arch == target_arch:
            return "native"
        raise PlatformError(
            f"{platform} wheels can only be built on a macOS arm64 host (Darwin-arm64, "
            f"e.g. GitHub's macos-14 runner); this host is {where}",
            hint=f"run `nox -s wheel -- {platform}` on an Apple-silicon Mac, "
            "where delocate repairs the wheel",
        )
    if native and host.system == "Linux" and host.arch == target_arch:
        return "native"
    if image:
        return "container"
    raise PlatformError(
        f"{platform} cannot be built natively on {where} and no build image is configured",
        hint=f"set [tool.build_support.wheel] images.{platform} = IMAGE "
        f"or pass --image {platform}=IMAGE",
    )


def parse_image_overrides(values: Sequence[str]) -> dict[str, str]:
    """``PLATFORM=IMAGE`` arguments → mapping, validating the platform tag."""
    out: dict[str, str] = {}
    for value in values:
        plat, sep, ref = value.partition("=")
        if not sep or not ref:
            raise UsageError(
                f"--image {value!r} is not PLATFORM=IMAGE",
                hint="e.g. --image manylinux2014_aarch64=rootfs:bookworm",
            )
        platforms.parse_platform_tag(plat)
        out[plat] = ref
    return out


def check_code(extra: str, *, compiled: Sequence[str] = (), dist: str = "") -> str:
    """The smoke-import program: ``extra`` runs after the import, each of ``compiled`` must
    be an extension module, and the commit comes from ``.dist-info/COMMIT`` of ``dist``
    (when set) or from ``<package>._version``."""
    return _CHECK_TEMPLATE.format(
        extra=extra or "pass",
        compiled=list(compiled),
        dist=dist,
        commit_file=wheelfile.COMMIT_FILE,
    )


def parse_probe(text: str) -> dict[str, tuple[str, str]]:
    """``{"3.11": ("3.11.2", "/usr/bin/python3")}`` from the image probe's output lines."""
    found: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2 or parts[0].count(".") != 2:
            continue
        full, path = parts
        short = ".".join(full.split(".")[:2])
        found.setdefault(short, (full, path))
    return found


# --- projects and their inputs --------------------------------------------------------------


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


def load_projects(cfg: Config, settings: WheelSettings) -> list[Project]:
    dirs = []
    for rel in settings.projects:
        path = (cfg.root / rel).resolve()
        if not ((path / "pyproject.toml").is_file() or (path / "setup.py").is_file()):
            raise InputError(
                f"wheel project {rel!r} ({path}) has no pyproject.toml or setup.py",
                hint="fix [tool.build_support.wheel] projects in pyproject.toml",
            )
        dirs.append((rel, path))
    projects = []
    for rel, path in dirs:
        nested = [p for _, p in dirs if p != path and path in p.parents]
        files = project_files(cfg.root, path, nested)
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


# --- machine state: cache dirs, tool venvs, wheelhouses, images -------------------------------


def find_uv() -> str | None:
    with contextlib.suppress(BuildSupportError):
        return cmd.output(["uv", "--version"]) and shutil.which("uv")
    return None


def build_wheelhouse(platform: str, version: str, requirements: Sequence[str]) -> Path:
    """Binary wheels of ``requirements`` for ``platform``/CPython ``version`` (cached)."""
    return wheelhouse.ensure(
        sorted(set(requirements)),
        platforms=[platform],
        python=version,
        name=f"{platform}-{wheelfile.python_tag(version)}",
        hint="the build container installs from this wheelhouse; the index pip is "
        "configured with (pip.conf, PIP_INDEX_URL; see docs/wheel.md) must be reachable "
        "from the host",
        timeout=1800,
    )


def resolve_image(
    ref: str, arch: platforms.Arch, settings: WheelSettings, *, debian_mirror: str = ""
) -> str:
    """A local image reference for ``ref`` (made with rootfs, or present, or pulled).

    ``debian_mirror`` is ``[tool.build_support.rootfs] mirror`` ("" = apt's on this host).
    """
    docker = provision.docker_client()
    if ref.startswith(ROOTFS_PREFIX):
        from build_support import rootfs

        suite = ref[len(ROOTFS_PREFIX) :] or rootfs.DEFAULT_SUITE
        return rootfs.ensure_image(
            arch, settings.container_packages, suite=suite, mirror=debian_mirror
        )
    present = cmd.run([docker, "image", "inspect", ref], capture=True, check=False, echo=False)
    if present.returncode == 0:
        return ref
    log.step(f"pulling build image {ref}")
    try:
        cmd.run(
            [docker, "pull", "--platform", platforms.DOCKER_PLATFORMS[arch], ref],
            capture=True,
            timeout=900,
        )
    except CommandFailedError as exc:
        raise DockerError(
            f"the build image {ref} is not present and could not be pulled",
            hint="on a host without registry access use a local image: "
            f"--image <platform>={ROOTFS_PREFIX}bookworm (built with debootstrap)",
        ) from exc
    return ref


def _offline_run(docker: str, name: str, arch: platforms.Arch) -> list[str]:
    """``docker run`` of a named, self-removing container for ``arch``, without network."""
    platform = platforms.DOCKER_PLATFORMS[arch]
    return [docker, "run", "--rm", "--name", name, "--network", "none", "--platform", platform]


def probe_image(image: str, arch: platforms.Arch) -> dict[str, tuple[str, str]]:
    """The Pythons a build image has: manylinux's /opt/python first, then python3."""
    script = (
        "for p in /opt/python/cp3*-cp3*/bin/python python3; do "
        'command -v "$p" >/dev/null 2>&1 && "$p" -c '
        "\"import sys; print('%d.%d.%d' % sys.version_info[:3], sys.executable)\"; done; true"
    )
    docker = provision.docker_client()
    name = f"bs-probe-{uuid.uuid4().hex[:12]}"
    with procs.owned_container(docker, name):  # a timeout stops only the client
        out = cmd.output(
            [*_offline_run(docker, name, arch), image, "sh", "-c", script], timeout=600
        )
    return parse_probe(out)


# --- one build ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    project: Project
    target: Target
    python: str
    full_version: str
    interpreter: str  # host path, or the path inside the image
    digest: str

    @property
    def label(self) -> str:
        return f"{self.project.rel} cp{self.python.replace('.', '')} {self.target.platform}"


@dataclass
class Built:
    job: Job
    wheel: Path
    seconds: float
    cached: bool
    reported_commit: str | None = None
    sha256: str = ""
    size: int = 0
    store_key: str = ""
    cleanup: Path | None = None
    #: The wheel as the build backend wrote it, before repair (fresh builds only).
    raw: Path | None = None


def _dist_info_import(wheel: Path) -> tuple[str, str]:
    """What the import check of a ``dist-info`` project imports, and the distribution
    whose installed ``.dist-info/COMMIT`` it reads."""
    names = wheelfile.top_level_names(wheel)
    if not names:
        raise VerificationError(f"{wheel.name} has no top-level package or module to import")
    return names[0], wheelfile.parse_name(wheel.name).distribution


def _smoke_host(job: Job, wheel: Path, work: Path, uv: str | None) -> str:
    venv = work / "smoke"
    python = venv / "bin" / "python"
    if uv:
        cmd.run([uv, "venv", "-q", "--python", job.interpreter, venv], capture=True)
        cmd.run([uv, "pip", "install", "-q", "--python", python, "--no-deps", wheel], capture=True)
    else:
        cmd.run([job.interpreter, "-m", "venv", venv], capture=True)
        cmd.run([python, "-m", "pip", "install", "-q", "--no-deps", wheel], capture=True)
    project = job.project
    if project.in_dist_info:
        package, dist = _dist_info_import(wheel)
    else:
        package, dist = next(iter(wheelfile.read_commits(wheel))).split("/")[0], ""
    code = check_code(project.smoke, compiled=project.compiled, dist=dist)
    try:
        out = cmd.output([python, "-I", "-c", code, package], cwd=work)
    except CommandFailedError as exc:
        raise VerificationError(
            f"{wheel.name} does not import in a fresh Python {job.python} venv:\n{exc.message}",
            hint="run the product's tests; a missing compiled module fails here "
            f"(compiled_modules of {project.rel}: {', '.join(project.compiled) or 'none'})",
        ) from exc
    report = json.loads(out.splitlines()[-1])
    log.info(f"{job.label}: import check: {json.dumps(report)}")
    return str(report["commit"])


def _smoke_failed_in_container(job: Job, image: str, exc: CommandFailedError) -> None:
    """A failed smoke import in the container driver is a VerificationError (exit 13)."""
    from build_support.containerbuild import SMOKE_FAILED

    if SMOKE_FAILED not in exc.output:
        return
    before = exc.output.split(SMOKE_FAILED)[0].strip().splitlines()
    raise VerificationError(
        f"{job.label} does not import in a fresh venv in {image}:\n" + "\n".join(before[-8:]),
        hint="run the product's tests; a missing compiled module fails here "
        f"(compiled_modules of {job.project.rel}: {', '.join(job.project.compiled) or 'none'})",
    ) from exc


def _is_policy_refusal(output: str) -> bool:
    return "cannot repair" in output or "This does not look like a platform wheel" in output


def _repair_failed(wheel: str, platform: str, exc: CommandFailedError) -> NoReturn:
    if not _is_policy_refusal(exc.output):
        raise exc
    reason = "\n".join(exc.output.strip().splitlines()[-8:]) or exc.message
    raise VerificationError(
        f"{wheel} does not satisfy the {platform} policy (auditwheel refused):\n{reason}",
        hint="link only against the policy's libraries and glibc <= 2.17, "
        "or build in the manylinux image",
    ) from exc


def build_native(
    job: Job, settings: WheelSettings, commit: str, uv: str | None, *, epoch: int
) -> Built:
    start = time.monotonic()
    is_mac = job.target.platform.startswith("macosx_")
    reqs = settings.macos_tool_requirements if is_mac else settings.tool_requirements
    interp = pythons.Interpreter(job.python, job.full_version, Path(job.interpreter))
    tools = toolvenv.ensure(interp.path, reqs, version=interp.full_version, uv=uv)
    with tempfile.TemporaryDirectory(prefix="bs-wheel-") as tmp:
        work = Path(tmp)
        src = work / "src"
        copy_stamped(job.project, src, commit)
        argv: list[str | os.PathLike[str]] = [
            tools,
            "-m",
            "build",
            "--wheel",
            "--outdir",
            work / "raw",
            src,
        ]
        # The build folder is a fresh temporary one: map it away from debug info.
        env = reproducible.build_env(epoch, {str(work): "/bs"})
        if is_mac:
            env["MACOSX_DEPLOYMENT_TARGET"] = settings.macos_deployment_target
            env["ZERO_AR_DATE"] = "1"
        if uv and settings.installer != "pip":
            argv += ["--installer", "uv"]
            env.update(indexes.uv_env()[0])  # build's uv: the same sources as pip
        cmd.run(
            argv,
            env=env,
            capture=True,
            timeout=settings.build_timeout,
            hint=f"the build of {job.project.rel} failed; the output tail is above",
        )
        (raw,) = sorted((work / "raw").glob("*.whl"))
        out = work / "out"
        try:
            if is_mac:
                cmd.run(
                    [tools.parent / "delocate-wheel", "--require-archs", "arm64", "-w", out, raw],
                    capture=True,
                )
            else:
                path = f"{tools.parent}{os.pathsep}{os.environ.get('PATH', '')}"
                cmd.run(
                    [
                        tools,
                        "-m",
                        "auditwheel",
                        "repair",
                        "--plat",
                        job.target.platform,
                        "-w",
                        out,
                        raw,
                    ],
                    capture=True,
                    env={"PATH": path, "SOURCE_DATE_EPOCH": str(epoch)},
                )
        except CommandFailedError as exc:
            _repair_failed(raw.name, job.target.platform, exc)
        (wheel,) = sorted(out.glob("*.whl"))
        if job.project.in_dist_info:
            wheelfile.stamp_dist_info(wheel, commit)
        wheelfile.normalize(wheel, reproducible.zip_date_time(epoch))
        wheelfile.check_tags(wheel, platform=job.target.platform, python=job.python)
        job.project.check_commit(wheel, commit)
        reported = _smoke_host(job, wheel, work, uv)
        keep_dir = Path(tempfile.mkdtemp(prefix="bs-wheel-out-"))
        keep = keep_dir / wheel.name
        shutil.move(wheel, keep)
        (keep_dir / "raw").mkdir()
        kept_raw = Path(shutil.move(raw, keep_dir / "raw" / raw.name))
    return Built(
        job,
        keep,
        time.monotonic() - start,
        cached=False,
        reported_commit=reported,
        cleanup=keep_dir,
        raw=kept_raw,
    )


def _driver(
    job: Job,
    target: ContainerTarget,
    mounts: Mapping[Path, str],
    driver_args: Sequence[str],
    *,
    epoch: int,
    timeout: float,
) -> dict[str, object]:
    """Run :mod:`build_support.containerbuild` in a fresh offline container of the target
    image with ``mounts`` (host path → container path); its ``BS-RESULT`` report."""
    docker = provision.docker_client()
    name = f"bs-wheel-{uuid.uuid4().hex[:12]}"
    argv: list[str | os.PathLike[str]] = [*_offline_run(docker, name, target.arch)]
    for host_path, inside in {**mounts, DRIVER: "/bs/driver.py:ro"}.items():
        argv += ["-v", f"{host_path}:{inside}"]
    argv += ["-e", f"HOST_UID={os.getuid()}", "-e", f"HOST_GID={os.getgid()}"]
    for k, v in reproducible.build_env(epoch, {"/bs/src": "/bs/src"}, base={}).items():
        argv += ["-e", f"{k}={v}"]
    argv += [target.image, job.interpreter, "/bs/driver.py", *driver_args]
    # The container is removed on every path: failure, timeout, SIGTERM, Ctrl-C.
    with procs.owned_container(docker, name):
        try:
            proc = cmd.run(
                argv,
                capture=True,
                timeout=timeout,
                hint=f"the container build of {job.label} failed",
            )
        except CommandFailedError as exc:
            if _is_policy_refusal(exc.output):
                _repair_failed(job.label, job.target.platform, exc)
            _smoke_failed_in_container(job, target.image, exc)
            raise
    result_lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if not result_lines:
        raise VerificationError(f"the container build of {job.label} reported no result")
    report: dict[str, object] = json.loads(result_lines[-1][len(RESULT_PREFIX) :])
    return report


def build_container(
    job: Job,
    target: ContainerTarget,
    settings: WheelSettings,
    commit: str,
    house: Path,
    *,
    epoch: int = reproducible.ZIP_EPOCH,
) -> Built:
    """Build and repair in the target's image; for a ``dist-info`` project the host then
    adds ``.dist-info/COMMIT`` (as for a host build) and a second container run
    smoke-imports the stamped wheel, reading the commit from its installed metadata."""
    start = time.monotonic()
    image = target.image
    work = Path(tempfile.mkdtemp(prefix="bs-wheel-"))
    src, out = work / "src", work / "out"
    mounts = {src: "/bs/src", out: "/bs/out", house: "/bs/wheelhouse:ro"}
    args = ["--src", "/bs/src", "--out", "/bs/out", "--wheelhouse", "/bs/wheelhouse"]
    args += ["--plat", job.target.platform]
    if job.project.in_dist_info:
        args.append("--no-smoke")  # the import check runs once COMMIT is in the wheel
    else:
        args += ["--check-code", check_code(job.project.smoke, compiled=job.project.compiled)]
    for req in settings.tool_requirements:
        args += ["--tools", req]
    try:
        copy_stamped(job.project, src, commit)
        out.mkdir()
        report = _driver(job, target, mounts, args, epoch=epoch, timeout=settings.container_timeout)
        wheel = out / str(report["wheel"])
        if job.project.in_dist_info:
            wheelfile.stamp_dist_info(wheel, commit)
        wheelfile.normalize(wheel, reproducible.zip_date_time(epoch))
        if job.project.in_dist_info:
            job.project.check_commit(wheel, commit)  # read back from inside the zip
            package, dist = _dist_info_import(wheel)
            code = check_code(job.project.smoke, compiled=job.project.compiled, dist=dist)
            smoke_args = ["--out", "/bs/out", "--wheelhouse", "/bs/wheelhouse"]
            smoke_args += ["--smoke-only", f"/bs/out/{wheel.name}", "--package", package]
            smoke_args += ["--check-code", code]
            report = _driver(
                job,
                target,
                {out: "/bs/out:ro", house: "/bs/wheelhouse:ro"},
                smoke_args,
                epoch=epoch,
                timeout=settings.container_timeout,
            )
    except BaseException:  # failure, timeout, SIGTERM, Ctrl-C: nothing is left behind
        with procs.signals_deferred():
            shutil.rmtree(work, ignore_errors=True)
        raise
    imported = report["import"]
    if not isinstance(imported, dict):
        raise VerificationError(f"the container build of {job.label} reported no import check")
    log.info(f"{job.label}: import check in {image}: {json.dumps(imported)}")
    raw = sorted((out / "raw").glob("*.whl"))
    return Built(
        job,
        wheel,
        time.monotonic() - start,
        cached=False,
        reported_commit=str(imported["commit"]),
        cleanup=work,
        raw=raw[0] if raw else None,
    )


def verify_built(built: Built, commit: str) -> None:
    """Everything a freshly built wheel must pass before it leaves the stage."""
    job = built.job
    with log.group(f"verify {built.wheel.name}"):
        wheelfile.check_tags(built.wheel, platform=job.target.platform, python=job.python)
        job.project.check_commit(built.wheel, commit)
        if built.reported_commit != commit:
            raise VerificationError(
                f"{built.wheel.name} imports, but reports commit "
                f"{built.reported_commit}; expected {commit}"
            )
        compiled = f" (compiled: {', '.join(job.project.compiled)})" if job.project.compiled else ""
        log.success(f"{built.wheel.name}: tags, commit {commit[:12]} and import{compiled} verified")


# --- the stage ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = StageParser(prog="nox -s wheel --", description="Build, repair, verify and store wheels.")
    p.add_argument(
        "platforms", nargs="*", metavar="PLATFORM", help="wheel platform tags (default: the host's)"
    )
    p.add_argument(
        "--python",
        action="append",
        type=python_version,
        default=[],
        metavar="X.Y",
        help="build only for this Python (repeatable; default: all configured)",
    )
    p.add_argument("--force", action="store_true", help="rebuild even when the cache has it")
    p.add_argument(
        "--check-reproducible",
        action="store_true",
        help="build every wheel twice (in different temporary folders, no cache) and fail"
        " naming the first differing member unless both builds are byte-identical, before"
        " and after repair; nothing is stored",
    )
    p.add_argument(
        "--release", action="store_true", help="release build: refuse a dirty working tree"
    )
    p.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="PLATFORM=IMAGE",
        help="build image for a platform (rootfs:<suite> = a local Debian image)",
    )
    p.add_argument(
        "--container",
        action="store_true",
        help="build in the platform's image even when the host could build natively",
    )
    p.add_argument(
        "--jobs", type=non_negative_int, default=0, help="parallel builds (default: cores)"
    )
    return p


def _release_gate(cfg: Config, ctx: commits.BuildContext, projects: Sequence[Project]) -> None:
    untracked = cmd.output(
        ["git", "ls-files", "--others", "--exclude-standard", "--", *[p.rel for p in projects]],
        cwd=cfg.root,
    )
    if ctx.dirty or untracked:
        detail = cmd.output(["git", "status", "--short"], cwd=cfg.root)
        raise GateError(
            "refusing a release build from a dirty working tree:\n" + detail,
            hint="commit or stash the changes (git status), then rerun with --release",
        )


def _cache_lookup(s: store.Store, job: Job, commit: str, work: Path) -> Built | None:
    start = time.monotonic()
    key = manifests.wheel_cache_key(job.digest)
    record = inputcache.lookup(s, key, manifests.WheelCacheRecord, what=job.label)
    if record is None:
        return None
    wheel = work / record.wheel
    try:
        info = s.get(record.key, wheel)
    except StoreError as exc:
        log.warn(f"cache record for {job.label} points at a missing wheel ({exc}); rebuilding")
        return None
    wheelfile.check_tags(wheel, platform=job.target.platform, python=job.python)
    job.project.check_commit(wheel, commit)
    built = Built(
        job,
        wheel,
        time.monotonic() - start,
        cached=True,
        reported_commit=record.import_commit,
    )
    built.sha256, built.size = info.sha256, info.size
    return built


def _place(built: Built, dist: Path) -> Path:
    return fsutil.copy_atomic(built.wheel, dist / built.wheel.name)


def plan_targets(
    requested: Sequence[str],
    settings: WheelSettings,
    overrides: Mapping[str, str],
    host: platforms.Host,
    *,
    force_container: bool,
) -> list[Target]:
    targets: list[Target] = []
    for plat in dict.fromkeys(requested):
        _os, arch = platforms.parse_platform_tag(plat)
        image = overrides.get(plat) or settings.images.get(plat) or DEFAULT_IMAGES.get(plat)
        mode = build_mode(plat, host, image=image, native=settings.native and not force_container)
        # build_mode says "container" only when there is an image
        target: Target = (
            ContainerTarget(plat, arch, image)
            if mode == "container" and image
            else NativeTarget(plat, arch)
        )
        targets.append(target)
    return targets


@dataclass(frozen=True)
class Plan:
    """Everything decided before any build starts (so bad input fails fast)."""

    ctx: commits.BuildContext
    jobs: tuple[Job, ...]
    #: The wheelhouse each container target installs its build tools from.
    houses: Mapping[tuple[str, str], Path]
    uv: str | None
    #: SOURCE_DATE_EPOCH of every build: the commit's time (reproducible.source_date_epoch).
    epoch: int = reproducible.ZIP_EPOCH


def _interpreters(
    target: Target,
    versions: Sequence[str],
    *,
    explicit: bool,
    cfg: Config,
    settings: WheelSettings,
    host: platforms.Host,
) -> tuple[Target, dict[str, tuple[str, str]]]:
    """The target (its image made local) and ``{X.Y: (full version, interpreter path)}``."""
    if isinstance(target, NativeTarget):
        found = pythons.require(versions, extra=cfg.python_search_paths)
        return target, {v: (i.full_version, str(i.path)) for v, i in found.items()}
    from build_support import rootfs

    provision.ensure_docker()
    if platforms.canonical_arch(host.machine) != target.arch:
        rootfs.ensure_binfmt(target.arch)
    mirror = cfg.section("rootfs", rootfs.RootfsSettings).mirror
    image = resolve_image(target.image, target.arch, settings, debian_mirror=mirror)
    target = ContainerTarget(target.platform, target.arch, image)
    in_image = probe_image(image, target.arch)
    missing = [v for v in versions if v not in in_image]
    have = ", ".join(sorted(in_image)) or "none"
    if missing and explicit:
        raise InterpreterNotFoundError(
            f"the build image {image} for {target.platform} has no Python "
            f"{', '.join(missing)} (it has: {have})",
            hint="use a manylinux image (quay.io/pypa/manylinux2014_*), which has "
            "every CPython, or ask for --python " + (sorted(in_image) or ["X.Y"])[0],
        )
    for v in missing:
        log.warn(f"{target.platform}: image {image} has no Python {v} (has: {have}); skipping it")
    available = {v: in_image[v] for v in versions if v in in_image}
    if not available:
        raise InterpreterNotFoundError(
            f"the build image {image} has none of Python {', '.join(versions)}"
        )
    return target, available


def plan(args: argparse.Namespace, cfg: Config, settings: WheelSettings) -> Plan:
    """Targets, interpreters, images, projects and input digests: every job to run."""
    host = platforms.current_host()
    requested = args.platforms or [platforms.host_wheel_platform(host)]
    targets = plan_targets(
        requested, settings, parse_image_overrides(args.image), host, force_container=args.container
    )
    versions = list(dict.fromkeys(args.python or cfg.python_versions))
    ctx = commits.context(cfg.root)
    projects = load_projects(cfg, settings)
    if args.release:
        _release_gate(cfg, ctx, projects)
    uv = find_uv() if settings.installer != "pip" else None
    if settings.installer == "uv" and uv is None:
        raise UsageError(
            "[tool.build_support.wheel] installer = 'uv' but uv is not installed",
            hint="pip install uv, or set installer = 'auto'",
        )
    jobs: list[Job] = []
    houses: dict[tuple[str, str], Path] = {}
    for planned in targets:
        target, available = _interpreters(
            planned, versions, explicit=bool(args.python), cfg=cfg, settings=settings, host=host
        )
        for v, (full, path) in available.items():
            for project in projects:
                facts = {
                    "python": full,
                    "platform": target.platform,
                    "mode": target.mode,
                    "image": target.image or "",
                    "build_requires": sorted(project.requires),
                    "tools": sorted(settings.tool_requirements),
                    "commit": ctx.sha,
                    "project": project.rel,
                    "smoke": project.smoke,
                    "stamp": [
                        project.stamp.into,
                        list(project.stamp.files),
                        project.stamp.placeholder,
                    ],
                    "compiled_modules": list(project.compiled),
                }
                digest = inputcache.digest(wheelfile.RECIPE_VERSION, project.hashes, facts)
                jobs.append(Job(project, target, v, full, path, digest))
            if isinstance(target, ContainerTarget):
                reqs = [*settings.tool_requirements, *(r for p in projects for r in p.requires)]
                houses[(target.platform, v)] = build_wheelhouse(target.platform, v, reqs)
    epoch = reproducible.source_date_epoch(cfg.root, ctx.sha)
    return Plan(ctx=ctx, jobs=tuple(jobs), houses=houses, uv=uv, epoch=epoch)


def _build_one(job: Job, p: Plan, settings: WheelSettings) -> Built:
    if isinstance(job.target, NativeTarget):
        return build_native(job, settings, p.ctx.sha, p.uv, epoch=p.epoch)
    house = p.houses[(job.target.platform, job.python)]
    return build_container(job, job.target, settings, p.ctx.sha, house, epoch=p.epoch)


def build(
    p: Plan, settings: WheelSettings, s: store.Store, scratch: Path, *, force: bool, workers: int
) -> list[Built]:
    """Reuse what the cache has (unless ``force``), build the rest in parallel, verify each."""
    results: list[Built] = []
    todo: list[Job] = []
    for job in p.jobs:
        (scratch / job.digest[:16]).mkdir(parents=True, exist_ok=True)
        hit = None if force else _cache_lookup(s, job, p.ctx.sha, scratch / job.digest[:16])
        inputcache.note(f"wheel {job.label}", reused=hit is not None)
        if hit is None:
            todo.append(job)
        else:
            log.info(
                f"{job.label}: unchanged inputs (digest {job.digest[:12]}), "
                f"reusing stored {hit.wheel.name}"
            )
            results.append(hit)
    if todo:
        log.step(f"building {len(todo)} wheel(s), {workers} at a time")
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    try:
        futures = [pool.submit(_build_one, job, p, settings) for job in todo]
        for fut in concurrent.futures.as_completed(futures):
            built = fut.result()
            verify_built(built, p.ctx.sha)
            results.append(built)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results


def store_results(
    results: Sequence[Built],
    *,
    ctx: commits.BuildContext,
    cfg: Config,
    settings: WheelSettings,
    s: store.Store,
    scratch: Path,
) -> None:
    """Each wheel to ``dist/`` and the store; a cache record for each new build; ``latest/``."""
    keys = store.keys
    promote = settings.promote_latest and ctx.branch == cfg.default_branch and ctx.pr_number is None
    with log.group("store and dist"):
        for built in results:
            final = _place(built, cfg.path("dist"))
            key = keys.wheel_key(ctx.branch, ctx.sha, final.name)
            info = s.put(key, final)
            built.sha256, built.size, built.store_key = info.sha256, info.size, key
            attest.attest_wheel(s, key, final, cfg=cfg, ctx=ctx, project=built.job.project.path,
                                python=built.job.python, platform=built.job.target.platform,
                                python_full=built.job.full_version, sha256=info.sha256)  # fmt: skip
            if not built.cached:
                inputcache.save(
                    s,
                    manifests.wheel_cache_key(built.job.digest),
                    manifests.WheelCacheRecord(
                        wheel=final.name,
                        key=key,
                        sha256=info.sha256,
                        size=info.size,
                        python=built.job.full_version,
                        platform=built.job.target.platform,
                        commit=ctx.sha,
                        project=built.job.project.rel,
                        import_commit=built.reported_commit,
                        digest=built.job.digest,
                    ),
                )
            if promote:
                for promoted in (key, *attest.sidecar_keys(s, key)):
                    s.promote(
                        promoted,
                        branch=ctx.branch,
                        default_branch=cfg.default_branch,
                        pr_number=ctx.pr_number,
                    )


def report(results: Sequence[Built], *, ctx: commits.BuildContext, cfg: Config) -> None:
    """The closing summary and ``dist/wheels.json``."""
    summary = log.Summary("wheel", headers=("wheel", "size", "sha256", "build time", "source"))
    rows: list[manifests.WheelRow] = []
    for built in sorted(results, key=lambda b: b.wheel.name):
        summary.add(
            **{
                "wheel": built.wheel.name,
                "size": log.human_size(built.size),
                "sha256": built.sha256,
                "build time": f"{built.seconds:.1f}s",
                "source": "cache" if built.cached else built.job.target.mode,
            }
        )
        rows.append(
            manifests.WheelRow(
                wheel=built.wheel.name,
                project=built.job.project.rel,
                python=built.job.python,
                platform=built.job.target.platform,
                size=built.size,
                sha256=built.sha256,
                seconds=round(built.seconds, 2),
                cached=built.cached,
                mode=built.job.target.mode,
                store_key=built.store_key,
                digest=built.job.digest,
            )
        )
    summary.note(f"commit {ctx.sha} on {ctx.branch}; store {cfg.store_url()}")
    summary.emit()
    manifests.write(
        manifests.wheels_path(cfg.path("dist")),
        manifests.WheelsManifest(commit=ctx.sha, branch=ctx.branch, wheels=tuple(rows)),
    )


def check_reproducible(p: Plan, settings: WheelSettings, workers: int) -> int:
    """Build every job twice and compare the builds byte for byte (raw and repaired)."""
    log.step(
        f"--check-reproducible: building {len(p.jobs)} wheel(s) twice, {workers} at a time"
        f" (SOURCE_DATE_EPOCH={p.epoch})"
    )
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    builds: list[Built] = []
    try:
        futures = [pool.submit(_build_one, job, p, settings) for job in p.jobs for _ in "ab"]
        for fut in futures:
            builds.append(fut.result())
        comparisons: list[reproducible.Comparison] = []
        summary = log.Summary("wheel --check-reproducible", headers=("wheel", "sha256", "result"))
        for first, second in zip(builds[::2], builds[1::2], strict=True):
            verify_built(first, p.ctx.sha)
            verify_built(second, p.ctx.sha)
            pairs = [(f"{first.wheel.name} (repaired)", first.wheel, second.wheel)]
            if first.raw is not None and second.raw is not None:
                pairs.insert(0, (f"{first.raw.name} (before repair)", first.raw, second.raw))
            for what, a, b in pairs:
                c = reproducible.compare_zips(what, a, b)
                comparisons.append(c)
                summary.add(
                    wheel=what,
                    sha256=fsutil.sha256_file(a),
                    result="identical" if c.identical else f"differs: {c.difference}",
                )
        summary.emit()
        reproducible.require_identical(comparisons)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for built in builds:
            if built.cleanup is not None:
                shutil.rmtree(built.cleanup, ignore_errors=True)
    log.success(f"{len(comparisons)} wheel(s) byte-identical across two builds")
    return 0


def main(argv: list[str], cfg: Config) -> int:
    """plan → build → store → report."""
    args = _parser().parse_args(argv)
    settings = cfg.section("wheel", WheelSettings)
    p = plan(args, cfg, settings)
    if args.check_reproducible:
        return check_reproducible(p, settings, max(1, args.jobs or settings.jobs or 2))
    s = store.open_store(cfg)
    workers = max(1, args.jobs or settings.jobs or os.cpu_count() or 1)
    scratch = Path(tempfile.mkdtemp(prefix="bs-wheel-cache-"))
    results: list[Built] = []
    try:
        results = build(p, settings, s, scratch, force=args.force, workers=workers)
        store_results(results, ctx=p.ctx, cfg=cfg, settings=settings, s=s, scratch=scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        for built in results:
            if built.cleanup is not None:
                shutil.rmtree(built.cleanup, ignore_errors=True)
    report(results, ctx=p.ctx, cfg=cfg)
    return 0
