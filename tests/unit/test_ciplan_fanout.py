"""The release-test fan-out: one step per test, valid for Buildkite and GitHub Actions.

Schemas: the copies check-jsonschema vendors (as in test_ciplan_render.py). The cell
script of the GitHub matrix runs for real under bash with a stand-in ``nox`` on PATH.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from build_support import config
from build_support.ciplan import plan, render
from build_support.ciplan.runlocal import direct_command
from build_support.releasetests import loader
from build_support.releasetests.selection import select
from tests.unit.test_ciplan_render import errors

TEAMS = ("core", "data", "ml", "serve")


def synthetic_yaml(path: Path, count: int, teams: tuple[str, ...] = TEAMS) -> Path:
    """``count`` tests over four teams, cpu and gpu clusters, a few unstable ones."""
    (path.parent / "w").mkdir(parents=True, exist_ok=True)
    defaults = (
        "- name: DEFAULTS\n  group: g\n  frequency: nightly\n  working_dir: w\n"
        "  cluster:\n    byod:\n      type: cpu\n    cluster_compute: c.yaml\n"
        "  run:\n    timeout: 1800\n    script: python x.py\n"
    )
    lines = [defaults]
    for i in range(count):
        team = teams[i % len(teams)]
        extra = ""
        if i % 10 == 0:
            extra += "  cluster:\n    byod:\n      type: gpu\n    cluster_compute: g.yaml\n"
        if i == 7:
            extra += "  stable: false\n"
        if i == 3:
            extra += "  run:\n    timeout: 600\n    prepare: python p.py\n    script: python x.py\n"
        lines.append(f"- name: t{i:03d}.aws\n  team: {team}\n{extra}")
    path.write_text("".join(lines))
    return path


def fanout(
    tmp_path: Path, count: int, teams: tuple[str, ...] = TEAMS, **ciplan: Any
) -> tuple[config.Config, Any, list[plan.Step]]:
    table: dict[str, Any] = {
        "python_versions": ["3.12"],
        "release_tests": {"python": "3.12", "max_retries": 2},
        "ciplan": {
            "release_tests_concurrency": {"gpu": 2},
            "release_tests_default_concurrency": 6,
            "release_tests_max_parallel": 5,
            **ciplan,
        },
    }
    cfg = config.from_table(table, tmp_path)
    settings = plan.load_settings(cfg)
    path = synthetic_yaml(tmp_path / "release" / "release_tests.yaml", count, teams)
    tests = select(loader.load(path).tests, [], "nightly", run_unstable=True)
    return (
        cfg,
        settings,
        plan.release_test_steps(cfg, settings, tests, selection_args=["--frequency", "nightly"]),
    )


def test_400_tests_give_400_steps_and_a_collect_valid_on_buildkite(tmp_path: Path) -> None:
    cfg, settings, steps = fanout(tmp_path, 400)
    text = render.buildkite_release(steps, settings, cfg.default_branch, what="nightly")
    document = yaml.safe_load(text)
    assert errors("buildkite.json", document) == []
    groups = document["steps"][:-1]
    assert [g["group"] for g in groups] == [f"release tests: {t}" for t in TEAMS]
    by_key = {s["key"]: s for g in groups for s in g["steps"]}
    assert len(by_key) == 400
    t000, t001, t003, t007 = (by_key[f"rt-t{i:03d}_aws"] for i in (0, 1, 3, 7))
    assert t001["command"] == "nox -s release-tests -- t001.aws --fleet"
    assert t001["retry"] == {"automatic": [{"exit_status": 79, "limit": 2}]}
    assert (t001["concurrency_group"], t001["concurrency"]) == ("release-tests-cpu", 6)
    assert (t000["concurrency_group"], t000["concurrency"]) == ("release-tests-gpu", 2)
    assert t001["timeout_in_minutes"] == 30 + 15  # the test's 1800 s, plus the margin
    assert t003["timeout_in_minutes"] == 10 + 10 + 15  # prepare (its timeout: the run's) too
    assert t007["soft_fail"] is True  # stable: false, run because it was asked for
    assert "soft_fail" not in t001
    collect = document["steps"][-1]
    assert collect["key"] == plan.COLLECT_KEY
    assert collect["command"] == "nox -s release-tests -- collect --fleet --frequency nightly"
    assert collect["allow_dependency_failure"] is True
    assert collect["depends_on"] == [g["key"] for g in groups]


def test_concurrency_by_group(tmp_path: Path) -> None:
    _cfg, _settings, steps = fanout(
        tmp_path, 4, release_tests_concurrency_by="group", release_tests_concurrency={"g": 1}
    )
    assert {(s.concurrency_group, s.concurrency) for s in steps[:-1]} == {("release-tests-g", 1)}


@pytest.mark.subprocess
def test_github_matrix_per_team_valid_and_retrying_its_own_79(tmp_path: Path) -> None:
    cfg, settings, steps = fanout(tmp_path, 400)
    text = render.github_release_workflow(
        steps, settings, pythons=cfg.python_versions, what="nightly"
    )
    document = yaml.safe_load(text)
    assert errors("github-workflows.json", document) == []
    jobs = document["jobs"]
    assert list(jobs) == [f"release-tests-{t}" for t in TEAMS] + [plan.COLLECT_KEY]
    core = jobs["release-tests-core"]
    assert core["strategy"]["fail-fast"] is False
    assert core["strategy"]["max-parallel"] == 5
    cells = core["strategy"]["matrix"]["include"]
    assert len(cells) == 100
    assert cells[0] == {"test": "t000.aws", "smoke": "false", "retries": 2}
    assert core["timeout-minutes"] == 45 * 3  # the longest test, over all its tries
    collect = jobs[plan.COLLECT_KEY]
    assert (collect["if"], collect["needs"]) == ("always()", list(jobs)[:-1])
    # the cell's script, run by bash: 79, 79, then 0 with retries=2 -> 0 after 3 tries
    script = next(s["run"] for s in core["steps"] if s.get("shell") == "bash")
    for codes, retries, want_code, want_calls in (
        ("79 79 0", 2, 0, 3),
        ("79 79 79", 2, 79, 3),
        ("79 0", 0, 79, 1),
        ("3", 2, 3, 1),
    ):
        code, calls = _run_cell(tmp_path, script, codes.split(), retries)
        assert (code, len(calls)) == (want_code, want_calls), codes
        assert calls[0] == "-s release-tests -- t000.aws --fleet --smoke"


def _run_cell(tmp_path: Path, script: str, codes: list[str], retries: int) -> tuple[int, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log_file, queue = tmp_path / "calls.log", tmp_path / "codes"
    log_file.write_text("")
    queue.write_text("\n".join(codes) + "\n")
    fake = bin_dir / "nox"
    fake.write_text(
        textwrap.dedent(f"""\
            #!/bin/bash
            echo "$*" >> {log_file}
            code=$(head -n1 {queue}); sed -i 1d {queue}; exit "$code"
            """)
    )
    fake.chmod(0o755)
    body = (
        script.replace("${{ matrix.test }}", "t000.aws")
        .replace("${{ matrix.smoke }}", "true")
        .replace("${{ matrix.retries }}", str(retries))
    )
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    path = tmp_path / "cell.sh"
    path.write_text(body)
    # as GitHub runs a `shell: bash` step
    argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    return proc.returncode, log_file.read_text().splitlines()


def test_a_team_over_githubs_matrix_limit_gets_a_second_job(tmp_path: Path) -> None:
    cfg, settings, steps = fanout(tmp_path, render.MATRIX_LIMIT + 3, ("core",))
    document = yaml.safe_load(
        render.github_release_workflow(steps, settings, pythons=cfg.python_versions, what="x")
    )
    cells = {j: len(v["strategy"]["matrix"]["include"]) for j, v in document["jobs"].items()
             if "strategy" in v}  # fmt: skip
    assert cells["release-tests-core"] == render.MATRIX_LIMIT
    assert cells["release-tests-core-2"] == 3
    assert errors("github-workflows.json", document) == []


def test_step_keys_are_unique_and_direct_commands_skip_nox() -> None:
    taken: set[str] = set()
    assert [plan.step_key(n, taken) for n in ("a.b", "a_b", "a b")] == [
        "rt-a_b", "rt-a_b-2", "rt-a_b-3"]  # fmt: skip
    argv = direct_command(["nox", "-s", "release-tests", "--", "x", "--fleet"])
    assert argv[1:] == ["-m", "build_support", "release-tests", "x", "--fleet"]
