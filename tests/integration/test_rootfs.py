"""rootfs.ensure_image against real debootstrap, BuildKit and dockerd.

The images are cached between runs on the same machine (keyed by their inputs), so
only the first run pays for debootstrap.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from build_support.containers import rootfs
from tests.helpers import docker

pytestmark = [pytest.mark.docker, pytest.mark.slow]

#: The base the image tests use (Debian bookworm has Python 3.11).
PACKAGES = ["python3", "python3-venv", "python3-pip", "ca-certificates"]


def test_amd64_image_runs_python_and_is_cached() -> None:
    tag = rootfs.ensure_image("x86_64", PACKAGES)
    key = rootfs.rootfs_key("x86_64", "bookworm", PACKAGES, rootfs.resolve_mirror())
    assert tag == rootfs.default_tag("x86_64", "bookworm", key)
    inspect = json.loads(docker("image", "inspect", tag))[0]
    assert inspect["Architecture"] == "amd64"
    assert inspect["Config"]["Labels"][rootfs.KEY_LABEL] == key
    assert (rootfs.rootfs_cache_dir() / f"{key}.tar").is_file()
    # no half-made leftovers beside the cache
    assert not list(rootfs.rootfs_cache_dir().glob("*.tmp"))
    out = docker(
        "run", "--rm", tag, "python3", "-c", "import sys, venv; print(sys.version_info[:2])"
    )
    assert out == "(3, 11)"

    # second call: found by label, no debootstrap, no build
    started = time.monotonic()
    assert rootfs.ensure_image("x86_64", list(reversed(PACKAGES))) == tag
    assert time.monotonic() - started < 30


def test_extra_tag_is_added_to_existing_image() -> None:
    tag = rootfs.ensure_image("x86_64", PACKAGES)
    alias = rootfs.ensure_image("x86_64", PACKAGES, tag="build-support/test-alias:bookworm")
    assert alias == "build-support/test-alias:bookworm"
    assert docker("image", "inspect", "-f", "{{.Id}}", alias) == docker(
        "image", "inspect", "-f", "{{.Id}}", tag
    )
    docker("rmi", alias)


def _drop_names(tag: str) -> None:
    # drop every name of the image (images built FROM it keep its layers alive, hidden)
    for name in json.loads(docker("image", "inspect", "-f", "{{json .RepoTags}}", tag)):
        docker("rmi", "--no-prune", name)


def test_rebuild_from_cached_tarball_when_image_is_gone(tmp_path: Path) -> None:
    tag = rootfs.ensure_image("x86_64", PACKAGES)
    key = rootfs.rootfs_key("x86_64", "bookworm", PACKAGES, rootfs.resolve_mirror())
    tarball = rootfs.rootfs_cache_dir() / f"{key}.tar"
    before = tarball.stat()

    _drop_names(tag)
    assert rootfs.find_image(key) is None
    assert rootfs.ensure_image("x86_64", PACKAGES) == tag
    rebuilt = json.loads(docker("image", "inspect", tag))[0]
    assert rebuilt["Config"]["Labels"][rootfs.KEY_LABEL] == key
    # made from the cached tarball: debootstrap did not run again
    after = tarball.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )

    # the same tarball and Dockerfile give the same image again. (The image found at
    # the start may come from an older tarball with this key, so it is not compared.)
    _drop_names(tag)
    assert rootfs.ensure_image("x86_64", PACKAGES) == tag
    assert docker("image", "inspect", "-f", "{{.Id}}", tag) == rebuilt["Id"]


@pytest.mark.skipif(
    rootfs.binfmt_status("aarch64") is not None and not Path("/usr/sbin/update-binfmts").exists(),
    reason="no QEMU binfmt for aarch64 and no way to enable it",
)
def test_arm64_image_under_qemu() -> None:
    tag = rootfs.ensure_image("aarch64", ["python3"])
    inspect = json.loads(docker("image", "inspect", tag))[0]
    assert inspect["Architecture"] == "arm64"
    out = docker(
        "run", "--rm", "--platform", "linux/arm64", tag, "python3", "-c",
        "import platform; print(platform.machine())",
    )  # fmt: skip
    assert out == "aarch64"
