"""Typed records that one stage writes and another reads: one home for every contract.

Each record is a frozen dataclass with a ``KIND`` and a ``SCHEMA`` version; each has one
path function, and every writer and reader goes through :func:`write` / :func:`read`
(or :func:`dump` / :func:`load` for records kept elsewhere, like the wheel cache record in
the artifact store). A file is JSON with ``"kind"`` and ``"schema"`` beside the fields;
reading a file of another kind, of an unknown schema version, or with a missing or
mistyped field is an :class:`~build_support.errors.InputError` that names the file, the
field and the stage that writes it.

| record | written by | read by | path |
|---|---|---|---|
| :class:`WheelsManifest` | wheel | CI, tests (images, publish: the store) | :func:`wheels_path` |
| :class:`WheelCacheRecord` | wheel | wheel (cache) | :func:`wheel_cache_key` (store) |
| :class:`ImagesManifest` | images | release-tests ``--in-image``, publish | :func:`images_path` |
| :class:`JarsManifest` | jars | CI, tests (publish lists the store) | :func:`jars_path` |
| :class:`JarsCacheRecord` | jars | jars (cache) | :func:`jars_cache_key` (store) |
| :class:`ReleaseTestSummary` | release-tests | publish | :func:`release_summary_path` |
| :class:`ReleaseTestPass` | release-tests | release-tests | :func:`release_pass_key` (store) |
| :class:`ReleaseTestAttempt` | release-tests ``--fleet`` | collect | ``keys.release_attempt_key`` |
| :class:`PipelineManifest` | pipeline | CI | :func:`pipeline_path` |

The folders and files of ``dist/`` are named here too (:func:`jars_dir`,
:func:`publish_plan_path`); the CI plan uploads what these functions name.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, Union

from build_support import fsutil
from build_support.errors import InputError
from build_support.store import keys

#: The commit an image was built from (OCI): the images stage sets it, and it and release
#: tests ``--in-image`` read it back to verify the image.
REVISION_LABEL = "org.opencontainers.image.revision"


# --------------------------------------------------------------------------- paths


def wheels_path(dist: Path) -> Path:
    """``dist/wheels.json``: the wheels the wheel stage built or reused."""
    return dist / "wheels.json"


def wheel_cache_key(digest: str) -> str:
    """``cache/wheels/<digest>.json``: the store key of a wheel's cache record."""
    return keys.cache_key("wheels", digest)


def images_path(dist: Path) -> Path:
    """``dist/images/images.json``: every image the images stage built or reused."""
    return dist / "images" / "images.json"


def jars_path(dist: Path, os_name: str) -> Path:
    """``dist/jars/<linux|darwin|multiplatform>.json``: the files one jars stage stored."""
    return dist / "jars" / f"{os_name}.json"


def jars_dir(dist: Path, os_name: str) -> Path:
    """``dist/jars/<linux|darwin|multiplatform>/``: the files one jars stage left."""
    return dist / "jars" / os_name


def publish_plan_path(dist: Path) -> Path:
    """``dist/publish/plan.json``: the plan's JSON twin, checked by ``--execute``."""
    return dist / "publish" / "plan.json"


def jars_cache_key(digest: str) -> str:
    """``cache/jars/<digest>.json``: the store key of one jars build's cache record."""
    return keys.cache_key("jars", digest)


def release_summary_path(run_dir: Path) -> Path:
    """``<results>/<run-id>/summary.json``: one release-test run."""
    return run_dir / "summary.json"


def release_pass_key(digest: str) -> str:
    """``cache/release-tests/<digest>.json``: the store key of a reusable passed result."""
    return keys.cache_key("release-tests", digest)


def pipeline_path(dist: Path) -> Path:
    """``dist/pipeline.json``: the steps of the last ``nox -s pipeline``."""
    return dist / "pipeline.json"


# --------------------------------------------------------------------------- records


class Record(Protocol):
    KIND: ClassVar[str]
    SCHEMA: ClassVar[int]
    PRODUCER: ClassVar[str]


@dataclass(frozen=True, kw_only=True)
class WheelRow:
    """One wheel in ``wheels.json``."""

    wheel: str
    project: str
    python: str
    platform: str
    size: int
    sha256: str
    seconds: float
    cached: bool
    mode: str
    store_key: str
    digest: str


@dataclass(frozen=True, kw_only=True)
class WheelsManifest:
    KIND: ClassVar[str] = "wheels"
    SCHEMA: ClassVar[int] = 1
    PRODUCER: ClassVar[str] = "nox -s wheel"

    commit: str
    branch: str
    wheels: tuple[WheelRow, ...] = ()


@dataclass(frozen=True, kw_only=True)
class WheelCacheRecord:
    """``cache/wheels/<digest>.json`` in the store: a wheel that these inputs built."""

    KIND: ClassVar[str] = "wheel-cache"
    SCHEMA: ClassVar[int] = 1
    PRODUCER: ClassVar[str] = "nox -s wheel"

    wheel: str
    key: str
    sha256: str
    size: int
    python: str
    platform: str
    commit: str
    project: str
    import_commit: str | None
    digest: str


@dataclass(frozen=True, kw_only=True)
class ImageRow:
    """One image (``base-deps`` or the product) in ``images.json``."""

    name: str
    image_id: str
    refs: tuple[str, ...]
    built: bool
    input_digest: str
    commit: str
    python: str
    flavor: str
    arch: str
    base: str
    base_standin: str | None = None
    lockfile: str | None = None
    version: str | None = None
    pip_freeze: str | None = None

    @property
    def slot(self) -> tuple[str, str, str, str]:
        """What a newer build of the same image replaces: name, Python, flavor, arch."""
        return (self.name, self.python, self.flavor, self.arch)


@dataclass(frozen=True, kw_only=True)
class ImagesManifest:
    KIND: ClassVar[str] = "images"
    SCHEMA: ClassVar[int] = 1
    PRODUCER: ClassVar[str] = "nox -s images"

    images: tuple[ImageRow, ...] = ()

    def merged(self, fresh: tuple[ImageRow, ...]) -> ImagesManifest:
        """This manifest with ``fresh`` rows replacing the rows of the same slot."""
        slots = {r.slot for r in fresh}
        return ImagesManifest(images=tuple(r for r in self.images if r.slot not in slots) + fresh)

    def find(self, name: str, *, python: str, flavor: str, arch: str) -> ImageRow | None:
        """The image ``name`` for this Python, flavor and architecture, if recorded."""
        for row in reversed(self.images):
            if row.slot == (name, python, flavor, arch):
                return row
        return None


@dataclass(frozen=True, kw_only=True)
class JarFile:
    """One file the jars stage put in ``dist/jars/<os>/`` and in the store."""

    file: str
    size: int
    sha256: str
    key: str


@dataclass(frozen=True, kw_only=True)
class JarsManifest:
    KIND: ClassVar[str] = "jars"
    SCHEMA: ClassVar[int] = 1
    PRODUCER: ClassVar[str] = "nox -s jars"

    os: str
    branch: str
    commit: str
    version: str
    natives: tuple[str, ...]
    files: tuple[JarFile, ...] = ()
    #: True when the files are a stored build of the same inputs (Maven not run).
    reused: bool = False
    #: The input digest (``cache/jars/<digest>.json``); "" for multiplatform.
    digest: str = ""


@dataclass(frozen=True, kw_only=True)
class JarsCacheRecord:
    """``cache/jars/<digest>.json`` in the store: the files one ``jars -- <os>`` stored."""

    KIND: ClassVar[str] = "jars-cache"
    SCHEMA: ClassVar[int] = 1
    PRODUCER: ClassVar[str] = "nox -s jars"

    digest: str
    os: str
    branch: str
    commit: str
    version: str
    natives: tuple[str, ...]
    tests: bool
    javadoc: bool
    files: tuple[JarFile, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AttemptRecord:
    attempt: int
    exit_code: int
    exit_name: str
    exit_class: str
    status: str
    retryable: bool
    duration_seconds: float
    prepare_seconds: float
    started_at: str
    message: str
    timed_out: bool
    signal: str | None
    directory: str
    artifacts: tuple[str, ...]
    backoff_seconds: float


@dataclass(frozen=True, kw_only=True)
class TestRecord:
    __test__: ClassVar[bool] = False  # not a pytest class

    name: str
    group: str
    team: str
    frequency: str
    python: str
    smoke: bool
    wheel: str
    commit: str
    exit_code: int
    exit_name: str
    exit_class: str
    status: str
    flaky: bool
    duration_seconds: float
    attempts: tuple[AttemptRecord, ...]
    #: The run whose passing result this one reuses (nothing it depends on changed).
    reused_from: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReleaseTestPass:
    """``cache/release-tests/<digest>.json``: a test passed, first try, on these inputs."""

    KIND: ClassVar[str] = "release-test-pass"
    SCHEMA: ClassVar[int] = 1
    PRODUCER: ClassVar[str] = "nox -s release-tests"

    digest: str
    test: str
    run_id: str
    commit: str
    result: TestRecord


@dataclass(frozen=True, kw_only=True)
class ReleaseTestAttempt:
    """``release-tests/{sha}/{run}/{name}/attempt-{n}/result.json`` in the store: what one
    step of a fleet run (one process, one CI job) produced for one test."""

    KIND: ClassVar[str] = "release-test-attempt"
    SCHEMA: ClassVar[int] = 1
    PRODUCER: ClassVar[str] = "nox -s release-tests -- NAME --fleet"

    #: The fleet run (shared by every step of one CI build) and this attempt's number in it.
    run: str
    attempt: int
    branch: str
    commit: str
    #: SHA-256 of the release_tests file the step read.
    file_digest: str
    #: The test's result in this step (its attempts renumbered from ``attempt``).
    result: TestRecord


@dataclass(frozen=True, kw_only=True)
class ReleaseTestSummary:
    KIND: ClassVar[str] = "release-tests"
    SCHEMA: ClassVar[int] = 1
    PRODUCER: ClassVar[str] = "nox -s release-tests"

    run_id: str = ""
    branch: str = ""
    commit: str = ""
    smoke: bool = False
    started_at: str = ""
    file: str = ""
    #: SHA-256 of that release_tests file, and which tests the run selected
    #: (``smoke``, ``nightly``, ``nightly+smoke``, ``all``, ``tests:a,b``); the publish
    #: gate accepts only a run of this file and of the selection it is configured with.
    file_digest: str = ""
    selection: str = ""
    #: Selected tests with no result in the store (a fleet run's collect): failures.
    missing: tuple[str, ...] = ()
    skipped_run_types: tuple[str, ...] = ()
    #: The run's exit code; None when the runner itself failed before it had one.
    exit_code: int | None = None
    duration_seconds: float = 0.0
    #: Selected tests that did not run (the run was stopped or interrupted first).
    not_run: tuple[str, ...] = ()
    #: Why the run stopped early (a commit mismatch), or "".
    stopped_by: str = ""
    total: int = 0
    passed: int = 0
    failed: int = 0
    flaky: int = 0
    by_status: Mapping[str, int] = field(default_factory=dict)
    tests: tuple[TestRecord, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PipelineStep:
    name: str
    stage: str
    argv: tuple[str, ...]
    exit_code: int
    seconds: float
    #: Whether the step reused stored outputs instead of doing the work (and which).
    reused: bool = False
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class PipelineManifest:
    KIND: ClassVar[str] = "pipeline"
    SCHEMA: ClassVar[int] = 1
    PRODUCER: ClassVar[str] = "nox -s pipeline"

    exit_code: int
    steps: tuple[PipelineStep, ...] = ()


# --------------------------------------------------------------------------- read/write

R = TypeVar("R")


def plain(record: object) -> dict[str, Any]:
    """A (nested) dataclass as a JSON-ready dict, without ``kind``/``schema``."""
    data = _plain(record)
    if not isinstance(data, dict):
        raise TypeError(f"{record!r} is not a dataclass instance")
    return data


def dump(record: Record) -> dict[str, Any]:
    """``record`` as a JSON-ready dict with its ``kind`` and ``schema``."""
    return {"kind": record.KIND, "schema": record.SCHEMA, **plain(record)}


def write(path: Path, record: Record) -> Path:
    """Write ``record`` to ``path`` atomically; the one writer of every record."""
    return fsutil.write_json(path, dump(record))


def load(cls: type[R], data: object, *, where: str) -> R:
    """``data`` (parsed JSON) as a ``cls`` record; InputError when it is not one."""
    producer = getattr(cls, "PRODUCER", "the stage that writes it")
    hint = f"rerun `{producer}` to write it again"
    if not isinstance(data, dict):
        raise InputError(f"{where} is not a JSON object", hint=hint)
    kind = data.get("kind")
    if kind is None:
        raise InputError(
            f'{where} has no "kind"/"schema" fields: it was written by an older '
            "build_support or by hand",
            hint=hint,
        )
    if kind != getattr(cls, "KIND", None):
        raise InputError(
            f"{where} holds a {kind!r} record, not {getattr(cls, 'KIND', '?')!r}", hint=hint
        )
    schema = data.get("schema")
    if schema != getattr(cls, "SCHEMA", None):
        raise InputError(
            f"{where} has schema version {schema!r}; this build_support reads version "
            f"{getattr(cls, 'SCHEMA', '?')} of {kind!r} records",
            hint=f"{hint} with this build_support version",
        )
    body = {k: v for k, v in data.items() if k not in ("kind", "schema")}
    try:
        return typing.cast("R", _build(cls, body, where))
    except _ShapeError as exc:
        raise InputError(f"{where}: {exc}", hint=hint) from None


def read(path: Path, cls: type[R]) -> R:
    """Read a ``cls`` record from ``path``; the one reader of every record."""
    producer = getattr(cls, "PRODUCER", "the stage that writes it")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"{path} does not exist: `{producer}` has not run here",
            hint=f"run `{producer}` first",
        ) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError(
            f"{path} is not valid JSON: {exc}", hint=f"rerun `{producer}` to write it again"
        ) from None
    return load(cls, data, where=str(path))


# --------------------------------------------------------------------------- conversion


class _ShapeError(Exception):
    pass


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _build(cls: type, data: object, where: str) -> object:
    if not isinstance(data, dict):
        raise _ShapeError(f"{where} is not an object")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise _ShapeError(f"unknown field(s) {', '.join(unknown)} in {where}")
    kwargs: dict[str, object] = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _ShapeError(f"missing field {name!r} in {where}")
            continue
        kwargs[name] = _convert(hints[name], data[name], f"{where}.{name}")
    return cls(**kwargs)


def _convert(tp: Any, value: object, where: str) -> object:  # noqa: PLR0911, PLR0912
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where)
            except _ShapeError as exc:
                errors.append(str(exc))
        raise _ShapeError(errors[0] if errors else f"{where} is null")
    if origin is tuple:
        if not isinstance(value, list):
            raise _ShapeError(f"{where} must be a list, not {type(value).__name__}")
        (item,) = (a for a in typing.get_args(tp) if a is not Ellipsis)
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is Mapping or origin is dict:
        if not isinstance(value, dict):
            raise _ShapeError(f"{where} must be an object, not {type(value).__name__}")
        _key, val = typing.get_args(tp)
        return {str(k): _convert(val, v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is bool and isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    raise _ShapeError(f"{where} must be {getattr(tp, '__name__', tp)}, not {type(value).__name__}")
