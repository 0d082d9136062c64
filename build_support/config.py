"""Typed pipeline config, read from ``[tool.build_support]`` in pyproject.toml.

Reading, validating and computing are separate steps: :func:`load` reads the TOML,
:func:`parse_section` turns a table into a frozen dataclass (rejecting unknown keys,
with the closest allowed key as a hint, and values of the wrong type, outside an
allowed set, or not finite and >= 0, naming the key, the value and what is allowed),
and stages ask for their own section with :meth:`Config.section`.

Every section is validated when the config loads, not when its stage first reads it:
:data:`SECTIONS` registers each ``[tool.build_support.<name>]`` with the dataclass that
reads it, and a section that no stage reads is refused. A new stage's section is named
in its entry of :data:`build_support.stages.STAGES` (see :data:`SECTIONS`).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import math
import os
import re
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, get_args, get_origin, runtime_checkable

from build_support import stages
from build_support.errors import ConfigError
from build_support.platforms import TAG_TARGETS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

T = TypeVar("T")

TABLE = "tool.build_support"

SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
#: The wheel platform tags a stage may target (the platform table's, build_support.platforms).
SUPPORTED_PLATFORMS = tuple(TAG_TARGETS)

#: Sections that no single stage owns, ``[tool.build_support.<name>]`` → ``"module:Class"``.
_SHARED_SECTIONS: dict[str, str] = {
    "paths": "build_support.config:Paths",
    "rootfs": "build_support.containers.settings:RootfsSettings",
    "redact": "build_support.redact:RedactSettings",
    # read by every stage that writes an artifact (its SBOM and provenance) and by verify
    "provenance": "build_support.supplychain.settings:ProvenanceSettings",
}

#: Every section a stage reads, ``[tool.build_support.<name>]`` → ``"module:Class"``, the
#: frozen dataclass that reads it: the shared ones above and each stage's ``section`` /
#: ``settings`` in :data:`build_support.stages.STAGES`. A section not listed here is
#: refused at load ("no stage reads it"), so a stage's section becomes valid when the
#: stage lands:
#:
#:   1. put its settings dataclass (frozen, ``kw_only``) in a *light* module: standard
#:      library and build_support's light modules only, e.g. a ``<stage>/settings.py``
#:      (the noxfile loads the config; a unit test fails when loading it imports a
#:      third-party module or a stage module);
#:   2. name it in the stage's entry: ``section="<name>", settings="<module>:<Class>"``;
#:   3. read it in the stage with ``cfg.section("<name>", Class)``.
SECTIONS: Mapping[str, str] = stages.View(lambda: {**_SHARED_SECTIONS, **stages.sections()})


#: A dotted Python (or Java) name, e.g. ``ray._raylet``.
MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def require(where: str, settings: object, *names: str, example: str) -> None:
    """Each of ``names`` is set (non-empty) in ``settings``; else one ConfigError naming them.

    The product's names (its image, wheels, JNI library, …) have no default in the
    harness: a stage that needs them says which keys of ``[<where>]`` to set.
    """
    unset = [n for n in names if not getattr(settings, n)]
    if unset:
        raise ConfigError(
            f"[{where}] does not set {', '.join(unset)}: the project's names have no default",
            hint=f"set them in pyproject.toml, e.g. {example} (docs/onboarding.md)",
        )


@runtime_checkable
class ChecksFiles(Protocol):
    """A section whose values name project files, checked when the config loads."""

    def check_files(self, root: Path) -> None: ...


def section_class(name: str) -> type[Any]:
    """The dataclass registered for section ``name`` in :data:`SECTIONS`."""
    module, _, attr = SECTIONS[name].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):  # pragma: no cover
        raise TypeError(f"SECTIONS[{name!r}] = {SECTIONS[name]!r} is not a dataclass")
    return cls


class PythonVersion(str):
    """A supported CPython ``major.minor`` ("3.12"), parsed and checked once.

    A ``str`` (so it prints, compares and formats as the version), with the parts as
    numbers for ordering and tags. Config values, section fields and ``--python``
    options of this type are validated where they are read.
    """

    __slots__ = ()

    def __new__(cls, text: str) -> PythonVersion:
        if text not in SUPPORTED_PYTHONS:
            raise ConfigError(
                f"{text!r} is not a supported Python version",
                hint="allowed: " + ", ".join(SUPPORTED_PYTHONS),
            )
        return super().__new__(cls, text)

    @classmethod
    def parse(cls, text: str) -> PythonVersion:
        """The version ``text`` names, or a ConfigError (usable as an argparse ``type``)."""
        return cls(text.strip())

    @property
    def major(self) -> int:
        return int(self.split(".")[0])

    @property
    def minor(self) -> int:
        return int(self.split(".")[1])

    @property
    def key(self) -> tuple[int, int]:
        """For sorting: (3, 9) < (3, 10), which string order gets wrong."""
        return (self.major, self.minor)

    @property
    def cp_tag(self) -> str:
        """The wheel interpreter tag, e.g. ``cp312``."""
        return f"cp{self.major}{self.minor}"


#: Every supported version, parsed (the default of ``python_versions``).
ALL_PYTHONS = tuple(PythonVersion(v) for v in SUPPORTED_PYTHONS)


#: Environment variable that overrides ``artifact_store`` (e.g. ``s3://bucket/prefix``).
STORE_ENV = "BUILD_SUPPORT_STORE"


def _type_name(tp: Any) -> str:  # noqa: PLR0911 - one return per kind of type
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
    if tp is PythonVersion:
        return "a Python version (" + ", ".join(SUPPORTED_PYTHONS) + ")"
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
        if value is None and type(None) in get_args(tp):
            return None
        options = [a for a in get_args(tp) if a is not type(None)]
        if len(options) == 1:  # X | None: X's own, precise message
            return _coerce(value, options[0], where)
        for arg in options:
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
    if tp is PythonVersion:
        if not isinstance(value, str):
            raise bad
        try:
            return PythonVersion(value)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc.message}", hint=exc.hint) from None
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise bad
        return parse_section(tp, value, where)
    raise TypeError(f"unsupported config field type {tp!r} at {where}")  # pragma: no cover


def _unknown_hint(key: str, allowed: list[str], what: str) -> str:
    """``did you mean 'x'?`` for the closest allowed name, then the allowed names."""
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    listing = f"{what}: {', '.join(allowed)}"
    return f"did you mean {close[0]!r}? {listing}" if close else listing


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
            names = sorted(x.name for x in dataclasses.fields(cls) if x.init)
            raise ConfigError(
                f"unknown key {where}.{key} (value {value!r})",
                hint=_unknown_hint(key.replace("-", "_"), names, f"allowed keys in [{where}]"),
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
    python_versions: tuple[PythonVersion, ...] = ALL_PYTHONS
    platforms: tuple[str, ...] = SUPPORTED_PLATFORMS
    default_branch: str = "main"
    artifact_store: str = ".artifacts"
    python_search_paths: tuple[str, ...] = ()
    #: The stages this project has (``nox -s pipeline`` runs only these); empty: every
    #: stage of the pipeline (:func:`build_support.stages.pipeline_stages`).
    stages: tuple[str, ...] = ()
    paths: Paths = field(default_factory=Paths)
    #: The raw tables, as written in pyproject.toml.
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Every registered section, validated when the Config is made (also by
    #: ``dataclasses.replace``): name → its dataclass, defaults if absent.
    settings: Mapping[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (
            not self.default_branch
            or any(c.isspace() for c in self.default_branch)
            or (self.default_branch.startswith("-"))
        ):
            raise ConfigError(
                f"{TABLE}.default_branch = {self.default_branch!r} is not a branch name: "
                "gates, store promotion and image tags compare against it",
                hint='name the branch releases come from, e.g. default_branch = "main" '
                "(the default)",
            )
        for name in self.sections:
            if name not in SECTIONS:
                raise ConfigError(
                    f"unknown section [{TABLE}.{name}]: no stage reads it",
                    hint=_unknown_hint(name, sorted(SECTIONS), "sections"),
                )
        settings = {
            name: parse_section(section_class(name), self.sections.get(name, {}), _where(name))
            for name in SECTIONS
        }
        settings["paths"] = self.paths  # from_table parses [paths] into this field
        for value in settings.values():
            if isinstance(value, ChecksFiles):
                value.check_files(self.root)
        object.__setattr__(self, "settings", types.MappingProxyType(settings))

    def path(self, name: str) -> Path:
        """An absolute path for one of :class:`Paths`' entries."""
        return self.root / str(getattr(self.paths, name))

    def section(self, name: str, cls: type[T]) -> T:
        """The section ``[tool.build_support.<name>]``, validated at load, as ``cls``.

        ``cls`` must be the class :data:`SECTIONS` registers for ``name`` (one reader
        per section), else TypeError; an unregistered ``name`` is a KeyError.
        """
        if name not in SECTIONS:
            raise KeyError(
                f"section {name!r} is not registered: add it to build_support.config.SECTIONS"
            )
        value = self.settings[name]
        if not isinstance(value, cls):
            raise TypeError(
                f"[{TABLE}.{name}] is read with {cls.__qualname__}, "
                f"but SECTIONS registers {SECTIONS[name]}"
            )
        return value

    def store_url(self, env: Mapping[str, str] | None = None) -> str:
        """The artifact store location; ``BUILD_SUPPORT_STORE`` overrides the config."""
        env = os.environ if env is None else env
        url = env.get(STORE_ENV) or self.artifact_store
        if "://" not in url and not Path(url).is_absolute():
            return str(self.root / url)
        return url


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
    "stages",
)


def _where(name: str) -> str:
    return f"{TABLE}.{name}"


def from_table(table: Mapping[str, Any], root: Path) -> Config:
    """Validate the ``[tool.build_support]`` table, every section of it, into a Config."""
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
        elif isinstance(value, dict):
            raise ConfigError(
                f"unknown section [{TABLE}.{key}]: no stage reads it",
                hint=_unknown_hint(key, sorted(SECTIONS), "sections"),
            )
        else:
            raise ConfigError(
                f"unknown key {TABLE}.{key} (value {value!r})",
                hint=_unknown_hint(key, [*_TOP_KEYS, *SECTIONS], f"allowed keys in [{TABLE}]"),
            )
    paths = parse_section(Paths, sections.get("paths", {}), _where("paths"))
    config = Config(root=root, paths=paths, sections=sections, **kwargs)
    _validate_platforms(config.platforms, f"{TABLE}.platforms")
    known = stages.pipeline_stages()
    for name in config.stages:
        if name not in known:
            raise ConfigError(
                f"{TABLE}.stages contains {name!r}, which is not a stage of the pipeline",
                hint="allowed: " + ", ".join(known),
            )
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
