"""``build-support init``: what it writes after looking at the tree, and what it refuses."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from build_support import cli, config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.subprocess  # init asks git for the branch

EXISTING = """\
# the project's own comment
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "Tiny-Pkg"
version = "1.0"

[tool.ruff]
line-length = 99
"""


def _tree(root: Path) -> Path:
    (root / "tiny_pkg").mkdir(parents=True)
    (root / "tiny_pkg" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text(EXISTING)
    (root / "libs" / "helper").mkdir(parents=True)
    (root / "libs" / "helper" / "pyproject.toml").write_text('[project]\nname = "helper"\n')
    (root / "libs" / "helper" / "helper").mkdir()
    (root / "libs" / "helper" / "helper" / "_version.py").write_text('commit = "{{COMMIT_SHA}}"\n')
    (root / ".venv").mkdir()  # hidden folders are not looked at
    (root / ".venv" / "pyproject.toml").write_text('[project]\nname = "nope"\n')
    (root / "java").mkdir()
    (root / "java" / "pom.xml").write_text("<project/>\n")
    (root / "docker" / "tiny").mkdir(parents=True)
    (root / "docker" / "tiny" / "Dockerfile").write_text("FROM scratch\n")
    return root


def test_init_appends_a_valid_config_and_keeps_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tree(tmp_path / "proj")
    assert cli.main(["init", "--dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "wrote pyproject.toml\nwrote noxfile.py\nwrote ci/build.rules.txt\n" in out
    text = (root / "pyproject.toml").read_text()
    assert text.startswith(EXISTING)  # nothing of the project's file lost or reordered
    data = tomllib.loads(text)
    assert data["tool"]["ruff"] == {"line-length": 99}
    table = data["tool"]["build_support"]
    assert table["stages"] == ["wheel", "release-tests", "publish"]
    assert table["wheel"]["projects"] == [".", "libs/helper"]
    # the helper has a version file with the placeholder; the root project does not
    assert table["wheel"]["stamp"] == {".": {"into": "dist-info"}}
    assert table["release_tests"]["package"] == "tiny_pkg"
    assert "# [tool.build_support.jars]" in text  # found, to fill in
    assert "docker/tiny/Dockerfile" in text
    cfg = config.load(root)  # the config the stages will read
    assert cfg.stages == ("wheel", "release-tests", "publish")
    assert "import tiny_pkg" in (root / "release/release_tests.yaml").read_text()


@pytest.mark.parametrize(
    ("present", "named"),
    [
        ({"noxfile.py": "# mine\n"}, "noxfile.py"),
        ({"ci/build.rules.txt": "! x\n"}, "ci/build.rules.txt"),
        ({"pyproject.toml": "[tool.build_support]\n"}, "pyproject.toml ([tool.build_support])"),
        ({"pyproject.toml": "tool = { ruff = {} }\n"}, "cannot be appended"),
    ],
)
def test_init_overwrites_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], present: dict[str, str], named: str
) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    for rel, text in present.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    assert cli.main(["init", "--dir", str(root)]) == 2
    err = capsys.readouterr().err
    assert named in err
    assert "nothing written" in err
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    for rel, text in present.items():
        assert (root / rel).read_text() == text
