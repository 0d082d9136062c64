"""Typed pipeline config, read from ``[tool.build_support]`` in pyproject.toml.

Reading, validating and computing are separate steps: :func:`load` reads the TOML,
:func:`parse_section` turns a table into a frozen dataclass (rejecting unknown keys
and values of the wrong type or outside an allowed set, naming the key, the value and
what is allowed), and stages ask for their own section with :meth:`Config.section`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from build_support.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

T = TypeVar("T")

TABLE = "tool.build_support"

SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
SUPPORTED_PLATFORMS = ("manylinux2014_x86_64", "manylinux2014_aarch64", "macosx_12_0_arm64")

#: Sections a stage may define under ``[tool.build_support.<name>]``.
SECTIONS = (
    "paths",
    "lock",
    "store",
    "wheel",
    "jars",
    "images",
    "release_tests",
    "publish",
    "ciplan",
    "rootfs",
    "redact",
)

#: Environment variable that overrides ``artifact_store`` (e.g. ``s3://bucket/prefix``).
STORE_ENV = "BUILD_SUPPORT_STORE"


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (tuple, list):
        return f"a list of {_type_name(get_args(tp)[0])}"
    if origin in (dict, Mapping):
        return f"a table of {_type_name(get_args(tp)[1])}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if tp is type(None):
        return "unset"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _non_negative(value: float, where: str) -> float:
    """Every number in the config is a count, a size, an id or a duration: finite, >= 0."""
    if not math.isfinite(value) or value < 0:
        raise ConfigError(
            f"{where} = {value!r} is invalid: expected a finite number >= 0",
            hint=f"fix {where} in pyproject.toml (nan, inf and negative numbers are refused)",
        )
    return value


def _coerce(value: Any, tp: Any, where: str) -> Any:  # noqa: PLR0911, PLR0912
    origin = get_origin(tp)
    bad = ConfigError(
        f"{where} = {value!r} is invalid: expected {_type_name(tp)}",
        hint=f"fix {where} in pyproject.toml",
    )
    if origin is Literal:
        if value not in get_args(tp):
            raise bad
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in get_args(tp):
            if arg is type(None) and value is None:
                return None
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                continue
        raise bad
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise bad
        (inner, *_rest) = get_args(tp)
        return tuple(_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping):
        if not isinstance(value, dict):
            raise bad
        _k, inner = get_args(tp)
        return types.MappingProxyType(
            {str(k): _coerce(v, inner, f"{where}.{k}") for k, v in value.items()}
        )
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return _non_negative(value, where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad
        return float(_non_negative(value, where))
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise bad
        return parse_section(tp, value, where)
    raise TypeError(f"unsupported config field type {tp!r} at {where}")  # pragma: no cover


def parse_section(cls: type[T], table: Mapping[str, Any], where: str) -> T:
    """Build the frozen dataclass ``cls`` from ``table``; unknown keys are errors."""
    if not dataclasses.is_dataclass(cls):  # pragma: no cover - programming error
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name.replace("_", "-"): f for f in dataclasses.fields(cls) if f.init}
    fields.update({f.name: f for f in dataclasses.fields(cls) if f.init})
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        f = fields.get(key)
        if f is None:
            allowed = ", ".join(sorted(x.name for x in dataclasses.fields(cls) if x.init))
            raise ConfigError(
                f"unknown key {where}.{key} (value {value!r})",
                hint=f"allowed keys in [{where}]: {allowed}",
            )
        kwargs[f.name] = _coerce(value, hints[f.name], f"{where}.{key}")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except TypeError as exc:
        raise ConfigError(f"[{where}] is incomplete: {exc}") from exc


@dataclass(frozen=True, kw_only=True)
class Paths:
    """Where the product's sources live, relative to the project root."""

    python: str = "python"
    java: str = "java"
    docker: str = "docker"
    release_tests: str = "release/release_tests.yaml"
    requirements: str = "requirements"
    dist: str = "dist"


@dataclass(frozen=True, kw_only=True)
class Config:
    """The resolved pipeline config."""

    root: Path
    python_versions: tuple[str, ...] = SUPPORTED_PYTHONS
    platforms: tuple[str, ...] = SUPPORTED_PLATFORMS
    default_branch: str = "main"
    artifact_store: str = ".artifacts"
    python_search_paths: tuple[str, ...] = ()
    paths: Paths = field(default_factory=Paths)
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        """An absolute path for one of :class:`Paths`' entries."""
        return self.root / str(getattr(self.paths, name))

    def section(self, name: str, cls: type[T]) -> T:
        """The stage section ``[tool.build_support.<name>]`` as the dataclass ``cls``."""
        if name not in SECTIONS:  # pragma: no cover - programming error
            raise KeyError(name)
        return parse_section(cls, self.sections.get(name, {}), f"{TABLE}.{name}")

    def store_url(self, env: Mapping[str, str] | None = None) -> str:
        """The artifact store location; ``BUILD_SUPPORT_STORE`` overrides the config."""
        env = os.environ if env is None else env
        url = env.get(STORE_ENV) or self.artifact_store
        if "://" not in url and not Path(url).is_absolute():
            return str(self.root / url)
        return url


def _validate_versions(values: tuple[str, ...], where: str) -> None:
    for v in values:
        if v not in SUPPORTED_PYTHONS:
            raise ConfigError(
                f"{where} contains {v!r}, which is not a supported Python version",
                hint="allowed: " + ", ".join(SUPPORTED_PYTHONS),
            )


def _validate_platforms(values: tuple[str, ...], where: str) -> None:
    for v in values:
        if v not in SUPPORTED_PLATFORMS:
            raise ConfigError(
                f"{where} contains {v!r}, which is not a supported platform",
                hint="allowed: " + ", ".join(SUPPORTED_PLATFORMS),
            )


_TOP_KEYS = (
    "python_versions",
    "platforms",
    "default_branch",
    "artifact_store",
    "python_search_paths",
)


def from_table(table: Mapping[str, Any], root: Path) -> Config:
    """Validate the ``[tool.build_support]`` table into a :class:`Config`."""
    kwargs: dict[str, Any] = {}
    sections: dict[str, Mapping[str, Any]] = {}
    hints = typing.get_type_hints(Config)
    for key, value in table.items():
        if key in _TOP_KEYS:
            kwargs[key] = _coerce(value, hints[key], f"{TABLE}.{key}")
        elif key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{TABLE}.{key} must be a table, got {value!r}")
            sections[key] = value
        else:
            allowed = ", ".join([*_TOP_KEYS, *SECTIONS])
            raise ConfigError(
                f"unknown key {TABLE}.{key} (value {value!r})",
                hint=f"allowed keys in [{TABLE}]: {allowed}",
            )
    paths = parse_section(Paths, sections.get("paths", {}), f"{TABLE}.paths")
    config = Config(root=root, paths=paths, sections=sections, **kwargs)
    _validate_versions(config.python_versions, f"{TABLE}.python_versions")
    _validate_platforms(config.platforms, f"{TABLE}.platforms")
    if not config.python_versions:
        raise ConfigError(f"{TABLE}.python_versions is empty", hint="list at least one version")
    return config


def find_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` holding a pyproject.toml."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "pyproject.toml").is_file():
            return candidate
    raise ConfigError(
        f"no pyproject.toml found at or above {here}",
        hint="run the session from the project root",
    )


def load(root: Path | None = None) -> Config:
    """Read and validate the pipeline config of the project at ``root``."""
    root = find_root(root)
    path = root / "pyproject.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid UTF-8 ({exc.reason} at byte {exc.start})",
            hint="TOML files are UTF-8: save it as UTF-8, or restore it (git checkout -- "
            "pyproject.toml)",
        ) from None
    table = data.get("tool", {}).get("build_support")
    if table is None:
        raise ConfigError(
            f"{path} has no [{TABLE}] table",
            hint="add one; see README.md, section 'Configuration'",
        )
    return from_table(table, root)
