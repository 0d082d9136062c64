"""``python -m build_support STAGE [ARGS…]``."""

from __future__ import annotations

import sys

from build_support.cli import main

if __name__ == "__main__":
    sys.exit(main())
