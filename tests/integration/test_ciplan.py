"""ci-plan end to end: the nox session's stdout, actionlint, and --run-local replays."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTIONLINT = "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"


def schema_errors(name: str, document: Any) -> list[str]:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / name).read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [e.message for e in validator.iter_errors(document)]


def run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for var in ("BUILD_SUPPORT_STORE", "BUILDKITE", "BUILDKITE_PULL_REQUEST", "GITHUB_BASE_REF"):
        full_env.pop(var, None)
    full_env.update(env)
    return subprocess.run(
        argv, cwd=cwd, env=full_env, capture_output=True, text=True, check=False, timeout=600
    )


# -- the outermost command --------------------------------------------------------------


def test_nox_session_prints_only_the_pipeline_on_stdout() -> None:
    """`nox -s ci-plan | buildkite-agent pipeline upload` reads stdout: YAML and nothing else."""
    proc = run(["nox", "-s", "ci-plan", "--", "--changed", "java/pom.xml"], ROOT)
    assert proc.returncode == 0, proc.stderr
    document = yaml.safe_load(proc.stdout)
    assert schema_errors("buildkite.json", document) == []
    assert [s["key"] for s in document["steps"]] == ["jars-linux", "jars-multiplatform"]
    assert "ci-plan: 2 of" in proc.stderr


def test_nox_session_exits_with_the_stages_code(tmp_path: Path) -> None:
    """CI sees ci-plan's own exit codes through nox: 8 for a failed check, 2 for usage."""
    rules_file = tmp_path / "bad.rules.txt"
    rules_file.write_text("! python doc\nsrc/\n@ python\n;\n*\n@ doc\n;\n")
    (tmp_path / "bad.rules.test.txt").write_text("src/x.py: doc\n")
    proc = run(["nox", "-s", "ci-plan", "--", "--check", "--rules", str(rules_file)], ROOT)
    assert proc.returncode == 8, proc.stdout + proc.stderr
    assert "bad.rules.test.txt:1: src/x.py gave [python]" in proc.stderr
    usage = run(["nox", "-s", "ci-plan", "--", "--bogus"], ROOT)
    assert usage.returncode == 2, usage.stderr


def test_cli_exit_codes(tmp_path: Path) -> None:
    stale = run([sys.executable, "-m", "build_support", "ci-plan", "--bogus"], ROOT)
    assert stale.returncode == 2
    assert "unrecognized arguments: --bogus" in stale.stderr
    (tmp_path / "pyproject.toml").write_text(
        '[tool.build_support]\npython_versions = ["3.12"]\n'
        "[tool.build_support.ciplan]\nbuiltin_steps = []\n"
    )
    proc = run([sys.executable, "-m", "build_support", "ci-plan", "--check"], tmp_path)
    assert proc.returncode == 8, proc.stderr
    assert "+++ .github/workflows/ci.yml (generated)" in proc.stdout
    assert "is missing" in proc.stderr


# -- actionlint -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def actionlint() -> str:
    found = shutil.which("actionlint")
    if found:
        return found
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    gobin = cache / "build-support" / "actionlint-v1.7.12"
    binary = gobin / "actionlint"
    if binary.is_file():
        return str(binary)
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").is_file() else None
    )
    if go is None:
        pytest.skip("go is not installed: actionlint is built with `go install " + ACTIONLINT + "`")
    subprocess.run(
        [go, "install", ACTIONLINT],
        env={**os.environ, "GOBIN": str(gobin)},
        check=True,
        timeout=600,
    )
    return str(binary)


def test_actionlint_accepts_the_generated_workflows(actionlint: str) -> None:
    for path in (ROOT / ".github/workflows/ci.yml", ROOT / "tests/unit/golden/ciplan-workflow.yml"):
        proc = subprocess.run(
            [actionlint, "-no-color", str(path)], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_rejects_a_broken_workflow(actionlint: str, tmp_path: Path) -> None:
    text = (ROOT / ".github/workflows/ci.yml").read_text()
    broken = tmp_path / "ci.yml"
    broken.write_text(text.replace("needs.plan.outputs.jars", "needs.plan.outputs.jarz", 1))
    proc = subprocess.run(
        [actionlint, "-no-color", str(broken)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1
    assert "jarz" in proc.stdout


# -- --run-local ------------------------------------------------------------------------

PROJECT = """\
[tool.build_support]
python_versions = ["3.12"]
artifact_store = ".artifacts"

[tool.build_support.ciplan]
builtin_steps = []

[tool.build_support.ciplan.tags]
app = ["consume", "produce", "elsewhere"]
doc = []

# listed before its producer: --run-local must follow depends_on, not file order
[tool.build_support.ciplan.steps.consume]
command = ["python", "-m", "build_support", "store", "get", "handoff/data.txt", "got.txt"]
depends_on = ["produce"]

[tool.build_support.ciplan.steps.produce]
command = ["python", "-m", "build_support", "store", "put", "app/data.txt", "handoff/data.txt"]

[tool.build_support.ciplan.steps.elsewhere]
command = ["python", "-c", "raise SystemExit(3)"]
platform = "{other}"
"""

RULES = "! app doc\napp/\n@ app\n;\ndocs/\n@ doc\n;\n"


def project(tmp_path: Path, extra: str = "") -> Path:
    from build_support import platforms

    host = platforms.host_wheel_platform()
    other = "macosx_12_0_arm64" if host != "macosx_12_0_arm64" else "manylinux2014_x86_64"
    root = tmp_path / "proj"
    (root / "ci").mkdir(parents=True)
    (root / "app").mkdir()
    (root / "pyproject.toml").write_text(PROJECT.format(other=other) + textwrap.dedent(extra))
    (root / "ci/app.rules.txt").write_text(RULES)
    (root / "app/data.txt").write_text("made by produce\n")
    return root


def test_run_local_replays_in_dependency_order_through_the_store(tmp_path: Path) -> None:
    root = project(tmp_path)
    argv = [sys.executable, "-m", "build_support", "ci-plan", "--run-local", "--changed"]
    proc = run([*argv, "app/x"], root)
    assert proc.returncode == 0, proc.stderr
    log = proc.stderr
    assert log.index("step produce:") < log.index("step consume:")
    assert "elsewhere  skipped: runs on" in log
    # the consumer got the producer's file from the store, checked against its SHA-256
    assert (root / "got.txt").read_text() == "made by produce\n"
    assert (root / ".artifacts/handoff/data.txt").is_file()
    # a docs-only change runs nothing
    nothing = run([*argv, "docs/a.md"], root)
    assert nothing.returncode == 0
    assert "0 of 3 steps selected" in nothing.stderr


def test_run_local_stops_with_the_failing_steps_exit_code(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        """
        [tool.build_support.ciplan.steps.flaky]
        command = ["python", "-c", "raise SystemExit(79)"]
        [tool.build_support.ciplan.steps.after]
        command = ["python", "-c", "open('after-ran', 'w')"]
        depends_on = ["flaky"]
        """,
    )
    text = (root / "pyproject.toml").read_text()
    text = text.replace('app = ["consume", "produce", "elsewhere"]', 'app = ["flaky", "after"]')
    (root / "pyproject.toml").write_text(text)
    proc = run(
        [sys.executable, "-m", "build_support", "ci-plan", "--run-local", "--changed", "app/x"],
        root,
    )
    assert proc.returncode == 79, proc.stderr
    assert "flaky  failed (exit 79)" in proc.stderr
    assert not (root / "after-ran").exists()


def test_run_local_replays_this_repositorys_java_plan(tmp_path: Path) -> None:
    """The real commands: `nox -s jars -- linux`, then `multiplatform` waiting in the store."""
    store = tmp_path / "store"
    proc = run(
        [
            sys.executable,
            "-m",
            "build_support",
            "ci-plan",
            "--run-local",
            "--changed",
            "java/pom.xml",
        ],
        ROOT,
        BUILD_SUPPORT_STORE=str(store),
        BUILD_SUPPORT_BRANCH="ci-plan-test",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "step jars-linux: nox -s jars -- linux" in log
    assert log.index("step jars-linux:") < log.index("step jars-multiplatform:")
    jars = sorted(p.relative_to(store).as_posix() for p in store.rglob("*.jar"))
    assert any(j.startswith("jars/ci-plan-test/") and "/linux/" in j for j in jars), jars
    assert any("/multiplatform/minray-runtime-" in j for j in jars), jars
