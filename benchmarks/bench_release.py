"""Release-test runner overhead: the same script run directly and through the runner.

Measured in one run, on minray's wheel for the harness's Python (built once and cached
under .cache/release-tests/test-wheels, as the integration tests do):

- ``direct``: ``<venv>/bin/python script.py`` with ``subprocess.run``, the baseline;
- ``runner``: :meth:`Runner.run_test` on the same script: venv reused (commit check of
  the installed package), new process group, classification, result.json per attempt;
- ``venv_cold`` / ``venv_warm``: preparing the venv the first time (create + install
  with constraints) and when it is reused;
- ``load``: parsing and validating release_tests.yaml (minray's, and the Ray fixture).

Options: ``--repeat N`` (default 10).
"""

from __future__ import annotations

import hashlib
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers import build_stamped_wheels

ROOT = Path(__file__).resolve().parent.parent
FAKE_SHA = "c0ffee" + "1" * 34
PLATFORM = "manylinux2014_x86_64"
TAG = f"cp{sys.version_info[0]}{sys.version_info[1]}"
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _wheel(work: Path) -> Path:
    digest = hashlib.sha256(FAKE_SHA.encode() + TAG.encode())
    src = ROOT / "python"
    for path in sorted([*src.glob("minray/*"), src / "pyproject.toml", src / "setup.py"]):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    cache = ROOT / ".cache" / "release-tests" / "test-wheels" / digest.hexdigest()[:16]
    found = sorted(cache.glob(f"minray-*-{TAG}-{TAG}-{PLATFORM}.whl"))
    if found:
        return found[0]
    (tagged,) = build_stamped_wheels([src], work, commit=FAKE_SHA, python=PY, platform_tag=PLATFORM)
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copy2(tagged, cache / tagged.name)
    return cache / tagged.name


def run(argv: list[str]) -> dict[str, Any]:
    from build_support.releasetests import loader
    from build_support.releasetests.environments import VenvProvider
    from build_support.releasetests.retry import RetryPolicy
    from build_support.releasetests.runner import Runner, RunnerOptions
    from build_support.releasetests.sources import LocalWheels

    repeat = 10
    if "--repeat" in argv:
        repeat = int(argv[argv.index("--repeat") + 1])
    work = Path(tempfile.mkdtemp(prefix="bench-release-"))
    try:
        wheel = _wheel(work)

        def provider(cache: Path) -> VenvProvider:
            return VenvProvider(
                wheels=LocalWheels([wheel], dist="minray", platform=PLATFORM),
                cache_dir=cache,
                requirements_dir=ROOT / "requirements",
                expected_commit=FAKE_SHA,
                package="minray",
            )

        venvs = provider(work / "venvs")
        venv_cold = _timed(lambda: venvs.prepare(PY))
        venv_warm = statistics.median(
            _timed(lambda: provider(work / "venvs").prepare(PY)) for _ in range(3)
        )
        env = venvs.prepare(PY)

        (work / "w").mkdir()
        script = "import minray, sys\nsys.exit(0 if minray.checksum32(b'x') else 1)\n"
        (work / "w" / "s.py").write_text(script)
        (work / "rt.yaml").write_text(
            "- name: s\n  team: core\n  frequency: nightly\n  working_dir: w\n"
            f'  python: "{PY}"\n  run:\n    timeout: 60\n    script: python s.py\n'
        )
        (test,) = loader.load(work / "rt.yaml").tests

        direct = [
            _timed(lambda: subprocess.run([str(env.python), "s.py"], cwd=work / "w", check=True))
            for _ in range(repeat)
        ]
        runner = Runner(
            venvs,
            RunnerOptions(results_dir=work / "results", default_python=PY, policy=RetryPolicy()),
            rng=random.Random(0),
        )
        through = []
        for i in range(repeat):
            through.append(_timed(lambda i=i: runner.run_test(test, work / "results" / str(i))))
        assert all(r.exit_code == 0 for r in runner.results)

        load_minray = statistics.median(
            _timed(lambda: loader.load(ROOT / "release" / "release_tests.yaml")) for _ in range(5)
        )
        ray_fixture = ROOT / "tests" / "unit" / "test_release_data" / "ray_release_tests.yaml"
        load_ray = statistics.median(_timed(lambda: loader.load(ray_fixture)) for _ in range(5))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    d, r = statistics.median(direct), statistics.median(through)
    return {
        "repeat": repeat,
        "direct_seconds_median": round(d, 4),
        "runner_seconds_median": round(r, 4),
        "runner_overhead_seconds": round(r - d, 4),
        "runner_vs_direct_ratio": round(r / d, 2),
        "venv_cold_seconds": round(venv_cold, 2),
        "venv_warm_seconds": round(venv_warm, 4),
        "venv_cold_vs_warm_ratio": round(venv_cold / venv_warm, 1),
        "load_minray_yaml_seconds": round(load_minray, 4),
        "load_ray_fixture_seconds": round(load_ray, 4),
    }
