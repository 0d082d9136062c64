"""Module POM generation: the committed java/*/pom.xml and small templates are goldens."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from build_support.errors import InputError, StaleError
from build_support.jars import poms

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

GOLDEN = Path(__file__).resolve().parent / "golden"


def _small_modules() -> tuple[poms.Module, ...]:
    data = tomllib.loads((GOLDEN / "pom-small.toml").read_text(encoding="utf-8"))
    return poms.parse_modules(data, "pom-small.toml")


def _java_copy(project_root: Path, tmp_path: Path) -> Path:
    """The inputs and committed POMs of java/, copied (sources are not needed)."""
    src = project_root / "java"
    dest = tmp_path / "java"
    (dest / "templates").mkdir(parents=True)
    for name in ("pom.xml", "dependencies.toml", "templates/pom-module.xml.tmpl"):
        shutil.copyfile(src / name, dest / name)
    for module in ("api", "runtime", "serve"):
        (dest / module).mkdir()
        shutil.copyfile(src / module / "pom.xml", dest / module / "pom.xml")
    return dest


def test_committed_module_poms_are_the_rendering(project_root: Path) -> None:
    project = poms.load_project(project_root / "java")
    rendered = poms.render_all(project)
    assert [p.parent.name for p in rendered] == ["api", "runtime", "serve"]
    for path, text in rendered.items():
        assert path.read_bytes() == text.encode("utf-8"), path
    assert poms.check(project) == list(rendered)


def test_version_comes_from_the_parent_pom(project_root: Path) -> None:
    assert poms.parent_version(project_root / "java" / "pom.xml") == "0.1.0"


@pytest.mark.parametrize("module", ["core", "plain"])
def test_small_template_matches_golden(module: str) -> None:
    template = (GOLDEN / "pom-small.xml.tmpl").read_text(encoding="utf-8")
    chosen = next(m for m in _small_modules() if m.directory == module)
    text = poms.render(template, chosen, "9.8.7", source="pom-small.xml.tmpl")
    assert text == (GOLDEN / f"pom-small-{module}.xml").read_text(encoding="utf-8")


def test_empty_blocks_remove_their_line() -> None:
    module = next(m for m in _small_modules() if m.directory == "plain")
    text = poms.render("<a>\n{{dependencies}}\n{{build_plugins}}\n</a>\n", module, "1")
    assert text == "<a>\n</a>\n"


def test_escaping_order_is_ampersand_first() -> None:
    assert poms.xml_escape("&lt; <x> 'q' \"d\"") == "&amp;lt; &lt;x&gt; 'q' \"d\""


def test_unknown_placeholder_names_template_line_and_known_ones() -> None:
    module = _small_modules()[0]
    template = "<project>\n  <v>{{version}}</v>\n  <g>{{group_id}}</g>\n</project>\n"
    with pytest.raises(InputError) as info:
        poms.render(template, module, "1", source="my.tmpl")
    text = str(info.value)
    assert "my.tmpl:3" in text
    assert "{{group_id}}" in text
    assert "{{artifact_id}}" in text  # the known ones are listed
    assert info.value.exit_code == 6


def test_block_placeholder_must_stand_alone() -> None:
    module = _small_modules()[0]
    with pytest.raises(InputError, match=r"t\.tmpl:2: block placeholder \{\{dependencies\}\}"):
        poms.render("<a>\n  {{dependencies}}\n</a>\n", module, "1", source="t.tmpl")


def test_value_with_braces_cannot_leave_a_placeholder() -> None:
    module = poms.Module("m", "a", "{{name}}", "d", ())
    with pytest.raises(InputError, match="left '\\{\\{'"):
        poms.render("<n>{{description}}</n>\n<n>{{name}}</n>\n", module, "1")


@pytest.mark.parametrize("entry", ["g:a", "g:a:v:s:x", "g::v", ":a:v", "g:a:v:", 7])
def test_bad_dependency_entries(entry: object) -> None:
    with pytest.raises(InputError, match="dependencies"):
        poms.parse_dependency(entry, "modules.x.dependencies[0]")


def test_dependency_parts() -> None:
    dep = poms.parse_dependency("junit:junit:4.13.2:test", "w")
    assert (dep.group_id, dep.artifact_id, dep.version, dep.scope) == (
        "junit",
        "junit",
        "4.13.2",
        "test",
    )
    assert dep.coordinate == "junit:junit"
    assert str(dep) == "junit:junit:4.13.2:test"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"modules": {"a": {"artifact_id": "a", "name": "n", "description": "d"}}}, "dependencies"),
        (
            {"modules": {"a": {"name": "n", "description": "d", "dependencies": []}}},
            "artifact_id",
        ),
        (
            {
                "modules": {
                    "a": {
                        "artifact_id": "a",
                        "name": "n",
                        "description": "d",
                        "dependencies": [],
                        "scope": "x",
                    }
                }
            },
            "unknown key",
        ),
        (
            {
                "modules": {
                    "a": {
                        "artifact_id": "a",
                        "name": "n",
                        "description": "d",
                        "dependencies": [],
                        "shade": {"artifacts": ["x:y"]},
                    }
                }
            },
            "relocations",
        ),
        ({"modules": {}}, "no \\[modules"),
        ({"other": 1}, "unknown top-level key"),
    ],
)
def test_bad_dependency_lists(table: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        poms.parse_modules(table, "deps.toml")


def test_stale_pom_is_detected_and_regenerated(project_root: Path, tmp_path: Path) -> None:
    java = _java_copy(project_root, tmp_path)
    pom = java / "runtime" / "pom.xml"
    good = pom.read_bytes()
    pom.write_text(pom.read_text().replace("2.11.0", "2.10.0"))
    project = poms.load_project(java)
    with pytest.raises(StaleError) as info:
        poms.check(project)
    assert info.value.exit_code == 8
    assert "runtime/pom.xml" in str(info.value)
    assert "-      <version>2.10.0</version>" in str(info.value)
    assert "generate-poms" in str(info.value)
    assert poms.write(project) == [pom]
    assert pom.read_bytes() == good
    assert sorted(p.name for p in (java / "runtime").iterdir()) == ["pom.xml"]  # no temp left
    assert poms.write(project) == []


def test_changed_dependency_list_makes_committed_poms_stale(
    project_root: Path, tmp_path: Path
) -> None:
    java = _java_copy(project_root, tmp_path)
    deps = java / "dependencies.toml"
    deps.write_text(
        deps.read_text().replace('"junit:junit:4.13.2:test",\n]', '"x:y:1:test",\n]', 1)
    )
    with pytest.raises(StaleError, match=r"api/pom\.xml"):
        poms.check(poms.load_project(java))


def test_missing_module_directory(project_root: Path, tmp_path: Path) -> None:
    java = _java_copy(project_root, tmp_path)
    shutil.rmtree(java / "serve")
    with pytest.raises(InputError, match="serve"):
        poms.render_all(poms.load_project(java))


def test_central_metadata_inherited_from_parent(project_root: Path, tmp_path: Path) -> None:
    java = project_root / "java"
    assert poms.missing_metadata(java / "pom.xml", None) == []
    assert poms.missing_metadata(java / "api" / "pom.xml", java / "pom.xml") == []
    assert poms.missing_metadata(java / "api" / "pom.xml", None) == [
        "url",
        "licenses",
        "scm",
        "developers",
    ]
    bare = tmp_path / "bare.pom"
    bare.write_text(f'<project xmlns="{poms.POM_NS}"><name>x</name></project>')
    assert poms.missing_metadata(bare, None) == [
        "description",
        "url",
        "licenses",
        "scm",
        "developers",
    ]
