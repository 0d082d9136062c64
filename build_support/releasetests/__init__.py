"""Release tests: Ray-compatible ``release_tests.yaml``, a local runner, retries, reports.

Modules: :mod:`schema` (the JSON schema), :mod:`loader` (YAML with line numbers,
DEFAULTS, variations, matrix, smoke tests), :mod:`exitcodes` (Ray's exit codes and their
classes, the one source of truth), :mod:`retry` (which codes are retried, and when),
:mod:`runner` (venv from the stored wheel, commit check, process groups, timeouts,
signals), :mod:`reports` (result.json, JUnit XML, JSON summary, HTML), :mod:`cli`.
"""
