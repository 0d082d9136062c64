"""Shared helpers of minray's release-test workloads (stdlib only)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

#: Ray's ExitCode numbers a workload may exit with.
SETUP_ERROR = 12
LOCAL_ENV_SETUP_ERROR = 16
COMMAND_ERROR = 40
COMMAND_ALERT = 41


def results_dir() -> Path:
    path = Path(os.environ.get("RELEASE_RESULTS_DIR", "."))
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_result(name: str, data: dict) -> Path:
    path = results_dir() / name
    path.write_text(json.dumps(data, indent=4, sort_keys=True) + "\n")
    print(json.dumps(data, sort_keys=True))
    return path


def fail(code: int, message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    sys.exit(code)
