"""``python -m build_support.store …``: the store stage, with errors caught once."""

from __future__ import annotations

import sys

from build_support.cli import run_stage

if __name__ == "__main__":
    sys.exit(run_stage("store", sys.argv[1:]))
