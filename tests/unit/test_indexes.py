"""indexes: where Python packages come from, read from the installers' own configuration."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from build_support import indexes

PIP_CONFIG_LIST = """\
global.cert='/etc/ssl/certs/ca-certificates.crt'
global.index-url='https://global.example/simple'
global.extra-index-url='https://extra.example/simple'
install.index-url='https://install.example/simple'
:env:.index-url='https://ci:t0ken@env.example/simple'
:env:.find-links='/opt/wheels https://links.example/wheels/'
"""


def test_pip_precedence_is_environment_then_install_then_global() -> None:
    sources = indexes.parse_pip_config(PIP_CONFIG_LIST)
    assert sources.index_url == "https://ci:t0ken@env.example/simple"
    assert sources.extra_index_urls == ("https://extra.example/simple",)
    assert sources.find_links == ("/opt/wheels", "https://links.example/wheels/")
    assert not sources.no_index
    assert sources.origin == "PIP_INDEX_URL, pip.conf, PIP_FIND_LINKS"
    without_env = "\n".join(ln for ln in PIP_CONFIG_LIST.splitlines() if ":env:" not in ln)
    assert indexes.parse_pip_config(without_env).index_url == "https://install.example/simple"


def test_nothing_configured_means_the_installers_default() -> None:
    sources = indexes.parse_pip_config(
        "global.cert='/x.pem'\n:env:.default-timeout='60'\n:env:.no-index='false'\n"
        ":env:.index-url=''\n"
    )
    assert sources == indexes.Sources()
    assert indexes.describe(sources) == "pip's default index (no index configured)"
    assert indexes.uv_env_for(sources) == ({}, [])


def test_description_has_no_credentials_and_no_local_paths() -> None:
    text = indexes.describe(indexes.parse_pip_config(PIP_CONFIG_LIST))
    assert text == (
        "https://env.example/simple + https://extra.example/simple"
        " + find-links https://links.example/wheels/ + 1 local find-links folder"
        " (from PIP_INDEX_URL, pip.conf, PIP_FIND_LINKS)"
    )
    assert indexes.describe(indexes.Sources(no_index=True, find_links=("/w",))) == (
        "none (--no-index) + 1 local find-links folder"
    )


def test_uv_own_variables_win_and_pips_reach_uv_otherwise() -> None:
    env = {"UV_DEFAULT_INDEX": "https://uv.example/simple", "PIP_INDEX_URL": "https://p.example"}
    extra, args, sources = indexes.uv_env(env)
    assert (extra, args) == ({}, [])
    assert sources.index_url == "https://uv.example/simple"
    assert sources.origin == "UV_DEFAULT_INDEX"
    assert indexes.uv_sources({"UV_INDEX": "", "PATH": "/bin"}) is None
    pip = indexes.parse_pip_config(PIP_CONFIG_LIST)
    env, args = indexes.uv_env_for(pip)
    assert env["UV_DEFAULT_INDEX"] == "https://ci:t0ken@env.example/simple"
    assert env["UV_INDEX"] == "https://extra.example/simple"
    assert args == []
    assert indexes.uv_env_for(indexes.Sources(no_index=True)) == ({}, ["--no-index"])


@pytest.mark.subprocess
def test_pip_itself_reports_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "http://127.0.0.1:10/simple")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    sources = indexes.pip_sources(sys.executable)
    assert sources.index_url == "http://127.0.0.1:9/simple"
    assert sources.extra_index_urls == ("http://127.0.0.1:10/simple",)
    assert sources.no_index
    extra, args, via_uv = indexes.uv_env({"PIP_INDEX_URL": "http://127.0.0.1:9/simple"})
    assert extra["UV_DEFAULT_INDEX"] == "http://127.0.0.1:9/simple"
    assert args == ["--no-index"]
    assert via_uv.origin.startswith("PIP_INDEX_URL")


def test_uv_gets_only_the_local_find_links_that_exist(tmp_path: Path) -> None:
    """pip skips a missing folder with a warning; uv would fail, so it never sees one."""
    links = (str(tmp_path), str(tmp_path / "missing"), "https://links.example/w/")
    env, _args = indexes.uv_env_for(indexes.Sources(find_links=links))
    assert env == {"UV_FIND_LINKS": f"{tmp_path},https://links.example/w/"}
