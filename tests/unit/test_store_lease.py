"""The store lock (:mod:`build_support.store.lease`) on the local backend: one holder,
a clear refusal without waiting, and stale locks broken by the two documented rules."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from build_support import procs
from build_support.errors import StoreTimeoutError
from build_support.store import LocalStore, keys, lease

SHA = "0123456789abcdef0123456789abcdef01234567"
KEY = keys.publish_lock_key(SHA)


@pytest.fixture
def local(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def _plant(store: LocalStore, **fields: object) -> lease.Holder:
    holder = lease.Holder(
        token="other", host="elsewhere", pid=1, pid_start=None, what="publish by them",
        started=1000.0, renewed=1000.0, lease=300.0,
    )  # fmt: skip
    holder = lease.Holder(**{**holder.__dict__, **fields})
    assert store._create_if_absent(KEY, holder.body()) is not None
    return holder


def _dead_pid() -> int:
    """A pid no process can have: above the kernel's limit."""
    return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1


def test_one_holder_at_a_time_and_released_after(local: LocalStore) -> None:
    with local.lease(KEY, what="first"):
        assert local.exists(KEY)
        with pytest.raises(StoreTimeoutError, match=r"is held by first \(pid \d+ on ") as err:
            with local.lease(KEY, what="second", wait=False):
                pass
        assert err.value.exit_code == 12
        assert f"store rm {KEY}" in str(err.value)
    assert not local.exists(KEY)
    with local.lease(KEY, what="third"):
        pass


def test_a_held_lock_is_waited_for_with_a_line_naming_its_holder(
    local: LocalStore, capsys: pytest.CaptureFixture[str]
) -> None:
    _plant(local, host=socket.gethostname(), pid=os.getpid(), renewed=1e12)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 3:  # the holder lets go
            local._delete_if(KEY, local._read_tagged(KEY)[1])  # type: ignore[index]

    with lease.hold(local, KEY, what="me", now=lambda: 1e12, sleep=sleep):
        pass
    assert len(slept) == 3
    assert "waiting for the lock publish/" in capsys.readouterr().err


def test_a_lock_of_a_dead_process_on_this_host_is_broken(
    local: LocalStore, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = _dead_pid()
    _plant(local, host=socket.gethostname(), pid=dead, renewed=1e12)

    def never(seconds: float) -> None:
        pytest.fail(f"waited {seconds}s for a lock whose holder is gone")

    with lease.hold(local, KEY, what="me", now=lambda: 1e12, sleep=never):
        holder = lease.Holder.parse(local._read_tagged(KEY)[0])  # type: ignore[index]
        assert holder is not None
        assert holder.what == "me"
    err = capsys.readouterr().err
    assert f"broke the stale lock {KEY}" in err
    assert f"pid {dead} on this host" in err


def test_a_reused_pid_is_not_the_holder(local: LocalStore) -> None:
    holder = lease.Holder.parse(
        _plant(local, host=socket.gethostname(), pid=os.getpid(), pid_start="1").body()
    )
    assert holder is not None
    assert procs.start_time(os.getpid()) != "1"
    assert "is gone" in (lease.stale_reason(holder, now=1000.0, host=socket.gethostname()) or "")


def test_another_hosts_lock_holds_until_its_lease_runs_out(local: LocalStore) -> None:
    _plant(local, renewed=1000.0, lease=300.0)
    with pytest.raises(StoreTimeoutError, match="publish by them"):
        with lease.hold(local, KEY, what="me", wait=False, now=lambda: 1299.0):
            pass
    with lease.hold(local, KEY, what="me", wait=False, now=lambda: 1301.0):
        pass
    assert not local.exists(KEY)


def test_only_the_current_holder_may_replace_or_delete(local: LocalStore) -> None:
    tag = local._create_if_absent(KEY, b"one")
    assert tag is not None
    assert local._create_if_absent(KEY, b"two") is None
    assert local._replace_if(KEY, b"two", "0" * 64) is None
    new = local._replace_if(KEY, b"two", tag)
    assert new is not None
    assert not local._delete_if(KEY, tag)
    assert local._delete_if(KEY, new)
    assert local._read_tagged(KEY) is None
