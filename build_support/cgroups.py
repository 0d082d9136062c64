"""A cgroup (v2) per release-test attempt: what a test starts cannot escape its cleanup.

A process group and an environment marker (:mod:`procs`) find most of what a test
leaves running, but a process that both leaves the session (``setsid``) and replaces its
environment is invisible to both. Cgroup membership is inherited by every child and is
not left by ``setsid``, ``exec`` or a new environment, so killing the cgroup kills them
all (``cgroup.kill``, Linux 5.14+; a SIGKILL per member on older kernels).

The cgroup is made under this process's own cgroup in the cgroup2 hierarchy (the
unified mount on a hybrid host). Where that cannot be done (no cgroup2, not allowed: a
non-root user without a delegated cgroup), :func:`create` says why and the caller keeps
the process group and the marker alone.

The command joins the cgroup before it runs: it is started as ``sh -c 'echo 0 >
cgroup.procs && exec "$@"'`` (writing 0 moves the writing process), so not even a
process forked at once is outside.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from build_support import procs

MOUNTINFO = Path("/proc/self/mountinfo")
OWN_CGROUP = Path("/proc/self/cgroup")


def cgroup2_mount(mountinfo: str) -> Path | None:
    """Where the cgroup2 hierarchy is mounted, from ``/proc/self/mountinfo`` text."""
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        if sep and right.split()[:1] == ["cgroup2"]:
            fields = left.split()
            if len(fields) >= 5:
                return Path(fields[4])
    return None


def own_cgroup2_path(proc_cgroup: str) -> str | None:
    """This process's cgroup2 path (the ``0::/path`` line of ``/proc/self/cgroup``)."""
    for line in proc_cgroup.splitlines():
        if line.startswith("0::"):
            return line[3:].strip() or "/"
    return None


@dataclass(frozen=True)
class Cgroup:
    path: Path

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """``argv`` started so that it joins this cgroup before it runs."""
        return ["sh", "-c", 'echo 0 > "$0" && exec "$@"', str(self.path / "cgroup.procs"), *argv]

    def pids(self) -> list[int]:
        try:
            text = (self.path / "cgroup.procs").read_text()
        except OSError:
            return []
        return sorted(int(p) for p in text.split())

    def populated(self) -> bool:
        try:
            events = (self.path / "cgroup.events").read_text()
        except OSError:
            return bool(self.pids())
        return "populated 1" in events.splitlines()

    def kill(self, *, timeout: float = 10.0) -> list[int]:
        """SIGKILL every member, reap those that are our children, remove the cgroup.

        Returns the pids that were still running (zombies are not counted).
        """
        alive = [p for p in self.pids() if procs.process_state(p) not in ("Z", "X", "gone")]
        deadline = time.monotonic() + timeout
        kill_file = self.path / "cgroup.kill"
        while self.populated() and time.monotonic() < deadline:
            if kill_file.exists():
                with contextlib.suppress(OSError):
                    kill_file.write_text("1")
            else:  # before Linux 5.14: one by one (a fork in between is caught next round)
                for pid in self.pids():
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
            for pid in self.pids():  # our children (the runner is a subreaper) are reaped
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)
            time.sleep(0.02)
        with contextlib.suppress(OSError):
            self.path.rmdir()
        return alive


def create(name: str) -> tuple[Cgroup | None, str]:
    """A new cgroup ``name`` under this process's own; or None and why it could not be."""
    try:
        mount = cgroup2_mount(MOUNTINFO.read_text())
        own = own_cgroup2_path(OWN_CGROUP.read_text())
    except OSError as exc:
        return None, f"cannot read the process's cgroups: {exc}"
    if mount is None or own is None:
        return None, "no cgroup2 hierarchy is mounted"
    parent = mount / own.lstrip("/")
    path = parent / name
    try:
        path.mkdir()
    except OSError as exc:
        return None, f"cannot create a cgroup in {parent}: {exc.strerror or exc}"
    if not (path / "cgroup.procs").exists():
        with contextlib.suppress(OSError):
            path.rmdir()
        return None, f"{parent} is not a cgroup2 directory"
    return Cgroup(path), ""
