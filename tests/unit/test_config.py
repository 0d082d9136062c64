from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from build_support import config
from build_support.errors import ConfigError
from tests.helpers import ROOT


def test_project_config_loads(project_root: Path) -> None:
    cfg = config.load(project_root)
    assert cfg.python_versions == ("3.10", "3.11", "3.12", "3.13")
    assert cfg.path("python") == project_root / "python"


def test_defaults_when_table_is_empty(tmp_path: Path) -> None:
    cfg = config.from_table({}, tmp_path)
    assert cfg.platforms == config.SUPPORTED_PLATFORMS
    assert cfg.store_url({}) == str(tmp_path / ".artifacts")


def test_store_env_overrides_config(tmp_path: Path) -> None:
    cfg = config.from_table({"artifact_store": "/x"}, tmp_path)
    assert cfg.store_url({config.STORE_ENV: "s3://b/p"}) == "s3://b/p"
    assert cfg.store_url({}) == "/x"


def test_unknown_top_key_names_key_value_and_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        config.from_table({"pyhton_versions": ["3.12"]}, tmp_path)
    text = str(exc.value)
    assert "tool.build_support.pyhton_versions" in text
    assert "['3.12']" in text
    assert "python_versions" in text


def test_bad_python_version_names_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'3\.9'.*\n.*3\.10, 3\.11, 3\.12, 3\.13"):
        config.from_table({"python_versions": ["3.9"]}, tmp_path)


def test_wrong_type_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a list of a Python version"):
        config.from_table({"python_versions": "3.12"}, tmp_path)


def test_unknown_platform(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="win_amd64"):
        config.from_table({"platforms": ["win_amd64"]}, tmp_path)


@dataclass(frozen=True, kw_only=True)
class _Section:
    backend: Literal["uv", "pip-tools"] = "pip-tools"
    retries: int = 3
    timeout: float = 1.5


def test_section_parsing_and_literal_errors(tmp_path: Path) -> None:
    table = {"backend": "uv", "retries": 5, "timeout": 2}
    sec = config.parse_section(_Section, table, "tool.build_support.lock")
    assert (sec.backend, sec.retries, sec.timeout) == ("uv", 5, 2.0)
    with pytest.raises(ConfigError, match=r"lock\.backend = 'poetry'.*one of 'pip-tools', 'uv'"):
        config.from_table({"lock": {"backend": "poetry"}}, tmp_path)
    with pytest.raises(ConfigError, match=r"unknown key tool\.build_support\.lock\.nope"):
        config.from_table({"lock": {"nope": 1}}, tmp_path)
    with pytest.raises(ConfigError, match="expected an integer"):
        config.from_table({"lock": {"retries": True}}, tmp_path)


def test_missing_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    with pytest.raises(ConfigError, match=r"no \[tool.build_support\] table"):
        config.load(tmp_path)


def test_invalid_toml(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.build_support\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(tmp_path)


# --- every section validated at load; a registry of sections (issue 11 §3) ------------


def _project(tmp_path: Path, body: str) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text("[tool.build_support]\n" + body, encoding="utf-8")
    return root


def test_a_typo_in_a_stage_section_fails_at_load_with_a_close_match(tmp_path: Path) -> None:
    root = _project(tmp_path, '[tool.build_support.jars]\nplatfroms = ["linux-x86_64"]\n')
    with pytest.raises(ConfigError, match=r"unknown key tool\.build_support\.jars\.platfroms") as e:
        config.load(root)
    assert "did you mean 'platforms'?" in str(e.value)


def test_the_pipeline_stops_on_a_jars_typo_before_lock_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 at load: on the old code lock ran first (here: tried to start a process)."""
    from build_support import cli

    root = _project(
        tmp_path, 'python_versions = ["3.12"]\n[tool.build_support.jars]\nmin_jdkk = 17\n'
    )
    monkeypatch.chdir(root)
    assert cli.run_stage("pipeline", ["--only", "lock-3.12"]) == 2
    err = capsys.readouterr().err
    assert "jars.min_jdkk" in err
    assert "did you mean 'min_jdk'?" in err
    assert not (root / "requirements").exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[tool.build_support.publsh]\n", r"unknown section \[tool\.build_support\.publsh\]"),
        ("[tool.build_support.deploy]\n", r"no stage reads it"),
        ("[tool.build_support.images]\npython_versions = ['3.9']\n", r"'3\.9' is not a supported"),
        ("[tool.build_support.release_tests]\npython = '2.7'\n", r"'2\.7' is not a supported"),
        ("[tool.build_support.wheel]\njobs = -1\n", r"wheel\.jobs = -1 .*finite number >= 0"),
        ("[tool.build_support.jars]\nmaven_timeout_seconds = nan\n", r"= nan .*finite"),
        ("[tool.build_support.images]\nuid = -5\n", r"images\.uid = -5"),
        ("[tool.build_support.release_tests]\nbackoff_min_seconds = inf\n", r"= inf .*finite"),
        ("[tool.build_support.store]\nwait_timeout_seconds = -inf\n", r"= -inf .*finite"),
        ("[tool.build_support.lock]\nretries = -1\n", r"lock\.retries = -1"),
        ("[tool.build_support.ciplan]\nmax_step = 3\n", r"did you mean 'max_steps'"),
        ("[tool.build_support.publish.pypi]\ntimeout_seconds = -1\n", r"timeout_seconds = -1"),
    ],
)
def test_every_section_is_validated_at_load(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"(?s){message}"):
        config.load(_project(tmp_path, body))


def test_unknown_top_level_key_has_a_close_match(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'default_branch'"):
        config.from_table({"default_brnach": "main"}, tmp_path)


def test_every_registered_section_is_a_frozen_keyword_dataclass() -> None:
    for name in config.SECTIONS:
        cls = config.section_class(name)
        params = cls.__dataclass_params__
        assert params.frozen, name
        assert all(f.kw_only for f in dataclasses.fields(cls) if f.init) or name == "paths", name
        cls()  # the defaults are valid


def test_section_reads_the_validated_instance_with_the_registered_class(tmp_path: Path) -> None:
    from build_support.jars.settings import JarsSettings
    from build_support.locks.settings import LockSettings

    cfg = config.from_table({"lock": {"retries": 5}}, tmp_path)
    assert cfg.section("lock", LockSettings).retries == 5
    assert cfg.section("lock", LockSettings) is cfg.section("lock", LockSettings)
    registered = r"SECTIONS registers build_support\.locks\.settings:LockSettings"
    with pytest.raises(TypeError, match=registered):
        cfg.section("lock", _Section)
    with pytest.raises(KeyError, match="not registered"):
        cfg.section("nope", _Section)
    # dataclasses.replace makes a new Config, so it is validated again.
    with pytest.raises(ConfigError, match="platforms is empty"):
        dataclasses.replace(cfg, sections={"jars": {"platforms": []}})
    assert cfg.section("jars", JarsSettings).platforms


@pytest.mark.subprocess
def test_loading_the_config_imports_no_stage_module_and_nothing_third_party(
    project_root: Path,
) -> None:
    """The noxfile and every stage load the config first: it must stay light."""
    from build_support import cli

    code = (
        "import sys, time\n"
        "before = set(sys.modules)\n"
        "t = time.perf_counter()\n"
        "from pathlib import Path\nfrom build_support import config\n"
        f"config.load(Path({str(project_root)!r}))\n"
        "print(round(time.perf_counter() - t, 3))\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project_root,
        env={**os.environ, "PYTHONPATH": str(project_root)},
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, modules = done.stdout.splitlines()
    loaded = set(modules.split())
    third_party = {
        m for m in loaded
        if m.split(".")[0] not in sys.stdlib_module_names and not m.startswith("build_support")
        and not m.startswith("_")
    }  # fmt: skip
    assert third_party == set(), f"config load imported {sorted(third_party)}"
    stage_modules = {t.split(":")[0] for t in cli.STAGES.values()} - {"build_support.cli"}
    # A stage folder's __init__ is a docstring and a lazy main: its stage module counts.
    lazy = {m for m in stage_modules if (ROOT / m.replace(".", "/") / "stage.py").is_file()}
    stage_modules = (stage_modules - lazy) | {f"{m}.stage" for m in lazy}
    stage_modules |= {"build_support.store.s3"}
    assert loaded & stage_modules == set()
    assert float(seconds) < 1.0  # measured ~0.05 s on an idle machine


def test_python_versions_are_parsed_once_into_a_type(tmp_path: Path) -> None:
    cfg = config.from_table({"python_versions": ["3.12", "3.10"]}, tmp_path)
    assert all(isinstance(v, config.PythonVersion) for v in cfg.python_versions)
    assert cfg.python_versions == ("3.12", "3.10")  # still compares as text
    assert sorted(cfg.python_versions, key=lambda v: v.key) == ["3.10", "3.12"]
    assert [v.cp_tag for v in cfg.python_versions] == ["cp312", "cp310"]
    assert config.PythonVersion.parse(" 3.11 ").minor == 11
    with pytest.raises(ConfigError, match=r"'3\.9' is not a supported Python version"):
        config.PythonVersion.parse("3.9")
    images = cfg.section("images", config.section_class("images"))
    assert isinstance(images.default_python, config.PythonVersion)


def test_every_registered_section_is_read_by_some_stage(project_root: Path) -> None:
    """A section is registered only once a stage reads it: its class is used elsewhere."""
    sources = {
        p: p.read_text(encoding="utf-8") for p in (project_root / "build_support").rglob("*.py")
    }
    for name, target in config.SECTIONS.items():
        if name == "paths":
            continue  # read by Config.path()
        module, _, cls = target.partition(":")
        home = project_root / (module.replace(".", "/") + ".py")
        readers = [
            p for p, text in sources.items()
            if p not in (home, project_root / "build_support" / "config.py")
            and re.search(rf"\b{cls}\b", text) and "section(" in text
        ]  # fmt: skip
        assert readers, (
            f"[tool.build_support.{name}] ({target}) is registered but no stage reads it"
        )
