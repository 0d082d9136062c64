"""``nox -s publish`` exits with the stage's code: the outermost command a user or CI runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import git
from tests.integration.test_exit_codes import _copy_project, _out, _run_nox

pytestmark = pytest.mark.integration


def test_nox_publish_plan_reports_and_execute_refuses_with_16(tmp_path: Path) -> None:
    project = _copy_project(tmp_path / "proj")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "copy")
    envdir = tmp_path / "nox-envs"
    # A pull request: the plan says what would be refused and sends nothing (exit 0)...
    plan = _run_nox(project, envdir, "-s", "publish", "--", "pypi", BUILDKITE_PULL_REQUEST="42")
    out = _out(plan)
    assert "--execute would be refused: gate 'pull-request'" in out
    assert plan.returncode == 11, out[-3000:]  # and this copy's store holds no wheels
    assert "build and store them first: nox -s wheel" in out
    # ...and --execute is refused by the gates before any registry is asked (exit 16).
    run = _run_nox(project, envdir, "-s", "publish", "--", "--execute",
                   BUILDKITE_PULL_REQUEST="42")  # fmt: skip
    out = _out(run)
    assert run.returncode == 16, out[-3000:]
    assert "gate 'pull-request'" in out
    assert "BUILDKITE_PULL_REQUEST=42" in out
    assert "gate 'release-tests'" in out
    assert "Traceback" not in out
