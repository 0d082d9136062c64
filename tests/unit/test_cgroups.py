"""Finding the cgroup2 hierarchy and this process's place in it (the files' formats)."""

from __future__ import annotations

from pathlib import Path

from build_support import cgroups

HYBRID = """\
24 29 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
25 24 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev shared:7 - cgroup2 cgroup2 rw,nsdelegate
26 24 0:24 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids
"""
UNIFIED = (
    "30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw\n"
)
V1_ONLY = "26 24 0:24 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids\n"


def test_the_cgroup2_mount_is_found_on_hybrid_and_unified_hosts() -> None:
    assert cgroups.cgroup2_mount(HYBRID) == Path("/sys/fs/cgroup/unified")
    assert cgroups.cgroup2_mount(UNIFIED) == Path("/sys/fs/cgroup")
    assert cgroups.cgroup2_mount(V1_ONLY) is None


def test_own_path_is_the_unified_line() -> None:
    v1_and_v2 = "4:memory:/process_api/03bb\n1:cpu:/\n0::/user.slice/session-2.scope\n"
    assert cgroups.own_cgroup2_path(v1_and_v2) == "/user.slice/session-2.scope"
    assert cgroups.own_cgroup2_path("0::/\n") == "/"
    assert cgroups.own_cgroup2_path("4:memory:/x\n") is None


def test_the_command_joins_the_cgroup_before_it_runs() -> None:
    group = cgroups.Cgroup(Path("/sys/fs/cgroup/x"))
    argv = group.wrap(["python", "-c", "print('a b')"])
    assert argv[:3] == ["sh", "-c", 'echo 0 > "$0" && exec "$@"']
    assert argv[3:] == ["/sys/fs/cgroup/x/cgroup.procs", "python", "-c", "print('a b')"]
