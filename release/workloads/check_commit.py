"""The installed minray carries the commit of the test code and imports its compiled core."""

from __future__ import annotations

import os
import re

import minray
from _common import COMMAND_ERROR, fail, write_result

expected = os.environ.get("EXPECTED_COMMIT", "")
if not re.fullmatch(r"[0-9a-f]{40}", expected):
    fail(COMMAND_ERROR, f"EXPECTED_COMMIT={expected!r} is not a commit; run me via the runner")
found = minray.__commit__
write_result(
    "commit.json",
    {
        "expected": expected,
        "found": found,
        "version": minray.__version__,
        "have_core": minray.HAVE_CORE,
        "module": minray.__file__,
    },
)
if found != expected:
    fail(COMMAND_ERROR, f"minray.__commit__ is {found!r}, expected {expected}")
if not minray.HAVE_CORE:
    fail(COMMAND_ERROR, "minray._core did not import: the wheel lacks its compiled extension")
print(f"OK minray {minray.__version__} at {found}")
