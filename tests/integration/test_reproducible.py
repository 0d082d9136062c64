"""Reproducible outputs for real: ``wheel -- --check-reproducible`` builds minray and
minray_cpp twice (different temporary folders) and compares them byte for byte, before
and after ``auditwheel repair``; a build that embeds a random value is caught, with the
member named. One Python, the host platform (the cheapest build that proves it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import git
from tests.integration.test_wheel import available, make_repo, run_stage


def _one_python() -> list[str]:
    found = available(["3.12", "3.11", "3.13", "3.10"])
    if not found:
        pytest.fail("no CPython 3.10-3.13 found; install one (pyenv install 3.12)")
    return found[:1]


def test_wheel_builds_are_byte_identical_before_and_after_repair(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, _one_python())
    proc = run_stage(repo, "--check-reproducible")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    rows = [
        line for line in out.splitlines() if re.search(r"\.whl \((before repair|repaired)\)", line)
    ]
    assert len(rows) == 4, out  # 2 projects x (raw, repaired)
    assert all(line.rstrip().endswith("identical") for line in rows), out
    assert "SOURCE_DATE_EPOCH=" in out
    assert not (repo / "dist").exists()  # a check: nothing placed or stored
    assert not (repo / ".artifacts").exists()


def test_a_build_that_embeds_a_random_value_is_named(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, _one_python())
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"python", "python/cpp"', '"python/cpp"'))
    setup = repo / "python" / "cpp" / "setup.py"
    text = setup.read_text()
    nonce = (
        "import os as _os\n"
        '(HERE / "minray_cpp" / "_nonce.py").write_text(f"nonce = {_os.urandom(8).hex()!r}\\n")\n'
    )
    setup.write_text(
        text.replace("SCRATCH = _scratch_dir()\n", "SCRATCH = _scratch_dir()\n" + nonce)
    )
    git(repo, "commit", "-qam", "a build that is not reproducible")
    proc = run_stage(repo, "--check-reproducible")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 13, out
    assert "minray_cpp/_nonce.py: content differs" in out, out
    assert "error: wheel: 2 of 2 output(s) differ between two builds of the same inputs" in out
    assert not (repo / "dist").exists()  # nothing placed or stored, even on failure
    assert not (repo / ".artifacts").exists()
