"""The JSON schema (draft 2020-12) of one release test, compatible with Ray's.

It accepts everything Ray's ``release/ray_release/schema.json`` accepts, as of October
2025 and back to March 2023 (so a ``release_tests.yaml`` written for Ray in that span
loads unchanged), and rejects unknown keys at every level. Keys Ray added or dropped in
that span are all accepted: ``repeated_run`` (2024), ``cluster.ray_version`` and
``byod.python_depset`` (2025), frequency ``monthly`` (2025) and the removed ``multi``,
``jailed`` (2023, now Ray's test-state database), ``cluster_env``, ``driver_setup``,
``run.file_manager`` and ``byod.pre_run_cmds`` (all removed in 2023).

Two deliberate widenings: ``cluster`` is optional (a local runner has no cluster), and
``env`` may also be a table of environment variables for the script (in Ray it is the
name of the environment, a string; both forms are accepted).

Where Ray's schema is open, so is this one: ``cluster.byod.type`` is any string (Ray
adds image types often; :data:`BYOD_TYPES` are the ones known here, and the loader warns
about others), and a smoke test's ``cluster`` and ``run`` may carry keys beyond the
test schema (Ray types them as plain objects); the known keys there are still typed.
"""

from __future__ import annotations

from typing import Any

#: Ray's frequencies (``monthly`` since 2025; ``multi`` was removed in August 2025 and is
#: still accepted for older files).
FREQUENCIES = ("manual", "multi", "nightly", "nightly-3x", "weekly", "monthly")
RUN_TYPES = ("command", "sdk_command", "job", "client", "anyscale_job")
#: byod image types known here (Ray's list grows; others load with a warning)
BYOD_TYPES = (
    "gpu",
    "gpu-cu130",
    "cpu",
    "cu123",
    "llm-cu128",
    "llm-cu130",
    "torch-cpu",
    "torch-cu130",
)

_STRING = {"type": "string"}
_FREQUENCY = {"type": "string", "enum": list(FREQUENCIES)}

_WAIT_FOR_NODES: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"num_nodes": {"type": "integer", "minimum": 0}, "timeout": {"type": "integer"}},
    "required": ["num_nodes"],
}

_RUN_PROPERTIES: dict[str, Any] = {
    "type": {"type": "string", "enum": list(RUN_TYPES)},
    "wait_for_nodes": _WAIT_FOR_NODES,
    "prepare": _STRING,
    "prepare_timeout": {"type": "number", "exclusiveMinimum": 0},
    "script": _STRING,
    "timeout": {"type": "number", "exclusiveMinimum": 0},
    "long_running": {"type": "boolean"},
    "artifact_path": _STRING,
    "file_manager": _STRING,
}

_BYOD: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "type": {"type": "string", "minLength": 1},
        "post_build_script": _STRING,
        "python_depset": _STRING,
        "runtime_env": {"type": "array", "items": {"type": "string", "pattern": "^[^=]+=.*$"}},
        "pip": {"type": "array", "items": _STRING},
        "pre_run_cmds": {"type": "array", "items": _STRING},
    },
}

_CLUSTER_PROPERTIES: dict[str, Any] = {
    "ray_version": _STRING,
    "cluster_env": _STRING,
    "cluster_compute": _STRING,
    "byod": _BYOD,
    "autosuspend_mins": {"type": "integer", "minimum": -1},
    "cloud_id": _STRING,
    "cloud_name": _STRING,
    "project_id": _STRING,
}

_ENV = {
    "anyOf": [
        {"type": "string"},
        {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
    ]
}

#: Fields a test may carry, each with its schema (shared by tests, smoke tests, variations).
_TEST_PROPERTIES: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1},
    "group": _STRING,
    "team": _STRING,
    "frequency": _FREQUENCY,
    "working_dir": _STRING,
    "python": {"type": "string", "pattern": r"^3\.[0-9]+$"},
    "env": _ENV,
    "stable": {"type": "boolean"},
    #: Ray runs a test max(1, this) times, one CI step each; the local runner runs it once.
    "repeated_run": {"type": "integer"},
    "jailed": {"type": "boolean"},
    "driver_setup": _STRING,
    "alert": _STRING,
    "cluster": {
        "type": "object",
        "additionalProperties": False,
        "properties": _CLUSTER_PROPERTIES,
        "required": ["cluster_compute"],
    },
    "run": {
        "type": "object",
        "additionalProperties": False,
        "properties": _RUN_PROPERTIES,
        "required": ["script", "timeout"],
    },
}

_PARTIAL_RUN = {"type": "object", "additionalProperties": False, "properties": _RUN_PROPERTIES}
_PARTIAL_CLUSTER = {
    "type": "object",
    "additionalProperties": False,
    "properties": _CLUSTER_PROPERTIES,
}

#: The keys the test schema knows under ``run`` and ``cluster``.
RUN_KEYS = frozenset(_RUN_PROPERTIES)
CLUSTER_KEYS = frozenset(_CLUSTER_PROPERTIES)

#: A smoke test overrides some fields; Ray requires its ``frequency`` and leaves its
#: ``cluster`` and ``run`` open (plain objects): known keys are typed, others allowed.
SMOKE_TEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **{k: v for k, v in _TEST_PROPERTIES.items() if k not in ("name", "run", "cluster")},
        "run": {"type": "object", "properties": _RUN_PROPERTIES},
        "cluster": {"type": "object", "properties": _CLUSTER_PROPERTIES},
    },
    "required": ["frequency"],
}

_VARIATION: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "__suffix__": {"type": "string", "minLength": 1},
        **{k: v for k, v in _TEST_PROPERTIES.items() if k not in ("name", "run", "cluster")},
        "run": _PARTIAL_RUN,
        "cluster": _PARTIAL_CLUSTER,
        "smoke_test": SMOKE_TEST,
    },
    "required": ["__suffix__"],
}

MATRIX: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        # Empty lists are allowed (Ray's matrix may then expand to its adjustments only).
        "setup": {"type": "object", "additionalProperties": {"type": "array"}},
        "adjustments": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"with": {"type": "object"}},
                "required": ["with"],
            },
        },
    },
    "required": ["setup"],
}

#: One raw entry of the YAML list, before expansion (variations and matrix allowed).
ENTRY: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "ReleaseTestEntry",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **{k: v for k, v in _TEST_PROPERTIES.items() if k not in ("run", "cluster")},
        "run": _PARTIAL_RUN,
        "cluster": _PARTIAL_CLUSTER,
        "smoke_test": SMOKE_TEST,
        "variations": {"type": "array", "minItems": 1, "items": _VARIATION},
        "matrix": MATRIX,
    },
    "required": ["name"],
    "not": {"required": ["variations", "matrix"]},
}

#: A test after DEFAULTS, variations and matrix expansion: what the runner may run.
TEST: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "ReleaseTest",
    "type": "object",
    "additionalProperties": False,
    "properties": {**_TEST_PROPERTIES, "smoke_test": SMOKE_TEST},
    "required": ["name", "frequency", "team", "working_dir", "run"],
}


def allowed_keys(schema: dict[str, Any]) -> list[str]:
    """The property names a (sub)schema allows, for error messages."""
    return sorted(schema.get("properties", {}))
