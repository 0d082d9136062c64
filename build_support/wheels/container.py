"""The same build in a fresh offline container of the target's image (under QEMU for a
foreign arch): :mod:`build_support.wheels.driver` is mounted and run there with the
target interpreter; the host stamps a ``dist-info`` commit and has it import-checked."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from build_support import cmd, log, procs, reproducible, wheelfile
from build_support.containers import engine
from build_support.errors import CommandFailedError, VerificationError
from build_support.wheels import driver
from build_support.wheels.buildimage import offline_run
from build_support.wheels.plan import Built, ContainerTarget, Job
from build_support.wheels.projects import copy_stamped
from build_support.wheels.settings import WheelSettings
from build_support.wheels.verify import (
    check_code,
    dist_info_import,
    is_policy_refusal,
    repair_failed,
)

#: The driver's file, mounted read-only into the build container.
DRIVER = Path(driver.__file__).resolve()


def smoke_failed_in_container(job: Job, image: str, exc: CommandFailedError) -> None:
    """A failed smoke import in the container driver is a VerificationError (exit 13)."""
    if driver.SMOKE_FAILED not in exc.output:
        return
    before = exc.output.split(driver.SMOKE_FAILED)[0].strip().splitlines()
    raise VerificationError(
        f"{job.label} does not import in a fresh venv in {image}:\n" + "\n".join(before[-8:]),
        hint="run the product's tests; a missing compiled module fails here "
        f"(compiled_modules of {job.project.rel}: {', '.join(job.project.compiled) or 'none'})",
    ) from exc


def _driver(
    job: Job,
    target: ContainerTarget,
    mounts: Mapping[Path, str],
    driver_args: Sequence[str],
    *,
    epoch: int,
    timeout: float,
) -> dict[str, object]:
    """Run :mod:`build_support.wheels.driver` in a fresh offline container of the target
    image with ``mounts`` (host path → container path); its ``BS-RESULT`` report."""
    docker = engine.docker_client()
    name = f"bs-wheel-{uuid.uuid4().hex[:12]}"
    argv: list[str | os.PathLike[str]] = [*offline_run(docker, name, target.arch)]
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
            if is_policy_refusal(exc.output):
                repair_failed(job.label, job.target.platform, exc)
            smoke_failed_in_container(job, target.image, exc)
            raise
    result_lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(driver.RESULT_PREFIX)]
    if not result_lines:
        raise VerificationError(f"the container build of {job.label} reported no result")
    report: dict[str, object] = json.loads(result_lines[-1][len(driver.RESULT_PREFIX) :])
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
            package, dist = dist_info_import(wheel)
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
