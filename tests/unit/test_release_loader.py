"""Loading release_tests.yaml: Ray's schema, DEFAULTS, variations, matrix, smoke tests, errors."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from build_support.errors import InputError
from build_support.releasetests import loader
from tests import raylike

DATA = Path(__file__).parent / "test_release_data"
ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "release_tests.yaml"
    path.write_text(textwrap.dedent(text))
    return path


BASE = """\
- name: DEFAULTS
  team: core
  frequency: nightly
  working_dir: w
  run:
    timeout: 100
"""


def test_rays_own_file_loads_unchanged() -> None:
    c = loader.load(DATA / "ray_release_tests.yaml")
    names = c.names()
    assert "many_actors" in names
    assert {"shuffle_1tb.aws", "shuffle_1tb.gce"} <= set(names)
    assert "autoscaling_gpu_data_ingest" in names
    assert "fixed_size_cu123_data_ingest" in names  # from matrix.adjustments
    assert len([n for n in names if n.endswith("_data_ingest")]) == 5
    actors = next(t for t in c if t.name == "many_actors")
    assert actors.run.type == "anyscale_job"  # from DEFAULTS
    assert actors.env_name == "aws"
    assert actors.env == {"RAY_worker_register_timeout_seconds": "600"}
    gce = next(t for t in c if t.name == "shuffle_1tb.gce")
    assert gce.frequency == "manual"
    assert gce.cluster["cluster_compute"].endswith("_gce.yaml")
    assert gce.cluster["byod"] == {"type": "gpu"}  # deep-merged, not replaced


def test_rays_file_smoke() -> None:
    c = loader.load(DATA / "ray_release_tests.yaml", smoke=True)
    actors = next(t for t in c if t.name == "many_actors")
    assert actors.smoke
    assert actors.frequency == "nightly"
    assert actors.run.timeout == 1800
    assert actors.run.script == "python distributed/test_many_actors.py"


def test_minray_file_loads() -> None:
    c = loader.load(ROOT / "release" / "release_tests.yaml")
    names = c.names()
    assert len(names) >= 6
    assert {"wheel_commit", "core_throughput", "jvm_loads_native"} <= set(names)
    assert "checksum_agreement.small" in names
    assert any(n.startswith("toposort_") for n in names)
    for t in c:
        assert t.working_dir.is_dir(), t.name
        assert t.has_smoke_test, t.name


def test_defaults_merge_and_override(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE
        + """\
- name: a
  run:
    script: python a.py
- name: b
  frequency: weekly
  run:
    script: python b.py
    timeout: 5
""",
    )
    a, b = loader.load(path).tests
    assert (a.frequency, a.run.timeout, a.team) == ("nightly", 100, "core")
    assert (b.frequency, b.run.timeout) == ("weekly", 5)
    assert a.working_dir == (tmp_path / "w").resolve()


def test_matrix_substitutes_types(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE
        + """\
- name: "t_{{n}}"
  matrix:
    setup:
      n: [1, 2]
      t: [7]
  run:
    script: python t.py --n {{n}}
    timeout: "{{t}}"
""",
    )
    tests = loader.load(path).tests
    assert [t.name for t in tests] == ["t_1", "t_2"]
    assert tests[1].run.script == "python t.py --n 2"
    assert tests[0].run.timeout == 7


def test_matrix_undefined_variable(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE
        + """\
- name: "t_{{n}}_{{m}}"
  matrix:
    setup:
      n: [1]
  run:
    script: python t.py
""",
    )
    with pytest.raises(InputError, match=r"matrix variable\(s\) m"):
        loader.load(path)


def test_unknown_key_names_test_line_and_allowed(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE
        + """\
- name: a
  run:
    script: python a.py
    timeot: 5
""",
    )
    with pytest.raises(InputError) as info:
        loader.load(path)
    text = str(info.value)
    assert "release_tests.yaml:10" in text
    assert "'a'" in text
    assert "run.timeot" in text
    assert "allowed here:" in text
    assert "timeout" in text


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "- name: a\n  run: {script: x}\n  colour: red\n")
    with pytest.raises(InputError, match=r":9: test 'a': colour: unknown key 'colour'"):
        loader.load(path)


def test_bad_frequency_lists_allowed(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "- name: a\n  frequency: daily\n  run: {script: x}\n")
    with pytest.raises(InputError) as info:
        loader.load(path)
    assert ":8:" in str(info.value)
    assert "frequency" in str(info.value)
    assert "nightly-3x" in str(info.value)


def test_missing_required_after_merge(tmp_path: Path) -> None:
    path = _write(tmp_path, "- name: a\n  team: t\n  working_dir: w\n  run: {script: x}\n")
    with pytest.raises(InputError, match="'frequency' is a required property"):
        loader.load(path)


def test_variations_need_suffix(tmp_path: Path) -> None:
    path = _write(
        tmp_path, BASE + "- name: a\n  run: {script: x}\n  variations:\n    - frequency: weekly\n"
    )
    with pytest.raises(InputError, match="__suffix__"):
        loader.load(path)


def test_variations_and_matrix_exclusive(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE
        + "- name: a\n  run: {script: x}\n  variations:\n    - __suffix__: s\n"
        + "  matrix:\n    setup:\n      n: [1]\n",
    )
    with pytest.raises(InputError, match="both 'variations' and 'matrix'"):
        loader.load(path)


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "- name: a\n  run: {script: x\n")
    with pytest.raises(InputError, match=r"release_tests.yaml:\d+: malformed YAML"):
        loader.load(path)


def test_duplicate_key_keeps_last_value_with_warning_as_ray_does(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "- name: a\n  name: b\n  run: {script: x}\n")
    warned: list[str] = []
    c = loader.load(path, warn=warned.append)
    assert c.names() == ["b"]
    assert warned == list(c.warnings)
    assert len(warned) == 1
    assert f"{path}:8: duplicate key 'name' (first at line 7)" in warned[0]


def test_duplicate_names(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "- name: a\n  run: {script: x}\n- name: a\n  run: {script: y}\n")
    with pytest.raises(InputError, match="defined twice"):
        loader.load(path)


def test_not_a_list(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: a\n")
    with pytest.raises(InputError, match="must be a list"):
        loader.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        loader.load(tmp_path / "nope.yaml")


def test_env_table_and_ray_env_string(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "- name: a\n  env: {FOO: bar, N: 3, DEBUG: true}\n  run: {script: x}\n"
        "- name: b\n  env: gce\n  run: {script: x}\n",
    )
    a, b = loader.load(path).tests
    assert dict(a.env) == {"FOO": "bar", "N": "3", "DEBUG": "1"}
    assert (b.env_name, dict(b.env)) == ("gce", {})


def test_deep_update_and_substitute_are_pure_helpers() -> None:
    base = {"run": {"timeout": 1, "script": "a"}, "x": [1]}
    out = loader.deep_update(base, {"run": {"timeout": 2}, "x": [2]})
    assert out == {"run": {"timeout": 2, "script": "a"}, "x": [2]}
    assert loader.substitute({"a": "{{n}}", "b": "x{{n}}"}, {"n": 3}) == {"a": 3, "b": "x3"}
    combos = loader.matrix_combinations(
        {"setup": {"a": [1, 2], "b": ["x"]}, "adjustments": [{"with": {"a": 9, "b": "y"}}]}
    )
    assert combos == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}, {"a": 9, "b": "y"}]


def _ray_like(tmp_path: Path, entries: int) -> Path:
    path = tmp_path / "release_tests.yaml"
    path.write_text(raylike.collection(entries))
    return path


def test_ray_shaped_collection_with_lenient_constructs_loads(tmp_path: Path) -> None:
    path = _ray_like(tmp_path, 40)
    c = loader.load(path, warn=None)
    assert len(c.tests) == raylike.tests_in(40)
    by_name = {t.name: t for t in c}
    # duplicate key: the last value wins
    assert by_name["duplicated_8"].cluster["cluster_compute"] == "second.yaml"
    # a byod type outside the known list is kept
    assert by_name["plain_5"].cluster["byod"]["type"] == "cu121-next"
    # a matrix with empty setup lists expands to its adjustments only
    assert {"llm_small_6", "llm_large_6"} <= set(by_name)
    assert not any(n.startswith("llm_{{") for n in by_name)
    kinds = [w for w in c.warnings if "duplicate key 'cluster_compute'" in w]
    assert len(kinds) == 4
    assert any("'cu121-next' is not one this harness knows" in w for w in c.warnings)
    assert any("smoke_test.cluster has key(s) 'max_workers'" in w for w in c.warnings)


def test_smoke_keys_outside_the_schema_are_kept_when_applied(tmp_path: Path) -> None:
    c = loader.load(_ray_like(tmp_path, 2), smoke=True, warn=None)
    plain = next(t for t in c if t.name == "plain_0")
    assert plain.smoke
    assert plain.cluster["max_workers"] == 2
    assert plain.cluster["cluster_compute"] == "compute_0_smoke.yaml"
    assert (plain.base_frequency, plain.smoke_frequency, plain.frequency) == (
        "nightly",
        "nightly",
        "nightly",
    )


def test_every_problem_in_the_file_is_reported_in_one_run(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE
        + """\
- name: a
  run: {script: x}
  colour: red
- name: b
  frequency: daily
  run: {script: x}
- just a string
- name: c
  run:
    script: x
    timeot: 5
- name: ok
  run: {script: x}
""",
    )
    with pytest.raises(InputError) as info:
        loader.load(path)
    text = str(info.value)
    assert f"{path}: 4 problems:" in text
    assert f"{path}:9: test 'a': colour: unknown key 'colour'" in text
    assert f"{path}:11: test 'b': frequency: 'daily' is not allowed" in text
    assert f"{path}:13: entry #4 is a string, not a test" in text
    assert f"{path}:17: test 'c': run.timeot: unknown key 'timeot'" in text


def test_messages_carry_lines_and_no_internal_names(tmp_path: Path) -> None:
    path = _write(tmp_path, "# a comment\n\nname: a\nteam: t\n")
    with pytest.raises(InputError) as info:
        loader.load(path)
    assert f"{path}:3: the top level must be a list of tests, got a mapping" in str(info.value)
    path = _write(tmp_path, BASE + "- [1, 2]\n- 3\n")
    with pytest.raises(InputError) as info:
        loader.load(path)
    text = str(info.value)
    assert f"{path}:7: entry #2 is a list, not a test" in text
    assert f"{path}:8: entry #3 is a number, not a test" in text
    for internal in ("LineDict", "LineList", "dict", "str", "int", "list'>"):
        assert not re.search(rf"\b{re.escape(internal)}\b", text.replace(str(path), "")), internal


def test_adjustments_only_matrix(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE
        + """\
- name: "m_{{size}}"
  matrix:
    setup:
      size: []
    adjustments:
      - with: {size: small}
      - with: {size: big}
  run: {script: "python {{size}}.py"}
""",
    )
    c = loader.load(path)
    assert c.names() == ["m_small", "m_big"]
    assert [t.run.script for t in c] == ["python small.py", "python big.py"]


def test_frequency_follows_rays_filter_with_smoke(tmp_path: Path) -> None:
    """Ray's filter_tests: a smoke-frequency match runs as a smoke test, with or without
    ``--smoke``; ``--smoke`` also turns own-frequency matches into smoke runs."""
    from build_support.releasetests.selection import select

    path = _write(
        tmp_path,
        BASE
        + """\
- name: weekly_with_nightly_smoke
  frequency: weekly
  run: {script: x}
  smoke_test:
    frequency: nightly
    run: {timeout: 7}
- name: nightly_plain
  run: {script: x}
- name: weekly_plain
  frequency: weekly
  run: {script: x}
""",
    )
    tests = loader.load(path, warn=None).tests
    nightly = select(tests, [], "nightly")
    assert [(t.name, t.smoke) for t in nightly] == [
        ("weekly_with_nightly_smoke", True),
        ("nightly_plain", False),
    ]
    assert nightly[0].run.timeout == 7
    weekly = select(tests, [], "weekly")
    assert [(t.name, t.smoke) for t in weekly] == [
        ("weekly_with_nightly_smoke", False),
        ("weekly_plain", False),
    ]
    weekly_smoke = select(tests, [], "weekly", smoke=True)
    assert [(t.name, t.smoke) for t in weekly_smoke] == [
        ("weekly_with_nightly_smoke", True),
        ("weekly_plain", False),
    ]


def test_each_defaults_applies_to_the_entries_after_it_as_in_ray(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
- name: before
  team: t0
  frequency: weekly
  working_dir: w
  run: {script: x, timeout: 1}
- name: DEFAULTS
  team: first
  frequency: nightly
  working_dir: w
  run: {script: x, timeout: 10}
- name: a
- name: DEFAULTS
  team: second
  frequency: monthly
  working_dir: w
  run: {script: y, timeout: 20}
- name: b
""",
    )
    tests = {t.name: t for t in loader.load(path, warn=None)}
    assert (tests["before"].team, tests["before"].frequency) == ("t0", "weekly")
    assert (tests["a"].team, tests["a"].frequency, tests["a"].run.timeout) == (
        "first",
        "nightly",
        10,
    )
    assert (tests["b"].team, tests["b"].frequency, tests["b"].run.script) == (
        "second",
        "monthly",
        "y",
    )


def test_matrix_variables_in_defaults_are_substituted_as_in_ray(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
- name: DEFAULTS
  team: core
  frequency: nightly
  working_dir: w
  cluster: {cluster_compute: "compute_{{cloud}}.yaml", byod: {type: "{{kind}}"}}
  run: {script: x, timeout: 10}
- name: "t_{{cloud}}"
  matrix:
    setup: {cloud: [aws, gce]}
- name: plain
""",
    )
    tests = {t.name: t for t in loader.load(path, warn=None)}
    assert tests["t_aws"].cluster["cluster_compute"] == "compute_aws.yaml"
    assert tests["t_gce"].cluster["cluster_compute"] == "compute_gce.yaml"
    # No matrix fills {{kind}} or a plain test's {{cloud}}: kept as written, as Ray does.
    assert tests["t_aws"].cluster["byod"]["type"] == "{{kind}}"
    assert tests["plain"].cluster["cluster_compute"] == "compute_{{cloud}}.yaml"


def test_matrix_adjustment_must_set_every_variable_as_in_ray(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE
        + """\
- name: "t_{{a}}_{{b}}"
  matrix:
    setup: {a: [1], b: [2]}
    adjustments:
      - with: {a: 3}
  run: {script: x}
""",
    )
    with pytest.raises(InputError, match=r"matrix.adjustments.0.with: must set every matrix "
                       r"variable, as Ray requires \(variables: a, b; missing: b"):  # fmt: skip
        loader.load(path)


def test_todays_ray_keys_load(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE
        + """\
- name: micro
  frequency: monthly
  cluster: {cluster_compute: c.yaml, ray_version: 2.50.0, project_id: p,
            byod: {type: cpu, python_depset: d.lock}}
  run: {script: x}
  smoke_test: {frequency: monthly}
  variations:
    - __suffix__: aws
      repeated_run: 5
    - __suffix__: gce
""",
    )
    aws, gce = loader.load(path, warn=None).tests
    assert (aws.frequency, aws.repeated_run, gce.repeated_run) == ("monthly", 5, 1)
    assert aws.cluster["ray_version"] == "2.50.0"


def test_unknown_key_names_the_closest_allowed_one(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "- name: a\n  run: {script: x}\n  variations:\n"
        "    - {__suffix__: s, repeat_run: 2}\n",
    )
    with pytest.raises(InputError, match=r"unknown key 'repeat_run' \(did you mean 'repeated_run'"):
        loader.load(path)


LAUGHS = "".join(
    f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_a_billion_laughs_file_is_refused_before_it_grows(tmp_path: Path) -> None:
    """Nine levels of nine aliases: 387 million nodes once expanded; refused at once."""
    path = tmp_path / "release_tests.yaml"
    path.write_text("a: &a [lol]\n" + LAUGHS)
    with pytest.raises(InputError, match=r"expands to more than 1000000 nodes through its "
                       r"aliases \(a 'billion laughs' file\?\)"):  # fmt: skip
        loader.load(path)


def test_alias_count_size_and_recursion_are_capped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "release_tests.yaml"
    path.write_text("- &x {name: a}\n" + "- *x\n" * (loader.MAX_ALIASES + 1))
    with pytest.raises(InputError, match=f"more than {loader.MAX_ALIASES} YAML aliases"):
        loader.load(path)
    path.write_text("- &x [*x]\n")
    with pytest.raises(InputError, match="a YAML alias refers to a node that contains it"):
        loader.load(path)
    monkeypatch.setattr(loader, "MAX_BYTES", 10)
    path.write_text("- name: a_long_enough_name\n")
    with pytest.raises(InputError, match=r"is 27 bytes; the limit is 10"):
        loader.load(path)


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.subprocess
def test_billion_laughs_through_the_stage_exits_11(tmp_path: Path) -> None:
    """``release-tests`` (1 GB address-space limit, 60 s): Ray's CONFIG_ERROR, nothing grows."""
    import subprocess
    import sys

    (tmp_path / "pyproject.toml").write_text('[tool.build_support]\npython_versions = ["3.12"]\n')
    path = tmp_path / "laughs.yaml"
    nested = textwrap.indent("a: &a [lol]\n" + LAUGHS, "    ")
    path.write_text("- name: x\n  team: core\n  env:\n" + nested)
    proc = subprocess.run(
        [sys.executable, "-m", "build_support", "release-tests", "--file", str(path), "--list"],
        cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=False, timeout=60, preexec_fn=_limit_memory,
    )  # fmt: skip
    assert proc.returncode == 11, proc.stderr
    assert "billion laughs" in proc.stderr
    assert "hint: write the values out instead of nesting aliases" in proc.stderr
    assert proc.stdout == ""
