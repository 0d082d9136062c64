from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import minray
from minray import _version


def test_version_exports() -> None:
    assert minray.__version__ == _version.version == "0.1.0"
    assert minray.__commit__ == _version.commit


def test_commit_is_placeholder_or_sha() -> None:
    # Unstamped source: the literal placeholder; a stamped build: a hex commit id.
    assert minray.__commit__ == "{{COMMIT_SHA}}" or re.fullmatch(
        r"[0-9a-f]{7,64}", minray.__commit__
    )


def test_version_file_lines() -> None:
    # The harness replaces the placeholder textually: keep the exact line format.
    text = Path(_version.__file__).read_text(encoding="utf-8")
    assert f'version = "{_version.version}"' in text.splitlines()
    assert f'commit = "{_version.commit}"' in text.splitlines()


def test_python_dash_m() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "minray"], check=True, capture_output=True, text=True
    ).stdout
    assert out == f"{minray.__version__} {minray.__commit__}\n"
