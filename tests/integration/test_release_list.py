"""``nox -s release-tests -- --list``: one line per selected test on stdout, nothing else."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "unit" / "test_release_data" / "ray_2023_selection.yaml"


def test_nox_list_prints_one_line_per_test_and_warnings_on_stderr(tmp_path: Path) -> None:
    """Ray's 2023 cases: 190 nightly tests with unstable ones; a warning stays on stderr."""
    yaml_file = tmp_path / "release_tests.yaml"
    # The duplicate key makes the loader warn (Ray's 2023 file has two such keys).
    extra = (
        "- name: extra\n  team: a\n  team: core\n  frequency: manual\n"
        "  working_dir: w\n  run: {script: x, timeout: 1}\n"
    )
    yaml_file.write_text(FIXTURE.read_text() + extra)
    env = {k: v for k, v in os.environ.items() if k != "BUILD_SUPPORT_STORE"}
    proc = subprocess.run(
        ["nox", "-s", "release-tests", "--", "--list", "--file", str(yaml_file),
         "--frequency", "nightly", "--run-unstable"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 190
    assert all(len(line.split("\t")) == 5 for line in lines)
    assert "duplicate key 'team'" in proc.stderr
