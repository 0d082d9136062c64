"""Ray parity of the loader and the selection, on fixtures derived from Ray's own files.

How the expected values were obtained (outside this repository, never run by the tests):
the ``Rruop/ray`` mirror of ray-project/ray was fetched; Ray's own ``ray_release`` package
of each commit was imported in a scratch venv (PyYAML, jsonschema, jinja2; its cloud and
GitHub clients stubbed, the test-state database answering "not jailed"); its
``config.parse_test_definition`` read each file and ``buildkite.filter.filter_tests``
selected from the result:

- ``ray_2023_selection.yaml``: Ray's ``release_tests.yaml`` at b2dd418f387e (2023-08-09),
  433 tests; with that commit's own ``filter_tests`` and ``Frequency.NIGHTLY``: 156 tests
  (15 of them smoke runs), and 190 (17 smoke runs) with ``run_unstable_tests=True``. The
  fixture keeps only what selection reads; Ray's filter gives the same lists on the
  fixture as on the original. ``ray_2023_selection.ray.json`` holds those lists.
- ``ray_2025_shapes.yaml``: Ray's three release test files at 82f8e7cf5abe (2025-11-07,
  schema of 2025-10-17) trimmed to the entries that each add a key path or a checked
  value, free text replaced; it passes Ray's ``schema.json``. ``ray_2025_shapes.ray.json``
  is every test as Ray's ``parse_test_definition`` returns it (123 tests).

The untrimmed files load here too, with the same definitions as Ray's for every test
(289 + 74 + 10 tests of 2025, 433 of 2023), and the same nightly selection (Ray's current
filter also drops two KubeRay tests when its deployment sets ``kuberay_disabled``, a
switch of Ray's own CI that this harness does not have).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from build_support.errors import UsageError
from build_support.releasetests import loader, selection

DATA = Path(__file__).parent / "test_release_data"
ROOT = Path(__file__).resolve().parents[2]


def _pairs(tests: list[loader.ReleaseTest]) -> list[list[object]]:
    return [[t.name, t.smoke] for t in tests]


def test_rays_2023_file_nightly_counts_match_rays_filter() -> None:
    """156 nightly tests, 190 with ``--run-unstable``: Ray's lists, smoke runs included."""
    expected = json.loads((DATA / "ray_2023_selection.ray.json").read_text())
    tests = loader.load(DATA / "ray_2023_selection.yaml", warn=None).tests
    assert len(tests) == 433
    stable = selection.select(tests, [], "nightly")
    everything = selection.select(tests, [], "nightly", run_unstable=True)
    assert (len(stable), len(everything)) == (156, 190)
    assert (sum(t.smoke for t in stable), sum(t.smoke for t in everything)) == (15, 17)
    assert _pairs(stable) == expected["nightly"]
    assert _pairs(everything) == expected["nightly --run-unstable"]


def test_rays_current_files_load_as_rays_loader_reads_them() -> None:
    """Schema of October 2025 (``repeated_run``, ``cluster.ray_version``, ``project_id``,
    ``python_depset``) and DEFAULTS that apply to the entries after them."""
    expected = json.loads((DATA / "ray_2025_shapes.ray.json").read_text())
    collection = loader.load(DATA / "ray_2025_shapes.yaml", warn=None)
    ours = {t.name: dict(t.definition) for t in collection}
    assert sorted(ours) == sorted(expected)
    assert ours == expected
    repeated = [t for t in collection if t.repeated_run > 1]
    assert repeated
    assert any("ray_version" in t.cluster for t in collection)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "release_tests.yaml"
    path.write_text(textwrap.dedent(text))
    return path


FLAGGED = """\
- name: DEFAULTS
  team: core
  frequency: nightly
  working_dir: w
  run: {script: x, timeout: 60}
- name: steady
- name: wobbly
  stable: false
- name: in_jail
  jailed: true
- name: by_config
- name: monthly_one
  frequency: monthly
  smoke_test: {frequency: nightly}
"""


def test_unstable_and_jailed_are_left_out_unless_asked(tmp_path: Path) -> None:
    tests = loader.load(_write(tmp_path, FLAGGED), warn=None).tests
    chosen = selection.choose(tests, [], "nightly", jailed=["by_*"])
    assert [t.name for t in chosen.tests] == ["steady", "monthly_one"]
    assert chosen.unstable == ("wobbly",)
    assert chosen.jailed == ("in_jail", "by_config")
    unstable = selection.select(tests, [], "nightly", run_unstable=True, jailed=["by_*"])
    assert [t.name for t in unstable] == ["steady", "wobbly", "monthly_one"]
    every = selection.select(tests, [], "nightly", run_unstable=True, run_jailed=True)
    assert len(every) == 5
    assert [t.name for t in selection.select(tests, [], "monthly")] == ["monthly_one"]


def test_a_test_named_exactly_runs_even_if_unstable_or_jailed(tmp_path: Path) -> None:
    """One CI step runs one test by name: the name is the request (a glob is not)."""
    tests = loader.load(_write(tmp_path, FLAGGED), warn=None).tests
    assert [t.name for t in selection.select(tests, ["wobbly"], None)] == ["wobbly"]
    assert [t.name for t in selection.select(tests, ["in_jail"], None)] == ["in_jail"]
    assert selection.select(tests, ["w*"], None) == []
    with pytest.raises(UsageError, match=r"left out.*\n.*--run-unstable"):
        selection.select(tests, ["w*"], "nightly")


@pytest.mark.subprocess
def test_list_prints_one_line_per_selected_test_and_warnings_apart(tmp_path: Path) -> None:
    """``release-tests --list`` on Ray's 2023 cases: 156 and 190 lines on stdout.

    One test is jailed by the config: ``--run-jailed`` gives Ray's counts (Ray's test
    database jails none of them here), without it that test is left out, said on stderr.
    """
    expected = json.loads((DATA / "ray_2023_selection.ray.json").read_text())
    jailed = next(name for name, smoke in expected["nightly"] if not smoke)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.build_support]\npython_versions = ["3.12"]\n'
        f'[tool.build_support.release_tests]\njailed = ["{jailed}"]\n'
    )
    fixture = tmp_path / "release_tests.yaml"
    # A duplicate key makes the loader warn, as it does on Ray's 2023 file.
    fixture.write_text(
        (DATA / "ray_2023_selection.yaml").read_text()
        + "- name: extra_manual\n  team: x\n  team: core\n  frequency: manual\n"
        "  working_dir: w\n  run: {script: x, timeout: 1}\n"
    )
    counts = []
    for extra in (["--run-jailed"], ["--run-jailed", "--run-unstable"], []):
        proc = subprocess.run(
            [sys.executable, "-m", "build_support", "release-tests", "--file", str(fixture),
             "--list", "--frequency", "nightly", *extra],
            cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert all(line.count("\t") == 4 for line in lines)
        counts.append((len(lines), sum(line.split("\t")[3] == "smoke" for line in lines)))
        assert "duplicate key 'team'" in proc.stderr
        assert "warning" not in proc.stdout
    assert counts == [(156, 15), (190, 17), (155, 15)]
    assert f"left out 1 jailed test(s) (--run-jailed runs them): {jailed}" in proc.stderr
