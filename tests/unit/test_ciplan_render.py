"""The renderings: goldens, and validation against Buildkite's and GitHub's own schemas.

The schemas are the ones the ``check-jsonschema`` package vendors (offline). Set
``UPDATE_GOLDEN=1`` to rewrite the golden files after an intended change.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from build_support import config
from build_support.ciplan import plan, render, rules

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"

TABLE: dict[str, Any] = {
    "python_versions": ["3.11", "3.12"],
    "default_branch": "trunk",
    "images": {"python_versions": ["3.11"]},
    "release_tests": {"python": "3.12"},
    "jars": {"platforms": ["linux-x86_64", "linux-aarch64", "darwin-aarch64"]},
    "ciplan": {
        "tags": {"py": ["lock", "wheel", "images", "release_tests"], "java": ["jars"], "doc": []},
        "soft_fail": ["images"],
        "env": {"BUILD_SUPPORT_STORE": "s3://example-bucket/ci"},
        "github_env": {"BUILD_SUPPORT_STORE": "${{ vars.BUILD_SUPPORT_STORE }}"},
        "publish_concurrency_group": "golden-publish",
    },
}
RULES = "! py java doc\npy/\n@ py\n;\njava/\n@ java\n;\ndocs/\n@ doc\n;\n*\n@ py java\n;\n"


def fixture(tmp_path: Path) -> tuple[config.Config, plan.CiPlanSettings, list[plan.Step]]:
    cfg = config.from_table(TABLE, tmp_path)
    settings = plan.load_settings(cfg)
    return cfg, settings, plan.build_steps(cfg, settings)


def selection_for(
    steps: list[plan.Step], settings: plan.CiPlanSettings, *files: str
) -> plan.Selection:
    rf = rules.parse(RULES, Path("ci/build.rules.txt"))
    return plan.select(steps, [rf], plan.Changes(files, "--changed"), settings)


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs; UPDATE_GOLDEN=1 rewrites it"


def schema(name: str) -> dict[str, Any]:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    data: dict[str, Any] = json.loads((vendor / name).read_text(encoding="utf-8"))
    return data


def errors(schema_name: str, document: Any) -> list[str]:
    s = schema(schema_name)
    validator = jsonschema.validators.validator_for(s)(s)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_buildkite_golden_and_schema(tmp_path: Path) -> None:
    cfg, settings, steps = fixture(tmp_path)
    selection = selection_for(steps, settings, "LICENSE")  # the catch-all: every build step
    text = render.buildkite(steps, selection, settings, cfg.default_branch)
    golden("ciplan-buildkite.yml", text)
    document = yaml.safe_load(text)
    assert errors("buildkite.json", document) == []
    keys = [s["key"] for s in document["steps"]]
    assert len(keys) == len(set(keys)) <= 500
    by_key = {s["key"]: s for s in document["steps"]}
    assert by_key["release-tests"]["retry"] == {"automatic": [{"exit_status": 79, "limit": 1}]}
    assert by_key["wheel-py312-darwin-aarch64"]["agents"] == {"queue": "builder-macos-arm64"}
    assert by_key["jars-darwin"]["agents"] == {"queue": "builder-macos-arm64"}
    assert by_key["images-linux-aarch64"]["agents"] == {"queue": "builder-arm64"}
    assert by_key["images-linux-aarch64"]["soft_fail"] is True
    assert by_key["release-tests"]["artifact_paths"] == ["results/release-tests/**/*"]
    assert "publish" not in by_key  # the catch-all's tags do not select publish


def test_buildkite_everything_has_guarded_publish(tmp_path: Path) -> None:
    cfg, settings, steps = fixture(tmp_path)
    selection = plan.select(
        steps, [], plan.Changes((), "branch trunk", select_all="not a pull request"), settings
    )
    document = yaml.safe_load(render.buildkite(steps, selection, settings, cfg.default_branch))
    assert errors("buildkite.json", document) == []
    publish = document["steps"][-1]
    assert publish["key"] == "publish"
    assert publish["if"] == 'build.branch == "trunk" && build.pull_request.id == null'
    assert (publish["concurrency_group"], publish["concurrency"]) == ("golden-publish", 1)
    assert len(publish["depends_on"]) == len(steps) - 1


def test_buildkite_empty_selection_is_still_a_valid_upload(tmp_path: Path) -> None:
    cfg, settings, steps = fixture(tmp_path)
    selection = selection_for(steps, settings, "docs/a.md")
    document = yaml.safe_load(render.buildkite(steps, selection, settings, cfg.default_branch))
    assert errors("buildkite.json", document) == []
    assert [s.get("skip") for s in document["steps"]] != [None]


def test_github_workflow_golden_and_schema(tmp_path: Path) -> None:
    cfg, settings, steps = fixture(tmp_path)
    text = render.github_workflow(
        steps, settings, default_branch=cfg.default_branch, pythons=cfg.python_versions
    )
    golden("ciplan-workflow.yml", text)
    document = yaml.safe_load(text)
    assert errors("github-workflows.json", document) == []
    jobs = document["jobs"]
    assert next(iter(jobs)) == "plan"
    gate = jobs["gate"]
    assert gate["if"] == "always()"
    assert set(gate["needs"]) == set(jobs) - {"gate"}
    assert "failure" in gate["steps"][0]["if"]
    for name, job in jobs.items():
        if name not in ("plan", "gate"):
            assert "plan" in job["needs"]
            assert job["if"].startswith(f"needs.plan.outputs.{steps_group(steps, name)} == 'true'")
    assert "refs/heads/trunk" in jobs["publish"]["if"]
    assert jobs["publish"]["concurrency"] == {
        "group": "golden-publish",
        "cancel-in-progress": False,
    }
    matrix = jobs["wheel"]["strategy"]["matrix"]
    assert matrix["python"] == ["3.11", "3.12"]
    assert {i["platform"]: i["runs-on"] for i in matrix["include"]} == dict(plan.DEFAULT_RUNS_ON)
    assert jobs["images"]["continue-on-error"] is True
    assert document[True if True in document else "on"]["push"]["branches"] == ["trunk"]


def steps_group(steps: list[plan.Step], job: str) -> str:
    job = re.sub(r"-retry-\d+$", "", job)
    return next(s.group for s in steps if s.job == job)


def test_github_outputs_per_group(tmp_path: Path) -> None:
    _cfg, settings, steps = fixture(tmp_path)
    text = render.github_outputs(steps, selection_for(steps, settings, "java/x.java"))
    assert text.splitlines() == [
        "lock=false",
        "wheel=false",
        "jars=true",
        "images=false",
        "release_tests=false",
        "publish=false",
    ]


def test_json_has_every_step_and_why(tmp_path: Path) -> None:
    cfg, settings, steps = fixture(tmp_path)
    selection = selection_for(steps, settings, "py/a.py", "docs/b.md")
    data = json.loads(render.as_json(steps, selection, settings, cfg.default_branch))
    assert data["changes"] == {"source": "--changed", "files": ["py/a.py", "docs/b.md"]}
    assert data["tags"] == {"py": ["py/a.py"], "doc": ["docs/b.md"]}
    assert data["files"][0]["rules"] == ["ci/build.rules.txt:2 `py/`"]
    assert [s["key"] for s in data["steps"]] == [s.key for s in steps]
    by_key = {s["key"]: s for s in data["steps"]}
    assert by_key["jars-linux"]["selected"] is False
    assert by_key["release-tests"]["retry"] == {"exit_status": 79, "limit": 1}
    assert by_key["publish"]["condition"].startswith('build.branch == "trunk"')


def test_repository_workflow_and_bootstrap_validate() -> None:
    workflow = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    assert errors("github-workflows.json", workflow) == []
    bootstrap = yaml.safe_load((ROOT / ".buildkite/pipeline.yml").read_text())
    assert errors("buildkite.json", bootstrap) == []
    assert (
        "nox -s ci-plan | buildkite-agent pipeline upload" in bootstrap["steps"][0]["commands"][-1]
    )


def test_schemas_reject_what_the_engines_reject() -> None:
    """The validation can fail: a bad key and a bad runs-on are caught."""
    assert errors("buildkite.json", {"steps": [{"key": "a b", "command": "true"}]})
    assert errors("github-workflows.json", {"on": "push", "jobs": {"x": {"steps": []}}})


@pytest.mark.parametrize("stale", ["", "# edited\n"])
def test_check_fails_with_a_diff_when_the_workflow_is_stale(
    tmp_path: Path, stale: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from build_support.ciplan import cli
    from build_support.errors import StaleError

    cfg, settings, _steps = fixture(tmp_path)
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci/build.rules.txt").write_text(RULES)
    (tmp_path / "ci/build.rules.test.txt").write_text("py/x.py: py\ndocs/a: doc\n")
    assert cli.main(["--write-workflow"], cfg) == 0
    assert cli.main(["--check"], cfg) == 0
    path = tmp_path / settings.workflow
    path.write_text(stale + path.read_text() if stale else "")
    with pytest.raises(StaleError, match=r"is (stale|missing)") as exc:
        cli.main(["--check"], cfg)
    assert exc.value.exit_code == 8
    assert "+++ .github/workflows/ci.yml (generated)" in capsys.readouterr().out


def test_check_fails_on_a_wrong_golden_case(tmp_path: Path) -> None:
    from build_support.ciplan import cli
    from build_support.errors import StaleError

    cfg, _settings, _steps = fixture(tmp_path)
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci/build.rules.txt").write_text(RULES + "docs/\n;\n")
    (tmp_path / "ci/build.rules.test.txt").write_text("py/x.py: java\n")
    assert cli.main(["--write-workflow"], cfg) == 0
    with pytest.raises(StaleError) as exc:
        cli.main(["--check"], cfg)
    text = str(exc.value)
    assert "ci/build.rules.test.txt:1: py/x.py gave [py]" in text
    assert "ci/build.rules.txt:14 `docs/` can never match" in text


def test_matrix_that_is_not_a_full_product_lists_its_cells() -> None:
    settings = plan.CiPlanSettings()

    def step(python: str, platform: str) -> plan.Step:
        return plan.Step(
            key=f"w-{python}-{platform}",
            label="w",
            group="wheel",
            job="wheel",
            matrix={"python": python, "platform": platform},
            template=("nox", "-s", "wheel", "--", "{platform}", "--python", "{python}"),
            platform=platform,
            timeout_minutes=5,
        )

    cells = [step("3.11", "manylinux2014_x86_64"), step("3.12", "macosx_12_0_arm64")]
    matrix, runs_on = render._matrix(cells, settings)
    assert runs_on == "${{ matrix.runs-on }}"
    assert matrix == {
        "include": [
            {"python": "3.11", "platform": "manylinux2014_x86_64", "runs-on": "ubuntu-24.04"},
            {"python": "3.12", "platform": "macosx_12_0_arm64", "runs-on": "macos-14"},
        ]
    }
    assert render._expression(cells[0]) == (
        "nox -s wheel -- ${{ matrix.platform }} --python ${{ matrix.python }}"
    )


def test_repository_workflow_is_current() -> None:
    """What `.ci/run` checks with `nox -s ci-plan -- --check`, in the unit suite too."""
    from build_support.ciplan import cli

    cfg = config.load(ROOT)
    settings = plan.load_settings(cfg)
    committed = (ROOT / settings.workflow).read_text()
    assert committed == cli.workflow_text(cfg, settings), (
        "run `nox -s ci-plan -- --write-workflow` and commit .github/workflows/ci.yml"
    )


# -- retry on exit status, GitHub side ------------------------------------------------------


def _evaluate(
    expression: str, results: dict[str, str], outputs: dict[str, str], *, step: bool = False
) -> bool:
    """GitHub's ``if:`` for the expressions the renderer writes, evaluated as GitHub
    documents it: on a job without a status function, ``success() &&`` is implied (every
    needed job succeeded); on a step it refers to the job's earlier steps (none here)."""
    has_status = any(f in expression for f in ("always()", "cancelled()", "failure()"))
    py = expression
    py = re.sub(r"contains\(needs\.\*\.result, '(\w+)'\)", r"('\1' in ALL)", py)
    py = re.sub(r"needs\.plan\.outputs\.\w+", "'true'", py)
    py = re.sub(r"needs\.([\w-]+)\.outputs\.exit_status", r"O.get('\1', '')", py)
    py = re.sub(r"needs\.([\w-]+)\.result", r"R['\1']", py)
    py = py.replace("github.ref", "'refs/heads/trunk'").replace("github.event_name", "'push'")
    py = py.replace("!cancelled()", "True").replace("always()", "True")
    py = py.replace("success()", "True")
    py = py.replace("&&", " and ").replace("||", " or ").replace("!=", " != ")
    value = eval(py, {"R": results, "O": outputs, "ALL": set(results.values())})
    if has_status or step:
        return bool(value)
    return bool(value) and all(r == "success" for r in results.values())


def _simulate(document: dict[str, Any], exits: dict[str, list[int]]) -> dict[str, str]:
    """Run the workflow's jobs in order: each job that runs takes the next exit code from
    ``exits[job family]`` (0 when none is given). Returns every job's result."""
    result: dict[str, str] = {}
    output: dict[str, str] = {}
    for name, job in document["jobs"].items():
        needs = {n: result[n] for n in job.get("needs", [])}
        if not _evaluate(job.get("if", "success()"), needs, output):
            result[name] = "skipped"
            continue
        if name == "gate":
            failing = job["steps"][0]
            result[name] = (
                "failure" if _evaluate(failing["if"], needs, output, step=True) else "success"
            )
            continue
        family = re.sub(r"-retry-\d+$", "", name)
        queue = exits.get(family, [])
        code = queue.pop(0) if queue else 0
        result[name] = "success" if code == 0 else "failure"
        if "outputs" in job:
            output[name] = str(code)
    return result


#: release-tests' exit codes per attempt → results of release-tests, its retry, publish, gate
RETRY_CASES = [
    ([0], ("success", "skipped", "success", "success")),
    ([79, 0], ("failure", "success", "success", "success")),
    ([79, 79], ("failure", "failure", "skipped", "failure")),
    ([1], ("failure", "skipped", "skipped", "failure")),
    ([79, 3], ("failure", "failure", "skipped", "failure")),
]


@pytest.mark.parametrize(("release_tests", "expected"), RETRY_CASES)
def test_github_retries_on_79_on_a_new_runner(
    tmp_path: Path, release_tests: list[int], expected: tuple[str, ...]
) -> None:
    cfg, settings, steps = fixture(tmp_path)
    document = yaml.safe_load(
        render.github_workflow(
            steps, settings, default_branch=cfg.default_branch, pythons=cfg.python_versions
        )
    )
    results = _simulate(document, {"release-tests": list(release_tests)})
    jobs = ("release-tests", "release-tests-retry-1", "publish", "gate")
    assert tuple(results[k] for k in jobs) == expected
    # a failure elsewhere still fails the gate, even when release tests pass on a retry
    results = _simulate(document, {"release-tests": [79, 0], "wheel": [1]})
    assert (results["release-tests"], results["gate"]) == ("skipped", "failure")


@pytest.mark.subprocess
def test_the_retried_job_records_its_real_exit_status(tmp_path: Path) -> None:
    """The run script, run by bash as GitHub runs it (``bash -e {0}``)."""
    script = tmp_path / "run.sh"
    output = tmp_path / "github_output"
    script.write_text(render._run_recording_status("sh -c 'exit 79'"))
    proc = subprocess.run(
        ["bash", "-e", str(script)], env={**os.environ, "GITHUB_OUTPUT": str(output)}, check=False
    )
    assert proc.returncode == 79
    assert output.read_text() == f"{render.STATUS_OUTPUT}=79\n"


def test_a_retried_matrix_job_is_refused(tmp_path: Path) -> None:
    from build_support.errors import ConfigError

    _cfg, settings, steps = fixture(tmp_path)
    wheel = [
        dataclasses.replace(s, retry_exit_status=79, retry_limit=1) if s.job == "wheel" else s
        for s in steps
    ]
    with pytest.raises(ConfigError, match="matrix"):
        render.github_workflow(wheel, settings, default_branch="trunk", pythons=["3.12"])


def test_no_retry_jobs_without_a_retry_limit(tmp_path: Path) -> None:
    _cfg, settings, steps = fixture(tmp_path)
    plain = [dataclasses.replace(s, retry_limit=0) for s in steps]
    document = yaml.safe_load(
        render.github_workflow(plain, settings, default_branch="trunk", pythons=["3.12"])
    )
    assert not [j for j in document["jobs"] if "retry" in j]
    gate = document["jobs"]["gate"]["steps"][0]["if"]
    assert gate == "contains(needs.*.result, 'failure') || contains(needs.*.result, 'cancelled')"
