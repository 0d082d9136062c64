"""A wheel built on this host: ``python -m build`` under the target interpreter's tool
venv, ``auditwheel repair`` (``delocate-wheel`` on macOS), stamp, normalize, and the
import check in a fresh venv."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from build_support import cmd, indexes, log, pythons, reproducible, toolvenv, wheelfile
from build_support.errors import CommandFailedError, VerificationError
from build_support.wheels.plan import Built, Job
from build_support.wheels.projects import copy_stamped
from build_support.wheels.settings import WheelSettings
from build_support.wheels.verify import check_code, dist_info_import, repair_failed


def _smoke_host(job: Job, wheel: Path, work: Path, uv: str | None, tools: Path) -> str:
    """Install ``wheel`` into a fresh venv of the job's interpreter (with uv, or the pinned
    pip of the tool venv ``tools``) and run the import check there; the commit it reports."""
    venv = work / "smoke"
    python = venv / "bin" / "python"
    if uv:
        cmd.run([uv, "venv", "-q", "--python", job.interpreter, venv], capture=True)
        cmd.run([uv, "pip", "install", "-q", "--python", python, "--no-deps", wheel], capture=True)
    else:
        cmd.run([job.interpreter, "-m", "venv", "--without-pip", venv], capture=True)
        argv: list[str | os.PathLike[str]] = [tools, "-m", "pip", "--python", python]
        argv += ["install", "-q", "--no-deps", wheel]
        cmd.run(argv, capture=True)
    project = job.project
    if project.in_dist_info:
        package, dist = dist_info_import(wheel)
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
            repair_failed(raw.name, job.target.platform, exc)
        (wheel,) = sorted(out.glob("*.whl"))
        if job.project.in_dist_info:
            wheelfile.stamp_dist_info(wheel, commit)
        wheelfile.normalize(wheel, reproducible.zip_date_time(epoch))
        wheelfile.check_tags(wheel, platform=job.target.platform, python=job.python)
        job.project.check_commit(wheel, commit)
        reported = _smoke_host(job, wheel, work, uv, tools)
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
