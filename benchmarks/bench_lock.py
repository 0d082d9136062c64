"""The lock stage: pip-tools vs uv, cold and with nothing changed, for every Python.

Each lockfile is compiled from the real ``requirements/`` against the configured index
into a temporary output folder, with fresh resolver caches ("cold": no lockfile to
seed from, no pip-tools/pip/uv cache), then once more with nothing changed (the
input-digest skip). The pinned pip-tools tool venvs are made before timing starts.
Also measured: the whole ``python -m build_support lock`` process on the committed
lockfile (the path a second ``nox -s lock-3.12`` takes) against bare interpreter
start-up. ``--no-pip-tools-cold`` leaves out the slow part.

The CI staleness gate: ``python -m build_support lock --python 3.12 --check`` on the
committed (pip-tools) lockfile, once with ``--backend pip-tools`` (the baseline) and
once with ``--backend uv``, one after the other; both verdicts are recorded (exit code)
and must agree. ``--check-only`` measures only this.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from build_support import config, lockfile
from build_support.locks import backends as lock_backends
from build_support.locks import stage as lock_stage
from build_support.locks.job import LockJob, LockResult
from build_support.locks.settings import Backend, LockSettings


def _job(cfg: config.Config, python: str, backend: Backend, out: Path) -> LockJob:
    settings = cfg.section("lock", LockSettings)
    return LockJob(
        python=python,
        inputs_dir=cfg.path("requirements"),
        output=out / settings.output_name.format(python=python),
        inputs=settings.inputs,
        constraints=settings.constraints or None,
        backend=backend,
        index_url=settings.index_url,
        retries=settings.retries,
        cache_dir=out / "cache",
        extra_env={"PIP_CACHE_DIR": str(out / "pip-cache"), "UV_CACHE_DIR": str(out / "cache")},
        allowed_pythons=cfg.python_versions,
    )


def _timed(job: LockJob) -> tuple[float, LockResult]:
    start = time.perf_counter()
    result = lock_stage.lock(job)
    return time.perf_counter() - start, result


def _process_seconds(argv: list[str], cwd: Path, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def _check_gate(cfg: config.Config, python: str) -> dict[str, object]:
    """``lock --check`` with each backend on the committed lockfile: seconds and verdict."""
    row: dict[str, object] = {"python": python}
    seconds: dict[str, float] = {}
    for backend in ("pip-tools", "uv"):
        argv = [sys.executable, "-m", "build_support", "lock", "--python", python, "--check"]
        start = time.perf_counter()
        proc = subprocess.run(
            [*argv, "--backend", backend], cwd=cfg.root, capture_output=True, check=False
        )
        seconds[backend] = time.perf_counter() - start
        row[f"{backend}_check_s"] = round(seconds[backend], 2)
        row[f"{backend}_exit"] = proc.returncode
    row["same_verdict"] = row["pip-tools_exit"] == row["uv_exit"]
    row["uv_speedup"] = round(seconds["pip-tools"] / seconds["uv"], 1)
    return row


def run(argv: list[str]) -> dict[str, object]:
    cfg = config.load()
    gate_python = "3.12" if "3.12" in cfg.python_versions else cfg.python_versions[0]
    if "--check-only" in argv:
        return {"check_gate": _check_gate(cfg, gate_python)}
    backends: tuple[Backend, ...] = ("uv", "pip-tools")
    cold_pip_tools = "--no-pip-tools-cold" not in argv
    results: dict[str, object] = {}
    for python in cfg.python_versions:
        lock_backends.pip_tools_command(python, None)  # tool venv made outside the timing
        row: dict[str, object] = {}
        pins: dict[str, dict[str, tuple[str, frozenset[str]]]] = {}
        timings: dict[str, float] = {}
        for backend in backends:
            if backend == "pip-tools" and not cold_pip_tools:
                continue
            with tempfile.TemporaryDirectory(prefix=f"bench-lock-{backend}-") as tmp:
                job = _job(cfg, python, backend, Path(tmp))
                cold, result = _timed(job)
                unchanged, again = _timed(job)
                assert again.status == "skipped", again
                pins[backend] = lockfile.pins(job.output.read_text())
                timings[backend] = cold
                row[f"{backend}_cold_s"] = round(cold, 2)
                row[f"{backend}_unchanged_s"] = round(unchanged, 4)
                row[f"{backend}_pins"] = result.pins
        if len(pins) == 2:
            row["same_pins_and_hashes"] = pins["uv"] == pins["pip-tools"]
            row["same_versions"] = {k: v for k, (v, _h) in pins["uv"].items()} == {
                k: v for k, (v, _h) in pins["pip-tools"].items()
            }
            row["uv_speedup_cold"] = round(timings["pip-tools"] / timings["uv"], 1)
        results[f"py{python}"] = row
    python = "3.12" if "3.12" in cfg.python_versions else cfg.python_versions[0]
    stage = _process_seconds(
        [sys.executable, "-m", "build_support", "lock", "--python", python], cfg.root
    )
    bare = _process_seconds([sys.executable, "-c", "import build_support.cli"], cfg.root)
    results["unchanged_process"] = {
        "python": python,
        "lock_stage_process_s": round(stage, 3),
        "baseline_import_cli_process_s": round(bare, 3),
        "stage_work_beyond_startup_s": round(stage - bare, 3),
    }
    results["check_gate"] = _check_gate(cfg, gate_python)
    return results
