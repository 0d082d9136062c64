"""Where Python packages come from: the installers' own configuration, never a built-in host.

No stage names a package index. pip reads its sources from pip.conf and ``PIP_INDEX_URL``
/ ``PIP_EXTRA_INDEX_URL`` / ``PIP_FIND_LINKS`` / ``PIP_NO_INDEX``; uv from
``UV_DEFAULT_INDEX`` / ``UV_INDEX_URL`` / ``UV_INDEX`` / ``UV_EXTRA_INDEX_URL`` /
``UV_FIND_LINKS``. When uv is run and none of its index variables is set, :func:`uv_env`
hands it pip's sources, so that both installers of one stage resolve from the same place
(pip's configuration is the one most mirrors are set up with).

pip's view is asked from pip itself (``pip config list``), so its precedence rules
(environment over ``[install]`` over ``[global]``, files in pip's order) are pip's own.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from build_support import cmd, redact
from build_support.errors import InterpreterNotFoundError

#: uv's variables that choose where packages come from; any one set means uv is configured.
UV_SOURCE_VARS = (
    "UV_DEFAULT_INDEX",
    "UV_INDEX_URL",
    "UV_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
)
#: pip's variables that choose where packages come from.
PIP_SOURCE_VARS = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX")

_TRUE = frozenset({"1", "true", "yes", "on"})
#: pip's override order for the install command: later wins.
_PIP_SECTIONS = ("global", "install", ":env:")


@dataclass(frozen=True, kw_only=True)
class Sources:
    """The package sources one installer run uses."""

    #: None: the installer's built-in default index.
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    #: Where these came from, for messages and the lockfile header.
    origin: str = ""


def _is_remote(location: str) -> bool:
    return "://" in location and not location.startswith("file:")


def _shown(location: str) -> str:
    """A location for messages: a URL without credentials; no local path."""
    return redact.url(location) if _is_remote(location) else "a local folder"


def describe(sources: Sources, *, installer: str = "pip") -> str:
    """One line saying where packages come from, credentials and local paths left out."""
    if sources.no_index:
        text = "none (--no-index)"
    elif sources.index_url:
        text = _shown(sources.index_url)
    else:
        text = f"{installer}'s default index (no index configured)"
    text += "".join(f" + {_shown(u)}" for u in sources.extra_index_urls)
    remote = [_shown(f) for f in sources.find_links if _is_remote(f)]
    local = len(sources.find_links) - len(remote)
    text += "".join(f" + find-links {f}" for f in remote)
    if local:
        text += f" + {local} local find-links folder{'s' if local > 1 else ''}"
    if sources.origin:
        text += f" (from {sources.origin})"
    return text


def parse_pip_config(text: str) -> Sources:
    """pip's effective install sources from ``pip config list`` output."""
    values: dict[tuple[str, str], str] = {}
    for line in text.splitlines():
        key, sep, raw = line.partition("=")
        section, dot, name = key.strip().rpartition(".")
        if not (sep and dot) or section not in _PIP_SECTIONS:
            continue
        try:
            value = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            value = raw.strip().strip("'\"")
        if str(value).strip():  # an empty variable counts as unset
            values[(section, name.replace("_", "-"))] = str(value)

    def pick(name: str) -> tuple[str, str] | None:
        for section in reversed(_PIP_SECTIONS):
            if (section, name) in values:
                return values[(section, name)], section
        return None

    origins: list[str] = []

    def get(name: str) -> str:
        found = pick(name)
        if found is None:
            return ""
        value, section = found
        where = f"PIP_{name.upper().replace('-', '_')}" if section == ":env:" else "pip.conf"
        if where not in origins:
            origins.append(where)
        return value

    index = get("index-url")
    extra = tuple(get("extra-index-url").split())
    links = tuple(get("find-links").split())
    no_index = (pick("no-index") or ("",))[0].lower() in _TRUE
    if no_index:
        get("no-index")  # named among the origins only when it is on
    return Sources(
        index_url=index or None,
        extra_index_urls=extra,
        find_links=links,
        no_index=no_index,
        origin=", ".join(origins),
    )


def pip_python(prefer: str | None = None) -> str:
    """An interpreter with pip: this one, else Python ``prefer`` or any supported one found."""
    if importlib.util.find_spec("pip") is not None:
        return sys.executable
    from build_support import pythons
    from build_support.config import SUPPORTED_PYTHONS

    for version in (*([prefer] if prefer else []), *SUPPORTED_PYTHONS):
        interp = pythons.find(version)
        if interp is not None:
            return str(interp.path)
    raise InterpreterNotFoundError(
        "no Python with pip found",
        hint="install pip into the session's venv (python -m ensurepip)",
    )


def pip_sources(python: str | None = None, env: Mapping[str, str] | None = None) -> Sources:
    """Where ``python -m pip install`` takes packages from, as pip itself reports it."""
    merged = {**os.environ, **(env or {})}
    pip_vars = tuple(sorted((k, v) for k, v in merged.items() if k.startswith("PIP_")))
    return parse_pip_config(_pip_config_list(python or pip_python(), pip_vars))


@functools.lru_cache(maxsize=16)
def _pip_config_list(python: str, pip_vars: tuple[tuple[str, str], ...]) -> str:
    """``pip config list`` (once per interpreter and ``PIP_*`` environment)."""
    return cmd.output(
        [python, "-m", "pip", "config", "list"],
        env={**dict(pip_vars), "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )


def uv_sources(env: Mapping[str, str]) -> Sources | None:
    """uv's own sources from its environment variables; None when none is set."""
    if not any(env.get(v) for v in UV_SOURCE_VARS):
        return None
    set_vars = [v for v in UV_SOURCE_VARS if env.get(v)]
    extra = (env.get("UV_INDEX", "") + " " + env.get("UV_EXTRA_INDEX_URL", "")).split()
    return Sources(
        index_url=env.get("UV_DEFAULT_INDEX") or env.get("UV_INDEX_URL") or None,
        extra_index_urls=tuple(extra),
        find_links=tuple(f for f in env.get("UV_FIND_LINKS", "").split(",") if f.strip()),
        origin=", ".join(set_vars),
    )


def uv_env_for(sources: Sources) -> tuple[dict[str, str], list[str]]:
    """(uv variables, uv options) that make uv use ``sources`` (uv has no no-index variable)."""
    env: dict[str, str] = {}
    if sources.index_url:
        env["UV_DEFAULT_INDEX"] = sources.index_url
    if sources.extra_index_urls:
        env["UV_INDEX"] = " ".join(sources.extra_index_urls)
    # pip skips a local find-links folder that does not exist; uv would fail on it.
    links = [
        f for f in sources.find_links if _is_remote(f) or Path(f.removeprefix("file://")).exists()
    ]
    if links:
        env["UV_FIND_LINKS"] = ",".join(links)
    return env, (["--no-index"] if sources.no_index else [])


def uv_env(
    env: Mapping[str, str] | None = None, *, python: str | None = None
) -> tuple[dict[str, str], list[str], Sources]:
    """(variables to add to a uv command, options to add, the sources uv will use).

    uv's own variables win; without any, uv gets pip's configured sources (nothing when
    pip has none either, so uv uses its own default and its own config files).
    """
    env = os.environ if env is None else env
    own = uv_sources(env)
    if own is not None:
        return {}, [], own
    pip = pip_sources(python, env)
    extra, args = uv_env_for(pip)
    return extra, args, pip
