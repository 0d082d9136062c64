"""The machine-wide cache folder, a lock for work two jobs may start at once, and the
per-run folders that hold a run's private files.

A **run folder** (:func:`run_folder`) is ``<cache>/runs/<pid>-<token>``, mode 0700, for
everything a run must not leave in ``/tmp``: artifact copies, a temporary
``DOCKER_CONFIG`` (the registry login), a temporary ``GNUPGHOME`` (the imported private
key). Its ``owner.json`` says which process owns it (pid, the process's start time, boot,
host and pid namespace). Processes a run starts that may outlive a command (gpg-agent)
carry the run's owner marker (:data:`build_support.procs.OWNER_VAR`). The folder is
removed, and its marked processes killed, when the run ends; a SIGKILL leaves it behind,
so every run first :func:`sweep_runs`: each run folder whose owner is gone is removed and
its marked processes are killed, and the sweep says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "BUILD_SUPPORT_CACHE"
RUNS = "runs"
#: A half-made run folder (``.new-*``, killed between mkdir and rename) older than this
#: is swept.
NEW_GRACE_SECONDS = 600.0
#: A file in a run folder listing paths outside it that it owns (short symlinks).
LINKS = "links"


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """``$BUILD_SUPPORT_CACHE`` or ``~/.cache/build-support``."""
    env = os.environ if env is None else env
    configured = env.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "build-support"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive file lock at ``path``: a second job making the same thing waits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# --------------------------------------------------------------------------- run folders


def _start_time(pid: int) -> str:
    """The start time of ``pid`` (``/proc/PID/stat`` field 22), or "" when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    try:
        return str(Path("/proc/self/ns/pid").readlink())
    except OSError:
        return ""


def _owner(stage: str, token: str) -> dict[str, object]:
    return {
        "stage": stage,
        "pid": os.getpid(),
        "start": _start_time(os.getpid()),
        "boot": _boot_id(),
        "host": socket.gethostname(),
        "pidns": _pid_namespace(),
        "token": token,
        "created": time.time(),
    }


@dataclass(frozen=True)
class RunFolder:
    """A run's private folder (0700) and the owner marker of what the run starts."""

    path: Path
    token: str

    def marker(self) -> dict[str, str]:
        """The environment entry that marks a process as this run's (swept with it)."""
        from build_support.procs import OWNER_VAR

        return {OWNER_VAR: self.token}

    def short_alias(self, target: Path, *, limit: int) -> Path:
        """``target`` itself when its path has at most ``limit`` characters, else a short
        symbolic link to it in the system's temporary folder (e.g. for gpg-agent's socket
        path), owned by this run: removed with it, and by the sweep."""
        if len(str(target)) <= limit:
            return target
        # /tmp itself, not $TMPDIR (which may be as long); the name is unguessable and the
        # link holds nothing: what it points to is the run's 0700 folder.
        tmp = Path("/tmp")  # noqa: S108
        base = tmp if tmp.is_dir() else Path(tempfile.gettempdir())
        link = base / f"bs-{self.token[:12]}-{target.name}"
        with (self.path / LINKS).open("a", encoding="utf-8") as fh:
            fh.write(f"{link}\n")
        link.unlink(missing_ok=True)
        link.symlink_to(target)
        return link


_active: list[RunFolder] = []


def active_run() -> RunFolder | None:
    """The innermost run folder of this process, if a run is open."""
    return _active[-1] if _active else None


def scratch_dir() -> Path | None:
    """Where a temporary file of this run goes: its run folder, else ``None`` (the system's
    temporary folder), e.g. ``tempfile.TemporaryDirectory(dir=cache.scratch_dir())``."""
    run = active_run()
    return run.path if run is not None else None


def runs_root(env: Mapping[str, str] | None = None) -> Path:
    return cache_root(env) / RUNS


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)


@contextlib.contextmanager
def run_folder(stage: str, *, root: Path | None = None) -> Iterator[RunFolder]:
    """A fresh run folder under ``<cache>/runs`` for the block (stale ones swept first);
    removed at the end with every process that carries its marker."""
    runs = runs_root() if root is None else root
    sweep_runs(runs)
    _private_dir(runs)
    token = uuid.uuid4().hex
    staging = Path(tempfile.mkdtemp(prefix=".new-", dir=runs))  # 0700
    (staging / "owner.json").write_text(json.dumps(_owner(stage, token)) + "\n")
    path = runs / f"{os.getpid()}-{token[:8]}"
    staging.replace(path)
    run = RunFolder(path, token)
    _active.append(run)
    try:
        yield run
    finally:
        _active.remove(run)
        _remove_run(path, token)


@dataclass(frozen=True)
class Swept:
    """A stale run folder that a sweep removed, and what it held."""

    path: Path
    stage: str
    pid: int
    files: int
    size: int
    killed: tuple[int, ...]

    def describe(self) -> str:
        what = f"{self.files} file(s), {self.size / 1e6:.1f} MB"
        if self.killed:
            what += f"; killed {len(self.killed)} leftover process(es) of it: " + ", ".join(
                map(str, self.killed)
            )
        owner = f"{self.stage or 'a run'} (pid {self.pid}, gone)" if self.pid else "a run"
        return f"swept the stale run folder {self.path} of {owner}: {what}"


def _owner_gone(owner: Mapping[str, object]) -> bool | None:
    """True when the owner process is gone, False when alive, None when this process
    cannot tell (another host or pid namespace)."""
    if owner.get("host") != socket.gethostname() or owner.get("pidns") != _pid_namespace():
        return None
    if owner.get("boot") != _boot_id():
        return True
    pid = owner.get("pid")
    if not isinstance(pid, int):
        return True
    return _start_time(pid) != owner.get("start")


def _remove_run(path: Path, token: str) -> tuple[int, ...]:
    """Kill the run's marked processes, remove its links and the folder."""
    from build_support import procs

    killed = tuple(procs.kill_marked(token)) if token else ()
    links = path / LINKS
    with contextlib.suppress(OSError):
        for line in links.read_text(encoding="utf-8").splitlines():
            link = Path(line)
            if link.is_symlink() and link.readlink().is_relative_to(path):
                link.unlink()
    shutil.rmtree(path, ignore_errors=True)
    return killed


def _tally(path: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, _dirs, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                size += (Path(dirpath) / name).lstat().st_size
                files += 1
    return files, size


def sweep_runs(root: Path | None = None) -> list[Swept]:
    """Remove every run folder under ``root`` whose owner process is gone (and kill the
    processes marked with its token); each one is said on the console."""
    from build_support import log

    runs = runs_root() if root is None else root
    swept: list[Swept] = []
    try:
        entries = sorted(runs.iterdir())
    except OSError:
        return swept
    for path in entries:
        if not path.is_dir() or path.is_symlink():
            continue
        try:
            owner = json.loads((path / "owner.json").read_text())
        except (OSError, ValueError):
            owner = None
        if not isinstance(owner, dict):
            try:
                age = time.time() - path.stat().st_mtime
            except OSError:
                continue
            if age < NEW_GRACE_SECONDS:
                continue  # being made right now by another run
            owner = {}
        elif not _owner_gone(owner):
            continue
        files, size = _tally(path)
        token = owner.get("token")
        killed = _remove_run(path, token if isinstance(token, str) else "")
        pid = owner.get("pid")
        stage = owner.get("stage")
        item = Swept(path, stage if isinstance(stage, str) else "",
                     pid if isinstance(pid, int) else 0, files, size, killed)  # fmt: skip
        log.warn(item.describe())
        swept.append(item)
    return swept
