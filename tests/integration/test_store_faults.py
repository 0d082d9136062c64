"""The ``store`` stage under faults (issue 18, item 12), through ``python -m build_support``:
a put killed with SIGKILL leaves temporary files that the next put sweeps, and a key that
is not UTF-8 is a usage error (exit 2), not a crash (exit 1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHA = "0123456789abcdef0123456789abcdef01234567"

pytestmark = pytest.mark.integration


def _project(tmp_path: Path) -> tuple[Path, Path]:
    project = tmp_path / "proj"
    project.mkdir()
    store_dir = tmp_path / "store"
    (project / "pyproject.toml").write_text(
        f'[tool.build_support]\nartifact_store = "{store_dir}"\n', encoding="utf-8"
    )
    return project, store_dir


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "BUILD_SUPPORT_STORE"}
    return {**env, "PYTHONPATH": str(ROOT)}


def _store(project: Path, *args: str | bytes) -> subprocess.Popen[bytes]:
    argv: list[str | bytes] = [sys.executable, "-m", "build_support", "store", *args]
    return subprocess.Popen(
        argv, cwd=project, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def _temps(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob(".*") if ".tmp-" in p.name) if folder.is_dir() else []


def test_temporary_files_of_a_killed_put_are_swept_by_the_next_put(tmp_path: Path) -> None:
    project, store_dir = _project(tmp_path)
    big = tmp_path / "big.whl"
    with big.open("wb") as f:
        for _ in range(96):
            f.write(os.urandom(1 << 20))
    folder = store_dir / "main" / SHA
    outputs: list[str] = []
    for kill in range(3):
        before = _temps(folder)
        proc = _store(project, "put", str(big), f"main/{SHA}/")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            fresh = [p for p in _temps(folder) if p not in before]
            if fresh and fresh[0].stat().st_size > 0:
                break
            time.sleep(0.001)
        assert proc.poll() is None, "the put ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        outputs.append(proc.communicate(timeout=60)[0].decode())
        # Each put swept the copy of the put killed before it: one is left, not kill + 1.
        assert len(_temps(folder)) == 1, (kill, _temps(folder))
        if before:
            assert f"removed {before[0]} " in outputs[-1], outputs[-1]
    left = _temps(folder)
    assert not (folder / big.name).exists()

    small = tmp_path / "small.whl"
    small.write_bytes(b"small wheel")
    done = _store(project, "put", str(small), f"main/{SHA}/")
    out = done.communicate(timeout=120)[0].decode()
    assert done.returncode == 0, out
    assert _temps(folder) == [], out
    assert "removed 1 temporary file(s) of killed writes" in out, out
    assert f"removed {left[0]} " in out, out
    assert "is gone" in out
    assert (folder / small.name).read_bytes() == b"small wheel"


def test_a_key_that_is_not_utf8_exits_2(tmp_path: Path) -> None:
    project, store_dir = _project(tmp_path)
    wheel = tmp_path / "w.whl"
    wheel.write_bytes(b"wheel")
    for args in (
        ("put", str(wheel), b"main/" + SHA.encode() + b"/caf\xe9.whl"),
        ("get", b"main/caf\xe9.whl", str(tmp_path / "out")),
        ("ls", b"caf\xe9/"),
    ):
        proc = _store(project, *args)
        out = proc.communicate(timeout=120)[0].decode(errors="replace")
        assert proc.returncode == 2, out
        assert "not valid UTF-8" in out, out
        assert "Traceback" not in out
    named = tmp_path / os.fsdecode(b"caf\xe9.whl")
    named.write_bytes(b"wheel")
    proc = _store(project, "put", str(named), f"main/{SHA}/")
    out = proc.communicate(timeout=120)[0].decode(errors="replace")
    assert proc.returncode == 2, out
    assert "invalid key 'main/" in out, out
    assert "caf\\xe9.whl" in out, out
    assert not (store_dir / "main").exists()
