"""Per-run private folders under the cache, and the sweep of those a kill left behind
(issue 18, item 6)."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from build_support import cache


def _stale_copy(runs: Path, name: str, **change: object) -> Path:
    """A run folder whose owner.json is this process's, with ``change`` applied."""
    folder = runs / name
    folder.mkdir(mode=0o700)
    owner = {**cache._owner("publish", "feedface" * 4), **change}
    (folder / "owner.json").write_text(json.dumps(owner))
    (folder / "pypi").mkdir()
    (folder / "pypi" / "copy.whl").write_bytes(b"w" * 4096)
    return folder


def test_a_run_folder_is_private_owned_and_removed_at_the_end(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    with cache.run_folder("publish", root=runs) as run:
        assert cache.active_run() == run
        assert stat.S_IMODE(run.path.stat().st_mode) == 0o700
        assert stat.S_IMODE(runs.stat().st_mode) == 0o700
        owner = json.loads((run.path / "owner.json").read_text())
        assert owner["pid"] == os.getpid()
        assert owner["token"] == run.token
        assert run.marker() == {"BUILD_SUPPORT_OWNER": run.token}
        (run.path / "x").write_text("secret stuff")
        assert cache.sweep_runs(runs) == []  # a live run is never swept
    assert cache.active_run() is None
    assert list(runs.iterdir()) == []


def test_the_sweep_removes_what_dead_owners_left_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    dead = _stale_copy(runs, "1-dead", start="1")  # this pid, another start: pid reused
    rebooted = _stale_copy(runs, "2-boot", boot="another-boot")
    foreign = _stale_copy(runs, "3-host", host="another-host", start="1")
    other_ns = _stale_copy(runs, "4-ns", pidns="pid:[1]", start="1")
    alive = _stale_copy(runs, "5-alive")
    half = runs / ".new-old"
    half.mkdir()
    old = time.time() - cache.NEW_GRACE_SECONDS - 5
    os.utime(half, (old, old))
    fresh_half = runs / ".new-fresh"
    fresh_half.mkdir()
    link = tmp_path / "alias"
    link.symlink_to(dead / "pypi")
    (dead / cache.LINKS).write_text(f"{link}\n")

    swept = cache.sweep_runs(runs)
    assert sorted(s.path.name for s in swept) == [".new-old", "1-dead", "2-boot"]
    left = sorted(p.name for p in runs.iterdir())
    assert left == [".new-fresh", "3-host", "4-ns", "5-alive"]  # cannot tell, or alive
    assert not link.is_symlink()  # the run's short alias went with it
    err = capsys.readouterr().err
    assert f"swept the stale run folder {dead} of publish (pid {os.getpid()}, gone)" in err
    assert "2 file(s), 0.0 MB" in err
    for kept in (foreign, other_ns, alive):
        assert kept.is_dir()
    assert rebooted not in list(runs.iterdir())


def test_a_long_path_gets_a_short_alias_owned_by_the_run(tmp_path: Path) -> None:
    runs = tmp_path / ("deep" * 20) / "runs"
    with cache.run_folder("sign", root=runs) as run:
        real = run.path / "gnupg"
        real.mkdir()
        alias = run.short_alias(real, limit=80)
        assert len(str(alias)) <= 80
        assert alias.resolve() == real.resolve()
        assert run.short_alias(tmp_path, limit=1000) == tmp_path
    assert not alias.is_symlink()
