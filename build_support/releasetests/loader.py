"""Load ``release_tests.yaml``: line numbers, DEFAULTS, matrix, variations, smoke tests.

Steps, each separate: read the YAML with a loader that records the line of every
mapping key; expand each entry (``matrix``: the cartesian product of ``setup`` plus
each ``adjustments[].with``, substituting ``{{var}}``; ``variations``: one test per
entry, named ``name.<__suffix__>``); deep-merge the ``DEFAULTS`` entry under every test;
validate each step with the JSON schema in :mod:`schema`. An error names the file and
line, the test, the key path, what is wrong and what is allowed.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from build_support.errors import InputError
from build_support.releasetests import schema

DEFAULTS_NAME = "DEFAULTS"
_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class LineDict(dict[str, Any]):
    """A YAML mapping that remembers the line (1-based) of itself and each key."""

    line: int = 0
    key_lines: dict[str, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines = {}


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings are :class:`LineDict`."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool):
            raise InputError(
                f"line {key_node.start_mark.line + 1}: mapping keys must be scalars",
            )
        skey = str(key)
        if skey in result:
            raise InputError(
                f"line {key_node.start_mark.line + 1}: duplicate key {skey!r}"
                f" (first at line {result.key_lines[skey]})",
                hint="remove one of them",
            )
        result[skey] = loader.construct_object(value_node, deep=True)
        result.key_lines[skey] = key_node.start_mark.line + 1
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> Any:
    """Parse ``path``; syntax errors become an :class:`InputError` with the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"release test file {path} does not exist",
            hint="create it, or set [tool.build_support.paths] release_tests",
        ) from None
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise InputError(
            f"{where}: malformed YAML: {exc.problem or exc}",
            hint="fix the YAML syntax (indentation, quotes, colons) at that line",
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: malformed YAML: {exc}") from None


# --------------------------------------------------------------------------- merging


def deep_update(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated in place with ``update``; nested mappings merge, the rest replaces."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            base[key] = deep_update(dict(base[key]), value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def substitute(value: Any, variables: Mapping[str, Any]) -> Any:
    """Replace ``{{var}}`` everywhere; a string that is only ``{{var}}`` takes its type."""
    if isinstance(value, Mapping):
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    if isinstance(value, str):
        whole = _VAR.fullmatch(value.strip())
        if whole and whole.group(1) in variables:
            return copy.deepcopy(variables[whole.group(1)])
        return _VAR.sub(
            lambda m: str(variables[m.group(1)]) if m.group(1) in variables else m.group(0),
            value,
        )
    return value


def matrix_combinations(matrix: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The cartesian product of ``setup``, then one combination per ``adjustments[].with``."""
    setup = matrix.get("setup", {})
    names = list(setup)
    combos = [
        dict(zip(names, values, strict=True)) for values in itertools.product(*setup.values())
    ]
    combos.extend(dict(adj["with"]) for adj in matrix.get("adjustments", []) or [])
    return combos


# --------------------------------------------------------------------------- validation


def _lookup_line(nodes: Sequence[Any], path: Sequence[str | int]) -> int | None:
    """The line of the deepest key of ``path`` found in the first node that has it."""
    for node in nodes:
        line = None
        current = node
        for part in path:
            if isinstance(current, LineDict) and isinstance(part, str) and part in current:
                line = current.key_lines.get(part, line)
                current = current[part]
            elif isinstance(current, list) and isinstance(part, int) and part < len(current):
                current = current[part]
                line = getattr(current, "line", line)
            else:
                break
        if line is not None:
            return line
    return None


def _describe(error: jsonschema.ValidationError) -> tuple[list[str | int], str]:
    """The key path and an explanation (with what is allowed) of one schema error."""
    path: list[str | int] = list(error.absolute_path)
    sub: Any = error.schema
    value: Any = error.validator_value
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = set(sub.get("properties", {}) if isinstance(sub, Mapping) else ())
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            return [*path, extra[0]], (
                f"unknown key {extra[0]!r}; allowed here: " + ", ".join(sorted(allowed))
            )
    if error.validator == "enum":
        options = ", ".join(str(o) for o in value)
        return path, f"{error.instance!r} is not allowed; allowed: {options}"
    if error.validator == "required":
        return path, f"{error.message}; required here: " + ", ".join(str(v) for v in value)
    if error.validator == "not" and isinstance(error.instance, Mapping):
        return path, "a test cannot use both 'variations' and 'matrix'"
    if error.validator == "pattern":
        return path, f"{error.instance!r} does not match {value!r}"
    return path, error.message


def validate(
    data: Mapping[str, Any],
    test_schema: Mapping[str, Any],
    *,
    file: Path,
    test_name: str,
    nodes: Sequence[Any],
) -> None:
    """Validate ``data``; the first (most relevant) error becomes an InputError."""
    validator = jsonschema.Draft202012Validator(test_schema)
    errors = sorted(validator.iter_errors(_plain(data)), key=lambda e: (len(e.path), e.message))
    if not errors:
        return
    best = jsonschema.exceptions.best_match(errors) or errors[0]
    path, why = _describe(best)
    line = _lookup_line(nodes, path)
    if line is None:
        line = _lookup_line(nodes, path[:-1]) if path else None
    if line is None:
        line = next((n.line for n in nodes if isinstance(n, LineDict)), 0)
    key = ".".join(str(p) for p in path) or "(test)"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    raise InputError(
        f"{file}:{line}: test {test_name!r}: {key}: {why}{more}",
        hint=f"fix {key} of {test_name!r} in {file.name}; the schema is in "
        "build_support/releasetests/schema.py",
    )


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    script: str
    timeout: float
    type: str = "command"
    prepare: str | None = None
    prepare_timeout: float | None = None
    long_running: bool = False
    artifact_path: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReleaseTest:
    """One runnable test after expansion (and, when asked, with its smoke test applied)."""

    name: str
    team: str
    frequency: str
    working_dir: Path
    run: RunSpec
    group: str = ""
    python: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    env_name: str | None = None
    stable: bool = True
    alert: str | None = None
    cluster: Mapping[str, Any] = field(default_factory=dict)
    smoke: bool = False
    has_smoke_test: bool = False
    line: int = 0
    definition: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Collection:
    path: Path
    tests: tuple[ReleaseTest, ...]

    def names(self) -> list[str]:
        return [t.name for t in self.tests]

    def __iter__(self) -> Iterator[ReleaseTest]:
        return iter(self.tests)


def _env_of(test: Mapping[str, Any]) -> tuple[dict[str, str], str | None]:
    env: dict[str, str] = {}
    for item in test.get("cluster", {}).get("byod", {}).get("runtime_env", []) or []:
        key, _, value = str(item).partition("=")
        env[key] = value
    raw = test.get("env")
    if isinstance(raw, Mapping):
        env.update({str(k): _env_value(v) for k, v in raw.items()})
        return env, None
    return env, raw if isinstance(raw, str) else None


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _build(test: Mapping[str, Any], *, base_dir: Path, smoke: bool, line: int) -> ReleaseTest:
    run = test["run"]
    env, env_name = _env_of(test)
    return ReleaseTest(
        name=test["name"],
        team=test["team"],
        frequency=test["frequency"],
        working_dir=(base_dir / test["working_dir"]).resolve(),
        run=RunSpec(
            script=run["script"],
            timeout=float(run["timeout"]),
            type=run.get("type", "command"),
            prepare=run.get("prepare"),
            prepare_timeout=float(run["prepare_timeout"]) if "prepare_timeout" in run else None,
            long_running=bool(run.get("long_running", False)),
            artifact_path=run.get("artifact_path"),
        ),
        group=test.get("group", ""),
        python=test.get("python"),
        env=env,
        env_name=env_name,
        stable=bool(test.get("stable", True)),
        alert=test.get("alert"),
        cluster=_plain(test.get("cluster", {})),
        smoke=smoke,
        has_smoke_test="smoke_test" in test,
        line=line,
        definition=_plain(test),
    )


def _validate_entry(entry: LineDict, fallback_name: str, path: Path) -> None:
    """Validate one raw list entry (a matrix entry's placeholders are checked later)."""
    label = str(entry.get("name", fallback_name))
    if "matrix" in entry and "variations" in entry:
        raise InputError(
            f"{path}:{entry.line}: test {label!r}: a test cannot use both 'variations' "
            "and 'matrix'",
            hint="split it into two tests",
        )
    if "matrix" in entry:
        # {{var}} placeholders are checked after substitution, in _expand.
        matrix_only = {"matrix": entry["matrix"]}
        validate(
            matrix_only,
            {"type": "object", "properties": {"matrix": schema.MATRIX}},
            file=path,
            test_name=label,
            nodes=[entry],
        )
    else:
        validate(entry, schema.ENTRY, file=path, test_name=label, nodes=[entry])


def load(path: Path, *, smoke: bool = False) -> Collection:
    """Every test of ``path``, expanded, merged, validated, and smoke-applied if asked."""
    data = read_yaml(path)
    if data is None:
        data = []
    if not isinstance(data, list):
        raise InputError(
            f"{path}: the top level must be a list of tests, got {type(data).__name__}",
            hint="start each test with '- name: ...'",
        )
    defaults: LineDict | None = None
    entries: list[LineDict] = []
    for index, entry in enumerate(data):
        if not isinstance(entry, LineDict):
            raise InputError(
                f"{path}: entry #{index + 1} is a {type(entry).__name__}, not a mapping",
                hint="each list item must be a test: '- name: ...'",
            )
        _validate_entry(entry, f"#{index + 1}", path)
        if entry["name"] == DEFAULTS_NAME:
            defaults = entry
        else:
            entries.append(entry)

    base = _plain(defaults) if defaults is not None else {}
    base.pop("name", None)
    tests: list[ReleaseTest] = []
    seen: dict[str, int] = {}
    for entry in entries:
        for name, test, nodes in _expand(entry, path):
            merged = deep_update(copy.deepcopy(base), test)
            all_nodes = [*nodes, *([defaults] if defaults is not None else [])]
            validate(merged, schema.TEST, file=path, test_name=name, nodes=all_nodes)
            applied = False
            if smoke and "smoke_test" in merged:
                merged = deep_update(merged, merged["smoke_test"])
                applied = True
                validate(merged, schema.TEST, file=path, test_name=name, nodes=all_nodes)
            if name in seen:
                raise InputError(
                    f"{path}:{entry.line}: test name {name!r} is defined twice"
                    f" (first at line {seen[name]})",
                    hint="test names must be unique; rename one",
                )
            seen[name] = entry.line
            tests.append(_build(merged, base_dir=path.parent, smoke=applied, line=entry.line))
    return Collection(path=path, tests=tuple(tests))


def _expand(entry: LineDict, path: Path) -> Iterator[tuple[str, dict[str, Any], list[Any]]]:
    """(name, test, nodes for line lookup) for each test an entry stands for."""
    plain = _plain(entry)
    if "matrix" in plain:
        matrix = plain.pop("matrix")
        for combo in matrix_combinations(matrix):
            test = substitute(plain, combo)
            leftover = _VAR.findall(repr(_plain(test)))
            if leftover:
                raise InputError(
                    f"{path}:{entry.line}: test {entry['name']!r}: matrix variable(s) "
                    + ", ".join(sorted(set(leftover)))
                    + " are used but not defined in matrix.setup",
                    hint="defined: " + ", ".join(sorted(matrix.get("setup", {}))),
                )
            validate(test, schema.ENTRY, file=path, test_name=str(test["name"]), nodes=[entry])
            yield str(test["name"]), test, [entry]
        return
    if "variations" in plain:
        variations = plain.pop("variations")
        raw_variations = entry["variations"]
        for variation, raw in zip(variations, raw_variations, strict=True):
            update = dict(variation)
            suffix = update.pop("__suffix__")
            name = f"{plain['name']}.{suffix}"
            test = deep_update(copy.deepcopy(plain), update)
            test["name"] = name
            yield name, test, [raw, entry]
        return
    yield str(plain["name"]), plain, [entry]
