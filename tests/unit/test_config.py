from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from build_support import config
from build_support.errors import ConfigError


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
    with pytest.raises(ConfigError, match="expected a list of a string"):
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
    cfg = config.from_table({"lock": {"backend": "uv", "retries": 5, "timeout": 2}}, tmp_path)
    sec = cfg.section("lock", _Section)
    assert (sec.backend, sec.retries, sec.timeout) == ("uv", 5, 2.0)
    bad = config.from_table({"lock": {"backend": "poetry"}}, tmp_path)
    with pytest.raises(ConfigError, match=r"lock\.backend = 'poetry'.*one of 'uv', 'pip-tools'"):
        bad.section("lock", _Section)
    with pytest.raises(ConfigError, match=r"unknown key tool\.build_support\.lock\.nope"):
        config.from_table({"lock": {"nope": 1}}, tmp_path).section("lock", _Section)
    with pytest.raises(ConfigError, match="expected an integer"):
        config.from_table({"lock": {"retries": True}}, tmp_path).section("lock", _Section)


def test_missing_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    with pytest.raises(ConfigError, match=r"no \[tool.build_support\] table"):
        config.load(tmp_path)


def test_invalid_toml(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.build_support\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(tmp_path)
