"""nox's own command echo (``nox > python -m build_support …``) goes through the redaction
layer too: the real ``nox`` command, with credentials in a URL argument and in a secret
variable."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "nox-token-0a9b8c7d6e"


def test_nox_echo_hides_url_credentials_and_secret_values() -> None:
    nox = shutil.which("nox")
    assert nox, "nox is not on PATH (.ci/run installs it)"
    proc = subprocess.run(
        [nox, "-s", "doctor", "--", "https://u:p4ssword-xyz@example.com/simple", TOKEN],
        cwd=ROOT,
        env={**os.environ, "MY_API_TOKEN": TOKEN},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert "nox > python -m build_support doctor https://***@example.com/simple ***" in out, out
    assert "p4ssword-xyz" not in out
    assert TOKEN not in out
