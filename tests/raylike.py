"""Release-test collections in Ray's schema, written by the project for its own tests.

Ray's own ``release/release_tests.yaml`` is not copied into the repository; this writes
files of the same shape and size with the constructs that Ray's loader accepts and a
strict loader trips on: DEFAULTS, variations, matrices (including one whose ``setup``
lists are empty and which uses only ``adjustments``), smoke tests whose ``cluster`` has
keys outside the test schema, ``byod.type`` values newer than the known list, and a
duplicate key inside one entry (Ray's YAML reader keeps the last value).
"""

from __future__ import annotations

BYOD_TYPES = ("cpu", "gpu", "cu123", "llm-cu128", "torch-cu130", "cu121-next")
FREQUENCIES = ("nightly", "nightly-3x", "weekly", "manual", "multi")

DEFAULTS = """\
- name: DEFAULTS
  group: core-multi-test
  working_dir: nightly_tests
  frequency: nightly
  team: core
  cluster:
    byod: {}
    cluster_compute: cpt_autoscaling_1-3_aws.yaml
  run:
    timeout: 3600
    type: anyscale_job
"""


def _plain(i: int) -> str:
    byod = BYOD_TYPES[i % len(BYOD_TYPES)]
    freq = FREQUENCIES[i % len(FREQUENCIES)]
    return f"""
- name: plain_{i}
  group: group-{i % 7}
  working_dir: nightly_tests
  frequency: {freq}
  team: team-{i % 5}
  python: "3.{9 + i % 3}"
  env: aws
  stable: {"true" if i % 2 else "false"}
  cluster:
    byod:
      type: {byod}
      runtime_env:
        - RAY_VAR_{i}=1
    cluster_compute: compute_{i}.yaml
  run:
    timeout: {1800 + i}
    script: python run_{i}.py --iterations {i}
    wait_for_nodes:
      num_nodes: {1 + i % 4}
  smoke_test:
    frequency: nightly
    cluster:
      cluster_compute: compute_{i}_smoke.yaml
      max_workers: 2
    run:
      timeout: 600
"""


def _variations(i: int) -> str:
    return f"""
- name: varied_{i}
  working_dir: nightly_tests
  frequency: weekly
  team: data
  cluster:
    byod:
      type: gpu
    cluster_compute: shuffle_{i}.yaml
  run:
    timeout: 3000
    script: python shuffle.py --case {i}
  variations:
    - __suffix__: aws
    - __suffix__: gce
      env: gce
      frequency: manual
      cluster:
        cluster_compute: shuffle_{i}_gce.yaml
"""


def _matrix(i: int) -> str:
    return f"""
- name: "{{{{scaling}}}}_{{{{kind}}}}_ingest_{i}"
  working_dir: nightly_tests/dataset
  frequency: "{{{{frequency}}}}"
  team: data
  matrix:
    setup:
      frequency: [weekly]
      scaling: [fixed_size, autoscaling]
      kind: [cpu, gpu]
    adjustments:
      - with:
          frequency: manual
          scaling: fixed_size
          kind: cu123
  cluster:
    byod:
      type: "{{{{kind}}}}"
    cluster_compute: "{{{{scaling}}}}_{{{{kind}}}}_{i}.yaml"
  run:
    timeout: 3600
    script: python ingest.py --scaling {{{{scaling}}}} --kind {{{{kind}}}}
"""


def _adjustments_only(i: int) -> str:
    return f"""
- name: "llm_{{{{model}}}}_{i}"
  working_dir: llm_tests
  frequency: nightly
  team: llm
  matrix:
    setup:
      model: []
    adjustments:
      - with:
          model: small
      - with:
          model: large
  cluster:
    byod:
      type: llm-cu128
    cluster_compute: llm_{{{{model}}}}.yaml
  run:
    timeout: 7200
    script: python serve_{{{{model}}}}.py
"""


def _duplicate_key(i: int) -> str:
    return f"""
- name: duplicated_{i}
  working_dir: nightly_tests
  frequency: nightly
  team: core
  cluster:
    cluster_compute: first.yaml
    cluster_compute: second.yaml
  run:
    timeout: 100
    script: python dup.py
"""


def collection(entries: int) -> str:
    """YAML text of a Ray-schema collection with ``entries`` list entries after DEFAULTS.

    Every 10 entries hold 6 plain tests, 1 with variations (2 tests), 1 matrix (5 tests),
    1 adjustments-only matrix (2 tests) and 1 with a duplicate key.
    """
    makers = (
        _plain,
        _plain,
        _variations,
        _plain,
        _matrix,
        _plain,
        _adjustments_only,
        _plain,
        _duplicate_key,
        _plain,
    )
    parts = [DEFAULTS]
    parts.extend(makers[i % len(makers)](i) for i in range(entries))
    return "".join(parts)


def tests_in(entries: int) -> int:
    """How many tests :func:`collection` expands to."""
    per = {0: 1, 1: 1, 2: 2, 3: 1, 4: 5, 5: 1, 6: 2, 7: 1, 8: 1, 9: 1}
    return sum(per[i % 10] for i in range(entries))
