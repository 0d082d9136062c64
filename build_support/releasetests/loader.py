"""Load ``release_tests.yaml``: line numbers, DEFAULTS, matrix, variations, smoke tests.

Steps, each separate: read the YAML (size and alias expansion capped, see
:data:`MAX_BYTES`) with a loader that records the line of every mapping key; validate
each raw entry once with the JSON schema in :mod:`schema`; merge the ``DEFAULTS``
entry in force under the entry; expand it (``variations``: one test per item, named
``name.<__suffix__>``; ``matrix``: the cartesian product of ``setup`` plus each
``adjustments[].with``, substituting ``{{var}}``); then check what the merged test
must have. Every problem in the file is reported in one run, each with its file and
line, the test, the key path, what is wrong and what is allowed.

The order is Ray's (``ray_release/config.py``, ``parse_test_definition``): a
``DEFAULTS`` entry applies to the entries *after* it, until the next ``DEFAULTS``
replaces it; it is merged before expansion, so ``{{var}}`` in ``DEFAULTS`` is
substituted in matrix tests (and stays as written in the others, as in Ray). Smoke
tests are not applied here unless asked (``smoke=True``): which tests run as smoke
tests is the selection's decision (:mod:`selection`), made per test with
:func:`apply_smoke`.

Compatibility with Ray's own loader (``yaml.safe_load`` plus its ``schema.json``):
where Ray is lenient this loader warns instead of failing:

- a duplicate key inside one mapping keeps the last value (as PyYAML does), with a
  warning naming both lines;
- ``cluster.byod.type`` may be any string; one outside :data:`schema.BYOD_TYPES` warns;
- ``smoke_test.cluster`` and ``smoke_test.run`` are free-form objects in Ray's schema;
  keys there that the test schema does not know are kept, with a warning;
- a ``matrix`` whose ``setup`` lists are empty expands to its ``adjustments`` only.

One deliberate extension: a value that is exactly ``{{var}}`` takes the variable's
type (Ray always substitutes text), so ``timeout: "{{t}}"`` works with ``t: [60]``.

libyaml's C parser is used when PyYAML has it (line numbers are kept either way).
"""

from __future__ import annotations

import copy
import difflib
import itertools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from build_support import log
from build_support.errors import InputError
from build_support.releasetests import schema

DEFAULTS_NAME = "DEFAULTS"

#: Largest release test file read (Ray's own is about 0.2 MB).
MAX_BYTES = 16 * 1024 * 1024
#: Most YAML aliases (``*name``) one file may use (Ray's files use none).
MAX_ALIASES = 1_000
#: Most nodes the document may have once every alias is expanded (a "billion laughs"
#: file is a few lines that expand to billions; Ray's 433-test file has about 11,000).
MAX_NODES = 1_000_000
_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

#: PyYAML's loader on libyaml's C parser when it was built with it (about 5x faster).
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineDict(dict[str, Any]):
    """A YAML mapping that remembers the line (1-based) of itself and each key."""

    line: int = 0
    key_lines: dict[str, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines = {}


class LineList(list[Any]):
    """A YAML sequence that remembers its line and the line of each item."""

    line: int = 0
    item_lines: list[int]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_lines = []


class _LineLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """A safe loader whose mappings are :class:`LineDict` and sequences :class:`LineList`.

    Duplicate keys keep the last value, as ``yaml.safe_load`` (Ray's reader) does, and
    are recorded in :attr:`duplicates` as warnings.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[str] = []


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str | int | float | bool):
            raise InputError(f"line {line}: mapping keys must be scalars, not {_kind(key)}")
        skey = str(key)
        if skey in result:
            loader.duplicates.append(
                f"line {line}: duplicate key {skey!r} (first at line {result.key_lines[skey]});"
                " the last value is used, as Ray's YAML reader does"
            )
        result[skey] = loader.construct_object(value_node, deep=True)
        result.key_lines[skey] = line
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(item, deep=True) for item in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [item.start_mark.line + 1 for item in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _kind(value: Any) -> str:
    """A YAML user's word for a value's type (never a Python class name)."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string"


def read_yaml_with_warnings(path: Path) -> tuple[Any, list[str]]:
    """Parse ``path``: the data and the duplicate-key warnings; syntax errors carry the line."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InputError(
                f"release test file {path} is {size} bytes; the limit is {MAX_BYTES}",
                hint="split it into several files, or check that the right file is named",
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"release test file {path} does not exist",
            hint="create it, or set [tool.build_support.paths] release_tests",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read release test file {path}: {exc}") from None
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_expansion(node)
        data = loader.construct_document(node) if node is not None else None
    except RecursionError:
        raise InputError(
            f"{path}: malformed YAML: nested too deeply to read",
            hint="a release test file needs a few levels of nesting; check the file",
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise InputError(
            f"{where}: malformed YAML: {exc.problem or exc}",
            hint="fix the YAML syntax (indentation, quotes, colons) at that line",
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: malformed YAML: {exc}") from None
    except InputError as exc:
        raise InputError(f"{path}: {exc.message}", hint=exc.hint) from None
    finally:
        loader.dispose()
    return data, [f"{path}:{w.removeprefix('line ')}" for w in loader.duplicates]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases would expand past :data:`MAX_NODES` (or loop).

    The composed graph shares aliased nodes, so it is small; what grows is every later
    walk over it as a tree (merging, copying, validating). Count that tree's size on the
    graph, each node once, before anything is built.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    aliases = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_NODES:
                raise InputError(
                    f"line {node.start_mark.line + 1}: the YAML expands to more than "
                    f"{MAX_NODES} nodes through its aliases (a 'billion laughs' file?); "
                    "refused before reading it further",
                    hint="write the values out instead of nesting aliases",
                )
            continue
        if key in sizes:
            aliases += 1
            if aliases > MAX_ALIASES:
                raise InputError(
                    f"line {node.start_mark.line + 1}: more than {MAX_ALIASES} YAML aliases; "
                    "refused",
                    hint="release test files need no aliases: write the values out",
                )
            continue
        if key in open_nodes:
            raise InputError(
                f"line {node.start_mark.line + 1}: a YAML alias refers to a node that "
                "contains it (a recursive structure)",
                hint="remove the recursive alias",
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))


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
                if isinstance(current, LineList) and part < len(current.item_lines):
                    line = current.item_lines[part]
                current = current[part]
            else:
                break
        if line is not None:
            return line
    return None


def _node_line(nodes: Sequence[Any], path: Sequence[str | int]) -> int:
    """The best line for ``path``: the key itself, else its parent, else the entry."""
    line = _lookup_line(nodes, path)
    if line is None and path:
        line = _lookup_line(nodes, path[:-1])
    if line is None:
        line = next((n.line for n in nodes if isinstance(n, LineDict)), 0)
    return line


def _describe(error: jsonschema.ValidationError) -> tuple[list[str | int], str]:  # noqa: PLR0911
    """The key path and an explanation (with what is allowed) of one schema error."""
    path: list[str | int] = list(error.absolute_path)
    sub: Any = error.schema
    value: Any = error.validator_value
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = set(sub.get("properties", {}) if isinstance(sub, Mapping) else ())
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            close = difflib.get_close_matches(str(extra[0]), sorted(allowed), n=1, cutoff=0.6)
            guess = f" (did you mean {close[0]!r}?)" if close else ""
            return [*path, extra[0]], (
                f"unknown key {extra[0]!r}{guess}; allowed here: " + ", ".join(sorted(allowed))
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
    if error.validator == "type":
        return path, f"{_kind(error.instance)} is not allowed here; expected {value}"
    return path, error.message


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one test, where it is, and what is allowed."""

    line: int
    test: str
    key: str
    why: str

    def render(self, file: Path) -> str:
        return f"{file}:{self.line}: test {self.test!r}: {self.key}: {self.why}"


_VALIDATORS: dict[int, jsonschema.Draft202012Validator] = {}


def _validator(test_schema: Mapping[str, Any]) -> jsonschema.Draft202012Validator:
    """One compiled validator per schema object, built once per process."""
    found = _VALIDATORS.get(id(test_schema))
    if found is None:
        found = _VALIDATORS[id(test_schema)] = jsonschema.Draft202012Validator(test_schema)
    return found


def problems(
    data: Mapping[str, Any],
    test_schema: Mapping[str, Any],
    *,
    test_name: str,
    nodes: Sequence[Any],
) -> list[Problem]:
    """Every schema error of ``data``, each with the line of the key it is about."""
    found: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    errors = sorted(
        _validator(test_schema).iter_errors(_plain(data)),
        key=lambda e: (list(map(str, e.absolute_path)), e.message),
    )
    for error in errors:
        if error.validator in ("anyOf", "oneOf") and error.context:
            error = jsonschema.exceptions.best_match(error.context) or error  # noqa: PLW2901
        path, why = _describe(error)
        key = ".".join(str(p) for p in path) or "(test)"
        if (key, why) in seen:
            continue
        seen.add((key, why))
        found.append(Problem(_node_line(nodes, path), test_name, key, why))
    return found


def _raise_problems(file: Path, found: Sequence[Problem | str]) -> None:
    if not found:
        return
    lines = [p.render(file) if isinstance(p, Problem) else p for p in found]
    hint = (
        f"fix them in {file.name}; the schema is in build_support/releasetests/schema.py "
        "(Ray's release_tests.yaml schema)"
    )
    if len(lines) == 1:
        raise InputError(lines[0], hint=hint)
    raise InputError(
        f"{file}: {len(lines)} problems:\n" + "\n".join(f"  {line}" for line in lines),
        hint=hint,
    )


#: What a test must have once DEFAULTS, variations or matrix values are merged in.
_REQUIRED: tuple[str, ...] = tuple(schema.TEST["required"])
_REQUIRED_RUN: tuple[str, ...] = tuple(schema.TEST["properties"]["run"]["required"])
_REQUIRED_CLUSTER: tuple[str, ...] = tuple(schema.TEST["properties"]["cluster"]["required"])


def _missing(test: Mapping[str, Any], *, name: str, nodes: Sequence[Any]) -> list[Problem]:
    """Required keys absent after merging (each piece was schema-checked already)."""
    found: list[Problem] = []
    for where, required in (
        ("", _REQUIRED),
        ("run", _REQUIRED_RUN),
        ("cluster", _REQUIRED_CLUSTER),
    ):
        block = test.get(where) if where else test
        if not isinstance(block, Mapping):
            continue
        line = _node_line(nodes, [where] if where else [])
        found.extend(
            Problem(
                line,
                name,
                where or "(test)",
                f"{key!r} is a required property; required here: " + ", ".join(required),
            )
            for key in required
            if key not in block
        )
    return found


def _lenient_warnings(test: Mapping[str, Any], *, name: str, line: int, file: Path) -> list[str]:
    """Warnings where Ray accepts what this harness does not know (kept, not refused)."""
    out: list[str] = []
    byod = test.get("cluster", {}).get("byod", {})
    kind = byod.get("type") if isinstance(byod, Mapping) else None
    if isinstance(kind, str) and kind not in schema.BYOD_TYPES and "{{" not in kind:
        out.append(
            f"{file}:{line}: test {name!r}: cluster.byod.type {kind!r} is not one this harness "
            "knows (" + ", ".join(schema.BYOD_TYPES) + "); kept as Ray does"
        )
    smoke = test.get("smoke_test", {})
    for part, known in (("cluster", schema.CLUSTER_KEYS), ("run", schema.RUN_KEYS)):
        block = smoke.get(part, {}) if isinstance(smoke, Mapping) else {}
        extra = sorted(k for k in block if k not in known) if isinstance(block, Mapping) else []
        if extra:
            out.append(
                f"{file}:{line}: test {name!r}: smoke_test.{part} has key(s) "
                + ", ".join(repr(k) for k in extra)
                + " that the test schema does not know; kept, as Ray's schema allows"
            )
    return out


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
    #: ``jailed: true`` in the file (Ray's field of 2023; see :mod:`selection`)
    jailed: bool = False
    #: Ray's ``repeated_run`` (at least 1): how many runs Ray schedules
    repeated_run: int = 1
    alert: str | None = None
    cluster: Mapping[str, Any] = field(default_factory=dict)
    smoke: bool = False
    has_smoke_test: bool = False
    #: the test's own frequency, before a smoke test was applied
    base_frequency: str = ""
    #: its smoke test's frequency, when it has one
    smoke_frequency: str | None = None
    line: int = 0
    definition: Mapping[str, Any] = field(default_factory=dict)
    #: the folder ``working_dir`` is relative to (the YAML file's)
    base_dir: Path | None = None


@dataclass(frozen=True)
class Collection:
    path: Path
    tests: tuple[ReleaseTest, ...]
    #: where Ray is lenient and this loader kept going (duplicate keys, unknown byod types)
    warnings: tuple[str, ...] = ()

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


def _build(
    test: Mapping[str, Any],
    *,
    base_dir: Path,
    smoke: bool,
    line: int,
    base_frequency: str,
    smoke_frequency: str | None,
) -> ReleaseTest:
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
        jailed=bool(test.get("jailed", False)),
        repeated_run=max(1, int(test.get("repeated_run", 1))),
        alert=test.get("alert"),
        cluster=_plain(test.get("cluster", {})),
        smoke=smoke,
        has_smoke_test=smoke_frequency is not None,
        base_frequency=base_frequency,
        smoke_frequency=smoke_frequency,
        line=line,
        definition=_plain(test),
        base_dir=base_dir,
    )


def _entry_problems(entry: LineDict, label: str) -> list[Problem]:
    """Schema problems of one raw list entry (a matrix's placeholders are checked later)."""
    if "matrix" in entry and "variations" in entry:
        return [
            Problem(
                entry.line,
                label,
                "(test)",
                "a test cannot use both 'variations' and 'matrix'; split it into two",
            )
        ]
    if "matrix" in entry:
        # {{var}} placeholders are checked after substitution, in _expand.
        return problems({"matrix": entry["matrix"]}, _MATRIX_ONLY, test_name=label, nodes=[entry])
    return problems(entry, schema.ENTRY, test_name=label, nodes=[entry])


_MATRIX_ONLY: dict[str, Any] = {"type": "object", "properties": {"matrix": schema.MATRIX}}


def load(
    path: Path, *, smoke: bool = False, warn: Callable[[str], None] | None = log.warn
) -> Collection:
    """Every test of ``path``, expanded, merged and validated; smoke-applied if asked.

    ``smoke=True`` applies every test's smoke test (Ray's ``prefer_smoke_tests``);
    otherwise tests are as defined and :mod:`selection` decides which run as smoke
    tests. All problems of the file are collected and raised together as one
    InputError (each with file:line); warnings (see the module docstring) go to
    ``warn`` and the result.
    """
    data, warnings = read_yaml_with_warnings(path)
    if data is None:
        data = LineList()
    if not isinstance(data, list):
        raise InputError(
            f"{path}:{getattr(data, 'line', 1)}: the top level must be a list of tests, "
            f"got {_kind(data)}",
            hint="start each test with '- name: ...'",
        )
    found: list[Problem | str] = []
    tests: list[ReleaseTest] = []
    seen: dict[str, int] = {}
    for entry, defaults in _entries(data, path, found):
        for name, test, nodes in _expand(entry, defaults, found):
            missing = _missing(test, name=name, nodes=nodes)
            if name in seen:
                missing.append(
                    Problem(
                        entry.line,
                        name,
                        "name",
                        f"defined twice (first at line {seen[name]}); test names must be unique",
                    )
                )
            seen.setdefault(name, entry.line)
            if missing:
                found.extend(missing)
                continue
            warnings.extend(_lenient_warnings(test, name=name, line=entry.line, file=path))
            tests.append(_finish(test, smoke=smoke, base_dir=path.parent, line=entry.line))
    _raise_problems(path, found)
    if warn is not None:
        for message in warnings:
            warn(message)
    return Collection(path=path, tests=tuple(tests), warnings=tuple(warnings))


def apply_smoke(test: ReleaseTest) -> ReleaseTest:
    """``test`` run as its smoke test (its ``smoke_test`` deep-merged); as is without one."""
    if test.smoke or not test.has_smoke_test:
        return test
    return _finish(
        copy.deepcopy(dict(test.definition)),
        smoke=True,
        base_dir=test.base_dir if test.base_dir is not None else Path.cwd(),
        line=test.line,
    )


def _entries(
    data: list[Any], path: Path, found: list[Problem | str]
) -> Iterator[tuple[LineDict, LineDict | None]]:
    """Each test entry that passed the schema, with the DEFAULTS entry in force for it.

    As in Ray, a ``DEFAULTS`` entry applies to the entries after it, until the next one.
    Problems go to ``found``.
    """
    defaults: LineDict | None = None
    for index, entry in enumerate(data):
        line = data.item_lines[index] if isinstance(data, LineList) else 0
        if not isinstance(entry, LineDict):
            found.append(
                f"{path}:{line}: entry #{index + 1} is {_kind(entry)}, not a test "
                "(each list item must be a mapping: '- name: ...')"
            )
            continue
        label = str(entry.get("name", f"#{index + 1}"))
        entry_found = _entry_problems(entry, label)
        if entry_found:
            found.extend(entry_found)
        elif entry["name"] == DEFAULTS_NAME:
            defaults = entry
        else:
            yield entry, defaults


def _finish(merged: dict[str, Any], *, smoke: bool, base_dir: Path, line: int) -> ReleaseTest:
    """The runnable test, with its smoke test applied when asked (and it has one)."""
    smoke_test = merged.get("smoke_test")
    smoke_frequency = smoke_test.get("frequency") if isinstance(smoke_test, Mapping) else None
    base_frequency = str(merged["frequency"])
    applied = False
    if smoke and isinstance(smoke_test, Mapping):
        merged = deep_update(merged, smoke_test)
        applied = True
    return _build(
        merged,
        base_dir=base_dir,
        smoke=applied,
        line=line,
        base_frequency=base_frequency,
        smoke_frequency=smoke_frequency,
    )


def _expand(
    entry: LineDict, defaults: LineDict | None, found: list[Problem | str]
) -> Iterator[tuple[str, dict[str, Any], list[Any]]]:
    """(name, test, nodes for line lookup) for each test an entry stands for.

    ``defaults`` is merged under the entry first (Ray's order), so its ``{{var}}`` are
    substituted in matrix tests too. Problems of expanded tests are appended to
    ``found``; those tests are not yielded.
    """
    own = _plain(entry)
    plain: dict[str, Any] = {}
    if defaults is not None:
        plain = _plain(defaults)
        plain.pop("name", None)
    plain = deep_update(plain, own)
    tail = [defaults] if defaults is not None else []
    if "variations" in plain:
        plain.pop("matrix", None)
        variations = plain.pop("variations")
        source = entry if "variations" in entry else defaults
        raw_variations: list[Any] = list(source["variations"]) if source is not None else []
        for index, variation in enumerate(variations):
            update = dict(variation)
            suffix = update.pop("__suffix__")
            name = f"{plain['name']}.{suffix}"
            test = deep_update(copy.deepcopy(plain), update)
            test["name"] = name
            raw = raw_variations[index] if index < len(raw_variations) else None
            yield name, test, [*([raw] if raw is not None else []), entry, *tail]
        return
    if "matrix" in plain:
        yield from _expand_matrix(entry, plain, own, tail, found)
        return
    yield str(plain["name"]), plain, [entry, *tail]


def _expand_matrix(
    entry: LineDict,
    plain: dict[str, Any],
    own: Mapping[str, Any],
    tail: list[Any],
    found: list[Problem | str],
) -> Iterator[tuple[str, dict[str, Any], list[Any]]]:
    """The tests of a ``matrix`` entry (``plain``: merged with its DEFAULTS)."""
    matrix = plain.pop("matrix")
    variables = set(matrix.get("setup", {}))
    label = str(entry.get("name"))
    for index, adjustment in enumerate(matrix.get("adjustments", []) or []):
        given = set(adjustment["with"])
        if given != variables:
            found.append(
                Problem(
                    _node_line([entry], ["matrix", "adjustments", index]),
                    label,
                    f"matrix.adjustments.{index}.with",
                    "must set every matrix variable, as Ray requires (variables: "
                    + ", ".join(sorted(variables))
                    + "; missing: "
                    + (", ".join(sorted(variables - given)) or "-")
                    + "; unknown: "
                    + (", ".join(sorted(given - variables)) or "-")
                    + ")",
                )
            )
            return
    # Placeholders the entry itself uses must be defined; those from DEFAULTS that no
    # matrix variable fills stay as written, as in Ray.
    undefined = set(_VAR.findall(repr({k: v for k, v in own.items() if k != "matrix"})))
    undefined -= variables
    if undefined:
        found.append(
            Problem(
                entry.line,
                label,
                "matrix",
                "matrix variable(s) "
                + ", ".join(sorted(undefined))
                + " are used but not defined in matrix.setup (defined: "
                + ", ".join(sorted(variables))
                + ")",
            )
        )
        return
    for combo in matrix_combinations(matrix):
        test = substitute(plain, combo)
        name = str(test.get("name", entry.get("name")))
        combo_found = problems(test, schema.ENTRY, test_name=name, nodes=[entry, *tail])
        if combo_found:
            found.extend(combo_found)
            continue
        yield name, test, [entry, *tail]
