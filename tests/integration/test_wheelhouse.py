"""The wheelhouse downloads with the pinned pip, whichever interpreter runs the stage.

``nox -s images`` from a fresh clone ran ``pip download --require-hashes`` with the pip of
the interpreter it found (pyenv's 3.11.7 ships pip 23.2.1), which refuses the locked
``coverage`` that ``pytest-cov`` asks for as ``coverage[toml]>=7.10.6``: exit 5. Here that
interpreter runs the wheelhouse itself, against the real index, for the committed
lockfile's entries of that chain.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from build_support import pythons, tools
from tests.helpers import ROOT

#: pytest-cov and what it pulls in, as the committed lockfile pins them (with hashes).
CHAIN = ("pytest-cov", "coverage", "pytest", "pluggy", "iniconfig", "packaging", "pygments")


def _locked_chain(dest: Path) -> Path:
    """The CHAIN's entries of the committed Python 3.11 lockfile (pins and hashes)."""
    text = (ROOT / "requirements/compiled/requirements_compiled_py3.11.txt").read_text()
    lines, current = [], ""
    for line in text.splitlines():
        pinned = re.match(r"^([A-Za-z0-9_.-]+)==", line)
        if pinned:
            current = pinned.group(1).lower()
        if current in CHAIN and not line.lstrip().startswith("#"):
            lines.append(line)
    path = dest / "lock.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.network
def test_an_interpreter_with_an_old_pip_downloads_a_locked_extra_with_the_pinned_pip(
    tmp_path: Path,
) -> None:
    host = pythons.find("3.11")
    if host is None:
        pytest.skip("no Python 3.11 on this host")
    own = subprocess.run(
        [host.path, "-m", "pip", "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    if own[1:2] == [tools.PINS["pip"]]:
        pytest.skip(f"{host.path}'s own pip is the pinned one: nothing to show here")
    lock = _locked_chain(tmp_path)
    code = (
        "import sys\n"
        "from build_support import wheelhouse\n"
        "house = wheelhouse.ensure(['--require-hashes', '-r', sys.argv[1]],\n"
        "    platforms=['manylinux2014_x86_64', 'manylinux_2_28_x86_64'], python='3.11',\n"
        "    name='chain')\n"
        "print(house)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BUILD_SUPPORT_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [host.path, "-c", code, str(lock)],
        capture_output=True, text=True, check=False, timeout=900, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    house = Path(proc.stdout.strip().splitlines()[-1])
    names = sorted(p.name.split("-")[0].lower().replace("_", "-") for p in house.glob("*.whl"))
    assert names == sorted(CHAIN)
