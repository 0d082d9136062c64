"""The whole pipeline: cold vs no change vs one source file changed in python/minray.

Baseline: ``nox -l`` (nox starting, reading the noxfile, listing), measured in the
same run. Then three ``nox -s pipeline`` runs against a fresh artifact store:

1. cold: ``-- --force`` (wheels, JARs and images rebuilt, every release test run);
   lockfiles are committed, so their compile is a no-op, and Maven's ``~/.m2``, the
   wheelhouses and the stand-in base image stay warm (the "as far as this machine
   allows");
2. no change: everything reused; the target is at most 10x ``nox -l``;
3. one source file changed in ``python/minray`` (a comment appended, not committed,
   restored afterwards): only the wheels, the minray image layer and the release tests
   that use the wheel may run again; lockfiles, JARs and base-deps are reused.

Each step's time and reuse come from ``dist/pipeline.json`` (manifests.PipelineManifest).

``nox -s bench -- pipeline``
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from build_support import manifests

ROOT = Path(__file__).resolve().parent.parent
CHANGED = ROOT / "python" / "minray" / "core.py"


def _nox(*args: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        ["nox", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise SystemExit(f"nox {' '.join(args)} failed (exit {proc.returncode}):\n{tail}")
    return seconds


def _steps() -> list[dict[str, Any]]:
    record = manifests.read(manifests.pipeline_path(ROOT / "dist"), manifests.PipelineManifest)
    return [
        {
            "step": s.name,
            "seconds": s.seconds,
            "ok": s.exit_code == 0,
            "reused": s.reused,
            "detail": s.detail,
        }
        for s in record.steps
    ]


def _run(name: str, env: dict[str, str], *extra: str) -> dict[str, Any]:
    print(f"--> pipeline {name}", flush=True)
    wall = _nox("-s", "pipeline", "--", *extra, env=env)
    steps = _steps()
    print(f"    {wall:.1f}s: " + ", ".join(f"{s['step']} {s['seconds']}s" for s in steps))
    return {"wall_seconds": round(wall, 2), "steps": steps}


def _by_name(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["step"]: s for s in run["steps"]}


def run(argv: list[str]) -> dict[str, object]:
    del argv
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-store-") as store_dir:
        env = {**os.environ, "BUILD_SUPPORT_STORE": store_dir}
        _nox("-l", env=env)  # warm the file cache once
        nox_l = statistics.median(_nox("-l", env=env) for _ in range(3))
        cold = _run("cold (--force, empty store)", env, "--force")
        unchanged = _run("no change", env)
        original = CHANGED.read_bytes()
        try:
            CHANGED.write_bytes(original + b"\n# bench: one source file changed\n")
            changed = _run(f"one file changed ({CHANGED.relative_to(ROOT)})", env)
        finally:
            CHANGED.write_bytes(original)
        nox_l_after = statistics.median(_nox("-l", env=env) for _ in range(3))
    steps = _by_name(changed)
    must_rebuild = ("wheel", "images", "release-tests")
    must_reuse = [n for n in steps if n.startswith(("lock-", "jars-linux"))]
    images_detail = str(steps.get("images", {}).get("detail", ""))
    return {
        "baseline_nox_l_seconds_median": round(nox_l, 3),
        "baseline_nox_l_seconds_median_after": round(nox_l_after, 3),
        "cold": cold,
        "no_change": unchanged,
        "one_file_changed": changed,
        "no_change_vs_nox_l": round(unchanged["wall_seconds"] / nox_l, 1),
        "no_change_within_10x_nox_l": unchanged["wall_seconds"] <= 10 * nox_l,
        "no_change_all_ok": all(s["ok"] for s in unchanged["steps"]),
        # Steps that made something on a no-change run (jars-multiplatform repacks, 0.3 s).
        "no_change_steps_not_reused": [
            s["step"] for s in unchanged["steps"] if s["detail"] != "-" and not s["reused"]
        ],
        "cold_vs_no_change": round(cold["wall_seconds"] / unchanged["wall_seconds"], 1),
        "one_file_changed_vs_cold": round(changed["wall_seconds"] / cold["wall_seconds"], 3),
        "one_file_changed_rebuilt_only_downstream": all(
            not steps[n]["reused"] for n in must_rebuild if n in steps
        )
        and all(steps[n]["reused"] for n in must_reuse)
        and "base-deps" not in images_detail.partition("made:")[2],
    }
