"""Helpers shared by integration tests and benchmarks (no fixtures here)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from build_support import config, provision, pythons, wheelfile

ROOT = Path(__file__).resolve().parent.parent
_IGNORE = shutil.ignore_patterns("cpp", "tests", "build", "*.egg-info", "__pycache__")


def build_stamped_wheels(
    projects: Sequence[Path],
    work: Path,
    *,
    commit: str,
    python: str,
    platform_tag: str,
) -> list[Path]:
    """Wheels of ``projects`` with ``commit`` stamped in, retagged as ``platform_tag``.

    A quick stand-in for the wheel stage where a test needs a real wheel of minray but
    tests something else: the sources are copied (never edited in place), stamped with the
    library's own :func:`wheelfile.stamp_tree`, built with ``pip wheel`` by the Python
    ``python`` (X.Y), and retagged with ``wheel tags`` (the extensions link only libc, so
    the manylinux2014 tag is right; auditwheel needs a newer patchelf than Debian's).
    """
    interp = pythons.require([python])[python]
    out = work / "wheels"
    for project in projects:
        src = work / "src" / project.name
        shutil.copytree(project, src, ignore=_IGNORE)
        versions = [p.relative_to(src).as_posix() for p in src.glob("*/_version.py")]
        assert wheelfile.stamp_tree(src, versions, commit), f"no placeholder in {project}"
        subprocess.run(
            [str(interp.path), "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
            check=True,
            capture_output=True,
        )
    for whl in sorted(out.glob("*.whl")):
        subprocess.run(
            [sys.executable, "-m", "wheel", "tags", "--remove", "--platform-tag",
             platform_tag, str(whl)],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return sorted(out.glob("*.whl"))


def docker(*args: str) -> str:
    """``docker ARGS`` with the harness's docker CLI; its stdout, stripped (fails loudly)."""
    proc = subprocess.run(
        [provision.docker_client(), *args], capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(cond: Callable[[], bool], seconds: float = 30.0) -> bool:
    """Poll ``cond`` until it holds or ``seconds`` pass; its last answer."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie is dead); read from /proc, independent of ``procs``."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


#: The keys of each section that name the product (no harness default: docs/onboarding.md).
PRODUCT_KEYS = {
    "images": ("image_name", "wheels", "smoke_module", "user", "source_url"),
    "release_tests": ("distribution", "package"),
    "jars": (
        "native_library",
        "native_sources",
        "native_include_dirs",
        "native_check_class",
        "commit_manifest_entry",
    ),
}


def bundled_names(section: str) -> dict[str, object]:
    """minray's names in ``[tool.build_support.<section>]`` of this repository's pyproject.toml,
    for tests that build a project of their own from minray's sources."""
    table = config.load(ROOT).sections.get(section, {})
    return {k: table[k] for k in PRODUCT_KEYS[section] if k in table}


def bundled_toml(section: str) -> str:
    """:func:`bundled_names` as TOML lines (strings and lists of strings, as JSON writes them)."""
    return "".join(f"{k} = {json.dumps(v)}\n" for k, v in bundled_names(section).items())
