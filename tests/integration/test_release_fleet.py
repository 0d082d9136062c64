"""Release tests on the fleet, for real: the bundled product's wheel from a store in
tmp_path, every test step its own process (``ci-plan -- --release-tests --run-local``),
a forced 79 retried by the plan, ``collect``, the publish gate; ``--run-id`` twice;
``history`` over five commits, its HTML in headless Chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from build_support import store
from build_support.releasetests import runs
from build_support.store import keys
from tests.conftest import git
from tests.integration.test_release_runner import (  # noqa: F401 - a session fixture
    FAKE_SHA,
    PY,
    minray_wheel,
)
from tests.unit.test_release_history import FIVE, five_commits

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
RUN = "fleet-1"

TESTS = f"""\
- name: DEFAULTS
  team: core
  frequency: nightly
  python: "{PY}"
  working_dir: w
  run:
    timeout: 120

- name: wheel_commit
  working_dir: {ROOT / "release" / "workloads"}
  run:
    script: python check_commit.py

- name: retried_once
  team: data
  env:
    MARK: "{{mark}}"
  run:
    script: python infra_once.py

- name: plain
  team: data
  run:
    script: python -c "print('ok')"

- name: weekly_only
  frequency: weekly
  run:
    script: python -c "raise SystemExit(1)"
"""

#: Exits 33 (Ray's CLUSTER_WAIT_TIMEOUT, retryable) the first time, 0 after.
INFRA_ONCE = """\
import os, pathlib, sys
mark = pathlib.Path(os.environ["MARK"])
if not mark.exists():
    mark.write_text("tried")
    sys.exit(33)
print("second try passes")
"""


def _project(tmp_path: Path, gate: str = "nightly") -> Path:
    """The bundled config (the publish gate: ``gate`` runs), its own release_tests.yaml."""
    project = tmp_path / "project"
    project.mkdir()
    toml = (ROOT / "pyproject.toml").read_text()
    marker = "require_release_tests = true\n"
    assert marker in toml
    toml = toml.replace(marker, f'{marker}release_tests_gate = "{gate}"\n')
    (project / "pyproject.toml").write_text(toml)
    for name in ("requirements", ".cache", "build_support"):
        (ROOT / name).mkdir(exist_ok=True)
        (project / name).symlink_to(ROOT / name)
    work = project / "release" / "w"
    work.mkdir(parents=True)
    (work / "infra_once.py").write_text(INFRA_ONCE)
    (project / "release" / "release_tests.yaml").write_text(
        TESTS.replace("{mark}", str(tmp_path / "mark"))
    )
    return project


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUILDKITE", "GITHUB"))}
    return {**env, "PYTHONPATH": str(ROOT), "BUILD_SUPPORT_COMMIT": FAKE_SHA,
            "BUILD_SUPPORT_BRANCH": "main", "BUILD_SUPPORT_STORE": str(tmp_path / "store"),
            "BUILD_SUPPORT_RELEASE_RUN": RUN, **extra}  # fmt: skip


def _run(project: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "build_support", *argv],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_run_local_fans_out_retries_a_79_collects_and_the_gate_accepts(
    minray_wheel: Path,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    project = _project(tmp_path)
    env = _env(tmp_path)
    s = store.open_url(env["BUILD_SUPPORT_STORE"])
    s.put(keys.wheel_key("main", FAKE_SHA, minray_wheel.name), minray_wheel)
    before = _run(project, env, "publish", "--execute")
    assert before.returncode == 16
    assert "gate 'release-tests'" in before.stderr

    proc = _run(project, env, "ci-plan", "--release-tests", "--frequency", "nightly",
                "--run-local")  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "step rt-retried_once exited 79: retried, as CI does" in out
    prefix = keys.release_run_prefix(FAKE_SHA, RUN)
    stored = {i.key.removeprefix(prefix) for i in s.list(prefix)}
    for name in ("wheel_commit", "retried_once", "plain"):
        assert f"{name}/attempt-1/result.json" in stored
        assert f"{name}/attempt-1/junit.xml" in stored
        assert f"{name}/attempt-1/stdout.log" in stored
    assert "retried_once/attempt-2/result.json" in stored
    assert "wheel_commit/attempt-2/result.json" not in stored
    assert "wheel_commit/attempt-1/artifacts/commit.json" in stored
    assert not any(k.startswith("weekly_only/") for k in stored)
    assert {"summary.json", "report.xml", "report.html"} <= stored
    s.get(prefix + "summary.json", tmp_path / "summary.json")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["selection"], summary["exit_code"], summary["passed"]) == ("nightly", 0, 3)
    assert summary["file_digest"] == runs.file_digest(project / "release" / "release_tests.yaml")
    by_name = {t["name"]: t for t in summary["tests"]}
    assert [a["exit_code"] for a in by_name["retried_once"]["attempts"]] == [33, 0]
    assert by_name["retried_once"]["flaky"] is True
    shutil.rmtree(project / "results")  # the publish agent has only the store
    after = _run(project, env, "publish", "--execute")
    assert "gate 'release-tests'" not in after.stderr, after.stderr

    # a test's result gone: collect fails naming it, and the gate refuses again
    assert s.delete(keys.release_attempt_key(FAKE_SHA, RUN, "plain", 1, "result.json"))
    collect = _run(project, env, "release-tests", "collect", "--frequency", "nightly")
    assert collect.returncode == 18, collect.stderr
    assert f"no result in the store under {prefix}plain/" in collect.stderr
    assert "1 selected test(s) have no result" in collect.stderr
    again = _run(project, env, "publish", "--execute")
    assert again.returncode == 16
    assert "plain has no result (missing)" in again.stderr


def test_two_runs_with_one_run_id_keep_both_summaries(
    minray_wheel: Path,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    project = _project(tmp_path)
    env = _env(tmp_path)
    common = ["release-tests", "--wheel", str(minray_wheel), "--run-id", "same",
              "--max-retries", "0"]  # fmt: skip
    failing = _run(project, env, *common, "weekly_only")
    assert failing.returncode == 40, failing.stderr
    passing = _run(project, env, *common, "plain")
    assert passing.returncode == 0, passing.stderr
    results = project / "results" / "release-tests"
    first = json.loads((results / "same" / "summary.json").read_text())
    second = json.loads((results / "same-2" / "summary.json").read_text())
    assert (first["run_id"], first["exit_code"]) == ("same", 40)
    assert (second["run_id"], second["exit_code"]) == ("same-2", 0)
    assert "holds an earlier run; this run's results go to" in passing.stderr


def _history_project(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "release").mkdir(parents=True)
    (repo / "pyproject.toml").write_text(
        '[tool.build_support]\npython_versions = ["3.12"]\ndefault_branch = "main"\n'
        'artifact_store = ".artifacts"\n'
    )
    (repo / ".gitignore").write_text(".artifacts/\nresults/\n")
    (repo / "release" / "release_tests.yaml").write_text(
        textwrap.dedent("""\
            - name: steady
              team: core
              frequency: nightly
              working_dir: .
              jailed: false
              run: {timeout: 60, script: "true"}
            """)
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "init")
    return repo


def test_history_over_five_commits_and_its_html_in_chromium(tmp_path: Path) -> None:
    repo = _history_project(tmp_path)
    s = store.open_url(str(repo / ".artifacts"))
    shas = five_commits(repo, s, runs.file_digest(repo / "release" / "release_tests.yaml"))
    env = {k: v for k, v in os.environ.items() if k != "BUILD_SUPPORT_STORE"}
    env["PYTHONPATH"] = str(ROOT)
    proc = _run(repo, env, "release-tests", "history", "--last", "5", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [c["sha"] for c in doc["commits"]] == shas
    states = {t["name"]: t["state"] for t in doc["tests"]}
    assert states == {"steady": "passing", "flaky": "flaky", "broken": "failing"}
    assert sorted(states) == sorted(FIVE)
    text = _run(repo, env, "release-tests", "history", "--last", "5")
    assert text.returncode == 0
    assert "failing (3)" in text.stdout
    assert "P R P F P" in text.stdout
    page = repo / "results" / "release-tests" / "history.html"
    assert page.is_file()
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (build_support/tools.py 'ci' list)")
    flags = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=2000",
    ]  # fmt: skip
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
        check=True,
    ).stdout  # fmt: skip
    assert dom.count('class="test-row"') == 3
    assert 'data-rendered="true"' in dom
    assert 'data-charts="3"' in dom
    shot = tmp_path / "history.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,600", page.as_uri()],
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 5000


def test_the_bundled_products_nightly_fan_out_through_nox() -> None:
    """`nox -s ci-plan -- --release-tests --frequency nightly`: one step per selected test
    of release/release_tests.yaml and collect, valid for both engines; exit codes."""
    from tests.integration.test_ciplan import run, schema_errors

    listed = run([sys.executable, "-m", "build_support", "release-tests", "--list",
                  "--frequency", "nightly"], ROOT)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    names = [line.split("\t")[0] for line in listed.stdout.splitlines() if line.strip()]
    proc = run(["nox", "-s", "ci-plan", "--", "--release-tests", "--frequency", "nightly"], ROOT)
    assert proc.returncode == 0, proc.stderr
    document = yaml.safe_load(proc.stdout)
    assert schema_errors("buildkite.json", document) == []
    steps = [s for g in document["steps"] if "group" in g for s in g["steps"]]
    assert [s["command"].split(" -- ")[1].split()[0] for s in steps] == names
    assert document["steps"][-1]["key"] == "release-tests-collect"
    gh = run([sys.executable, "-m", "build_support", "ci-plan", "--release-tests",
              "--frequency", "nightly", "--format", "github"], ROOT)  # fmt: skip
    assert gh.returncode == 0, gh.stderr
    workflow = yaml.safe_load(gh.stdout)
    assert schema_errors("github-workflows.json", workflow) == []
    cells = [c["test"] for j in workflow["jobs"].values() if "strategy" in j
             for c in j["strategy"]["matrix"]["include"]]  # fmt: skip
    assert cells == names
    usage = run([sys.executable, "-m", "build_support", "ci-plan", "--frequency", "nightly"], ROOT)
    assert usage.returncode == 2
    assert "go with --release-tests" in usage.stderr
    no_run = run([sys.executable, "-m", "build_support", "release-tests", "wheel_commit",
                  "--fleet"], ROOT, BUILDKITE_BUILD_ID="", GITHUB_RUN_ID="",
                 BUILD_SUPPORT_RELEASE_RUN="")  # fmt: skip
    assert no_run.returncode == 10  # not on CI, no run id: Ray's CLI_ERROR
    assert "--fleet without a run id" in no_run.stderr
