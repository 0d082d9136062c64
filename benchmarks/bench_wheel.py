"""Wheel stage vs the plain serial sequence, and the cached rerun.

Baseline: for each of the four Pythons and both projects (minray, minray_cpp), one
after the other, ``python -m build --wheel`` (pip-installed isolated env, the default)
then ``auditwheel repair --plat manylinux2014_x86_64``: what a shell loop does, with no
stamping, no verification, no import check and no store.

Measured: the stage with ``--force`` (parallel builds, uv-made isolated envs, plus
stamping, verification, fresh-venv import checks and storing), and the stage rerun with
unchanged inputs (cache hits from the store). All in a scratch git repo holding a copy
of the bundled product, with a scratch store.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from build_support import pythons, toolvenv
from build_support.toolvenv import find_uv
from build_support.wheels.settings import WheelSettings
from tests.conftest import git as _git

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ["3.10", "3.11", "3.12", "3.13"]
PLATFORM = "manylinux2014_x86_64"


def _repo(where: Path, versions: list[str]) -> Path:
    repo = where / "proj"
    repo.mkdir()
    shutil.copytree(
        ROOT / "python",
        repo / "python",
        ignore=shutil.ignore_patterns("build", "dist", "__pycache__", "*.egg-info", "*.so"),
    )
    (repo / "pyproject.toml").write_text(
        "[tool.build_support]\n"
        f"python_versions = {json.dumps(versions)}\n"
        'artifact_store = ".artifacts"\n\n'
        "[tool.build_support.wheel]\n"
        'projects = ["python", "python/cpp"]\n'
    )
    (repo / ".gitignore").write_text("dist/\n.artifacts/\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "bench")
    return repo


def _stage(repo: Path, *args: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUILDKITE", "GITHUB_"))}
    start = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "build_support", "wheel", PLATFORM, *args],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.monotonic() - start


def _baseline(repo: Path, versions: list[str], out: Path) -> float:
    settings = WheelSettings()
    tools = {}
    for v in versions:  # tool venvs are the stage's cached ones: not part of either timing
        interp = pythons.find(v)
        assert interp is not None
        tools[v] = toolvenv.ensure(
            interp.path,
            settings.tool_requirements,
            version=interp.full_version,
            uv=find_uv(),
        )
    start = time.monotonic()
    for v in versions:
        for project in ("python", "python/cpp"):
            raw = out / v / project.replace("/", "_")
            env = {**os.environ, "PATH": f"{tools[v].parent}{os.pathsep}{os.environ['PATH']}"}
            subprocess.run(
                [
                    str(tools[v]),
                    "-m",
                    "build",
                    "--wheel",
                    "--outdir",
                    str(raw),
                    str(repo / project),
                ],
                check=True,
                capture_output=True,
                env=env,
            )
            (wheel,) = raw.glob("*.whl")
            subprocess.run(
                [
                    str(tools[v]),
                    "-m",
                    "auditwheel",
                    "repair",
                    "--plat",
                    PLATFORM,
                    "-w",
                    str(raw / "repaired"),
                    str(wheel),
                ],
                check=True,
                capture_output=True,
                env=env,
            )
    return time.monotonic() - start


def run(argv: list[str]) -> dict[str, object]:
    versions = [v for v in VERSIONS if pythons.find(v) is not None]
    with tempfile.TemporaryDirectory(prefix="bench-wheel-") as tmp:
        repo = _repo(Path(tmp), versions)
        baseline = _baseline(repo, versions, Path(tmp) / "baseline")
        # The baseline builds in the tree: put it back as committed for the stage.
        _git(repo, "clean", "-fdxq")
        stage_cold = _stage(repo, "--force")
        stage_cached = _stage(repo)
        rows = json.loads((repo / "dist" / "wheels.json").read_text())["wheels"]
    return {
        "pythons": versions,
        "wheels": len(rows),
        "cores": os.cpu_count(),
        "baseline_serial_build_repair_s": round(baseline, 1),
        "stage_force_s": round(stage_cold, 1),
        "stage_cached_rerun_s": round(stage_cached, 1),
        "speedup_stage_vs_baseline": round(baseline / stage_cold, 2),
        "speedup_cached_vs_baseline": round(baseline / stage_cached, 1),
        "speedup_cached_vs_stage": round(stage_cold / stage_cached, 1),
        "all_cached_on_rerun": all(r["cached"] for r in rows),
    }
