"""Install and start what a fresh machine lacks: Debian packages and the Docker engine.

Stages call :func:`ensure_packages` / :func:`ensure_docker` instead of asking the user
to prepare the machine by hand. Installing needs root on a Debian-like system; anywhere
else the error says exactly which packages to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from build_support import log
from build_support.errors import DockerError, ProvisionError

DOCKERD_LOG = Path("/var/log/build-support-dockerd.log")


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def missing_packages(executables: dict[str, str]) -> list[str]:
    """Debian packages whose executable (key) is not on PATH."""
    return sorted({pkg for exe, pkg in executables.items() if shutil.which(exe) is None})


def ensure_packages(executables: dict[str, str]) -> None:
    """Make every executable available, installing its Debian package if needed.

    ``executables`` maps an executable name to the package that provides it.
    """
    missing = missing_packages(executables)
    if not missing:
        return
    if not _is_root() or shutil.which("apt-get") is None:
        raise ProvisionError(
            "missing system packages: " + " ".join(missing),
            hint="install them: sudo apt-get install -y " + " ".join(missing),
        )
    log.step("installing system packages: " + " ".join(missing))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for attempt in (1, 2):
        proc = subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0:
            return
        if attempt == 1:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
    raise ProvisionError(
        "apt-get install failed for: " + " ".join(missing) + "\n" + proc.stderr[-2000:],
        hint="check the apt sources and network, then rerun",
    )


def _docker_client() -> str:
    # Debian's client at /usr/bin/docker has BuildKit; a newer client earlier on PATH may lack it.
    if Path("/usr/bin/docker").exists():
        return "/usr/bin/docker"
    found = shutil.which("docker")
    if found is None:
        raise DockerError("no docker client", hint="apt-get install docker.io")
    return found


def docker_client() -> str:
    """The docker CLI the harness uses (Debian's, which builds with BuildKit)."""
    return _docker_client()


def engine_running(timeout: float = 10.0) -> bool:
    try:
        proc = subprocess.run(
            [_docker_client(), "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired, DockerError):
        return False
    return proc.returncode == 0


def ensure_docker(*, start: bool = True, wait_seconds: float = 60.0) -> None:
    """A running Docker engine, starting Debian's dockerd if allowed and needed."""
    if shutil.which("dockerd") is None or not Path("/usr/bin/docker").exists():
        ensure_packages({"dockerd": "docker.io"})
        if not Path("/usr/bin/docker").exists():
            ensure_packages({"/usr/bin/docker": "docker.io"})
    if engine_running():
        return
    if not start or not _is_root():
        raise DockerError(
            "the Docker engine is not running",
            hint="start it: sudo dockerd &  (or systemctl start docker)",
        )
    log.step("starting dockerd")
    with DOCKERD_LOG.open("ab") as out:
        subprocess.Popen(["dockerd"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if engine_running(timeout=5):
            return
        time.sleep(1)
    raise DockerError(
        f"dockerd did not become ready within {wait_seconds:.0f}s",
        hint=f"see {DOCKERD_LOG}",
    )
