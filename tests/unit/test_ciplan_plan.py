"""The CI plan: the step graph, and which steps a change selects (and why)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from build_support import config, manifests
from build_support.ciplan import cli as ciplan_cli
from build_support.ciplan import plan, render, rules
from build_support.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def repo() -> tuple[config.Config, plan.CiPlanSettings, list[plan.Step], list[rules.RulesFile]]:
    """This repository's own config and ci/*.rules.txt."""
    cfg = config.load(ROOT)
    settings = plan.load_settings(cfg)
    steps = plan.build_steps(cfg, settings)
    loaded, missing = ciplan_cli.load_rules(cfg, settings, [])
    assert missing is None
    return cfg, settings, steps, loaded


def select(*files: str, select_all: str | None = None) -> tuple[list[plan.Step], plan.Selection]:
    _cfg, settings, steps, loaded = repo()
    changes = plan.Changes(tuple(files), "--changed", select_all=select_all)
    return steps, plan.select(steps, loaded, changes, settings)


def groups(steps: list[plan.Step], selection: plan.Selection) -> set[str]:
    return {g for g, on in selection.groups(steps).items() if on}


BUILD_GROUPS = {"lock", "wheel", "jars", "images", "release_tests"}


# -- the step graph ---------------------------------------------------------------------


def test_graph_has_unique_keys_known_dependencies_and_no_cycle() -> None:
    _cfg, _settings, steps, _ = repo()
    keys = [s.key for s in steps]
    assert len(keys) == len(set(keys))
    for s in steps:
        assert set(s.depends_on) <= set(keys), s.key
    order = plan.check_graph(steps)
    assert sorted(order) == sorted(keys)
    for s in steps:
        for dep in s.depends_on:
            assert order.index(dep) < order.index(s.key)
    assert order[-1] == "publish"


def test_steps_cover_every_stage_on_its_agent() -> None:
    cfg, _settings, steps, _ = repo()
    by_key = {s.key: s for s in steps}
    assert len([s for s in steps if s.group == "wheel"]) == len(cfg.python_versions) * len(
        cfg.platforms
    )
    mac = by_key["wheel-py312-darwin-aarch64"]
    assert mac.platform == "macosx_12_0_arm64"
    assert mac.command == ("nox", "-s", "wheel", "--", "macosx_12_0_arm64", "--python", "3.12")
    assert by_key["wheel-py311-linux-aarch64"].platform == "manylinux2014_aarch64"
    assert by_key["jars-multiplatform"].depends_on == ("jars-linux",)
    assert by_key["images-linux-aarch64"].depends_on == (
        "lock-check",
        "wheel-py311-linux-aarch64",
    )
    rt = by_key["release-tests"]
    assert (rt.retry_exit_status, rt.retry_limit) == (79, 1)
    assert rt.command == ("nox", "-s", "release-tests", "--", "--smoke")


def test_publish_only_on_the_default_branch_and_last() -> None:
    cfg, settings, steps, _ = repo()
    publish = [s for s in steps if s.default_branch_only]
    assert [s.key for s in publish] == ["publish"]
    assert set(publish[0].depends_on) == {s.key for s in steps} - {"publish"}
    assert publish[0].command == ("nox", "-s", "publish", "--", "--execute")
    assert publish[0].concurrency_group
    record = render.buildkite_step(publish[0], settings, "main")
    assert record["if"] == 'build.branch == "main" && build.pull_request.id == null'
    assert record["concurrency"] == 1
    assert all("if" not in render.buildkite_step(s, settings, "main") for s in steps[:-1])
    assert cfg.default_branch == "main"


def table(**ciplan: Any) -> dict[str, Any]:
    return {"python_versions": ["3.12"], "ciplan": ciplan}


@pytest.mark.parametrize(
    ("ciplan", "message"),
    [
        ({"tags": {"python": ["wheels"]}}, "names step group 'wheels'"),
        ({"builtin_steps": ["lint"]}, "builtin_steps contains 'lint'"),
        ({"queues": {"win_amd64": "w"}}, "queues.win_amd64: not a platform tag"),
        ({"soft_fail": ["nope"]}, "'nope' .* is not a step group"),
        ({"steps": {"wheel": {"command": ["true"]}}}, "redefines built-in step group"),
        ({"max_steps": 501}, "1 to 500 steps"),
        ({"bogus": 1}, "unknown key tool.build_support.ciplan.bogus"),
    ],
)
def test_bad_settings_are_config_errors(
    tmp_path: Path, ciplan: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        plan.load_settings(config.from_table(table(**ciplan), tmp_path))


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            {
                "a": {"command": ["true"], "depends_on": ["b"]},
                "b": {"command": ["true"], "depends_on": ["a"]},
            },
            "cycle",
        ),
        ({"a": {"command": ["true"], "depends_on": ["nope"]}}, "depends on 'nope'"),
        ({"lock-check": {"command": ["true"]}}, "two CI steps have the key 'lock-check'"),
    ],
)
def test_graph_errors(tmp_path: Path, steps: dict[str, Any], message: str) -> None:
    cfg = config.from_table(table(steps=steps), tmp_path)
    with pytest.raises(ConfigError, match=message):
        plan.build_steps(cfg, plan.load_settings(cfg))


def test_too_many_steps_for_one_upload(tmp_path: Path) -> None:
    cfg = config.from_table(table(max_steps=5), tmp_path)
    with pytest.raises(ConfigError, match="at most 5"):
        plan.build_steps(cfg, plan.load_settings(cfg))


def test_declared_tag_without_mapping_is_an_error(tmp_path: Path) -> None:
    cfg = config.from_table(table(tags={"python": ["wheel"]}), tmp_path)
    rf = rules.parse("! python java\nsrc/\n@ python\n", Path("ci/x.rules.txt"))
    with pytest.raises(ConfigError, match=r"tag 'java' \(declared at ci/x.rules.txt:1\)"):
        plan.check_tags(plan.load_settings(cfg), [rf])


# -- selection --------------------------------------------------------------------------

TAG_CASES = {
    # tag: (a changed file, the groups it selects, including what those steps need)
    "python": ("python/minray/__init__.py", {"lock", "wheel", "images", "release_tests"}),
    "cpp": ("python/cpp/src/minray_cpp.c", BUILD_GROUPS),
    "java": ("java/pom.xml", {"jars"}),
    "docker": ("docker/minray/Dockerfile", {"images", "lock", "wheel"}),
    "deps": ("requirements/test.in", {"lock", "images", "release_tests", "wheel"}),
    "release_tests": ("release/release_tests.yaml", {"release_tests", "wheel"}),
    "harness": ("build_support/wheels/stage.py", BUILD_GROUPS),
    "doc": ("docs/ci.md", set()),
}


def test_every_declared_tag_has_a_case() -> None:
    _cfg, _settings, _steps, loaded = repo()
    assert set().union(*(rf.declared for rf in loaded)) == set(TAG_CASES)


@pytest.mark.parametrize("tag", sorted(TAG_CASES))
def test_each_tag_alone(tag: str) -> None:
    path, expected = TAG_CASES[tag]
    steps, selection = select(path)
    assert selection.everything is None
    assert dict(selection.tags) == ({tag: (path,)})
    assert groups(steps, selection) == expected
    assert "publish" not in selection.selected
    for key in selection.selected:
        reason = selection.reasons[key]
        assert f"tag {tag} from {path}" in reason or reason.startswith("needed by "), reason


def test_docker_pulls_in_only_the_wheels_images_need() -> None:
    _steps, selection = select("docker/base-deps/Dockerfile")
    wheels = sorted(k for k in selection.selected if k.startswith("wheel-"))
    assert wheels == ["wheel-py311-linux-aarch64", "wheel-py311-linux-x86_64"]
    assert selection.reasons["wheel-py311-linux-x86_64"] == "needed by images-linux-x86_64"


def test_tags_of_all_files_combine() -> None:
    steps, selection = select("java/pom.xml", "release/release_tests.yaml", "docs/ci.md")
    assert groups(steps, selection) == {"jars", "release_tests", "wheel"}


def test_docs_only_change_selects_nothing() -> None:
    steps, selection = select("docs/ci.md", "README.md", "CHANGELOG.md")
    assert selection.selected == frozenset()
    assert selection.everything is None
    _cfg, settings, _, _ = repo()
    text = render.buildkite(steps, selection, settings, "main")
    assert "0 of" in text
    assert "skip: 'no step selected" in text


def test_skip_only_change_selects_nothing() -> None:
    _steps, selection = select("tests/unit/test_x.py", "benchmarks/bench_x.py")
    assert selection.selected == frozenset()
    assert all("(skip)" in d.describe() for d in selection.files)
    assert "no changed file has a tag" in selection.reasons["wheel-py312-linux-x86_64"]


def test_unknown_top_level_file_hits_the_catch_all() -> None:
    steps, selection = select("LICENSE")
    assert groups(steps, selection) == BUILD_GROUPS
    assert selection.files[0].describe().endswith("`*`")


def test_not_a_pull_request_selects_everything() -> None:
    steps, selection = select(select_all="not a pull request (branch main)")
    assert selection.selected == {s.key for s in steps}
    assert selection.reasons["publish"] == "everything: not a pull request (branch main)"


def test_unmatched_file_selects_everything(tmp_path: Path) -> None:
    cfg = config.from_table(table(tags={"a": ["wheel"]}), tmp_path)
    settings = plan.load_settings(cfg)
    steps = plan.build_steps(cfg, settings)
    rf = rules.parse("! a\nsrc/\n@ a\n", Path("ci/x.rules.txt"))
    changes = plan.Changes(("src/x", "elsewhere/y"), "--changed")
    selection = plan.select(steps, [rf], changes, settings)
    assert selection.selected == {s.key for s in steps}
    assert selection.everything == "1 changed file(s) match no rule: elsewhere/y"


def test_missing_rules_file_selects_everything(tmp_path: Path) -> None:
    cfg = config.from_table(table(tags={}), tmp_path)
    settings = plan.load_settings(cfg)
    loaded, missing = ciplan_cli.load_rules(cfg, settings, [])
    assert loaded == []
    assert missing == "no rules file matches ci/*.rules.txt"
    steps = plan.build_steps(cfg, settings)
    selection = plan.select(
        steps, loaded, plan.Changes(("docs/a.md",), "--changed"), settings, rules_missing=missing
    )
    assert selection.selected == {s.key for s in steps}
    assert "no rules file" in render.explain(steps, selection)


def test_rename_counts_both_paths() -> None:
    # `git diff --no-renames` lists a move as the old and the new path (see the git test)
    steps, selection = select("docs/notes.md", "python/minray/notes.py")
    assert "python" in selection.tags
    assert groups(steps, selection) == {"lock", "wheel", "images", "release_tests"}


def test_explain_lists_every_step_with_its_reason() -> None:
    steps, selection = select("java/runtime/src/main/java/io/minray/runtime/NativeLib.java")
    text = render.explain(steps, selection)
    for s in steps:
        assert s.key in text
    assert "-> java  [ci/build.rules.txt:" in text
    rows = {line.split()[0]: line.split(maxsplit=2)[1:] for line in text.splitlines()[5:]}
    assert rows["jars-linux"][0] == "yes"
    assert rows["jars-linux"][1].startswith("tag java from java/runtime/")
    assert rows["wheel-py312-linux-x86_64"][0] == "no"
    assert "no tag selects publish" in text


def test_readme_selections_are_what_the_plan_selects() -> None:
    """The README's `--explain` table for this repository stays true."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### The CI plan", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) == 4
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        path = cells[0].split("`")[1]
        steps, selection = select(path)
        assert cells[3].startswith(f"{len(selection.selected)} of {len(steps)}"), row
        assert cells[2].strip("`").split() == list(selection.files[0].tags), row
        named = [w.strip("`,:") for w in cells[3].split() if w.startswith("`")]
        assert set(named) <= {s.key for s in steps} | {"wheel-*", "publish"}, row


def test_artifact_paths_are_the_manifests_under_paths_dist(tmp_path: Path) -> None:
    """F11: a step uploads the files :mod:`build_support.manifests` names under the
    configured ``paths.dist`` (the plan once globbed a fixed ``dist/``)."""
    cfg = config.from_table({**table(), "paths": {"dist": "out/dist"}}, tmp_path)
    steps = plan.build_steps(cfg, plan.load_settings(cfg))
    dist = Path("out/dist")
    uploads = {s.key: s.artifact_paths for s in steps if s.artifact_paths}
    wheel_keys = [k for k in uploads if k.startswith("wheel-")]
    assert wheel_keys
    for key in wheel_keys:
        assert uploads[key] == (manifests.wheels_path(dist).as_posix(),)
    assert uploads["jars-linux"] == (manifests.jars_path(dist, "linux").as_posix(),)
    assert uploads["jars-multiplatform"] == (manifests.jars_path(dist, "multiplatform").as_posix(),)
    assert uploads["publish"] == ((manifests.publish_plan_path(dist).parent / "*.json").as_posix(),)
    for key, paths in uploads.items():
        if key != "release-tests":
            assert all(p.startswith("out/dist/") for p in paths), (key, paths)
