"""manylinux2014_aarch64 wheels built under QEMU emulation in a local arm64 image.

No image can be pulled here, so the build image is Debian bookworm for arm64 made with
debootstrap (``rootfs:bookworm``), whose only Python is 3.11: one Python, both projects.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from build_support import wheelfile
from tests.conftest import git
from tests.integration.test_wheel import make_repo, run_stage

PLATFORM = "manylinux2014_aarch64"
IMAGE = f"{PLATFORM}=rootfs:bookworm"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.docker,
    pytest.mark.skipif(sys.platform != "linux", reason="Linux hosts build manylinux wheels"),
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("aarch64"), ["3.11"])


def test_emulated_build_repairs_verifies_and_stores(repo: Path) -> None:
    proc = run_stage(repo, PLATFORM, "--image", IMAGE, timeout=5400)
    assert proc.returncode == 0, proc.stderr[-5000:]
    sha = git(repo, "rev-parse", "HEAD")
    rows = json.loads((repo / "dist" / "wheels.json").read_text())["wheels"]
    assert sorted(r["project"] for r in rows) == ["python", "python/cpp"]
    for row in rows:
        assert row["mode"] == "container"
        wheel = repo / "dist" / row["wheel"]
        wheelfile.check_tags(wheel, platform=PLATFORM, python="3.11")
        assert set(wheelfile.read_commits(wheel).values()) == {sha}
        assert (repo / ".artifacts" / "main" / sha / row["wheel"]).is_file()
        show = subprocess.run(
            [sys.executable, "-m", "auditwheel", "show", str(wheel)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        found = re.search(r'platform tag:\s*"manylinux_(\d+)_(\d+)_aarch64"', show)
        assert found is not None, show
        assert (int(found[1]), int(found[2])) <= (2, 17), show
    # The import check ran inside the arm64 container and reported the commit.
    assert proc.stderr.count(f'"commit": "{sha}"') >= 2
    assert git(repo, "status", "--porcelain") == ""


def test_python_missing_from_the_image_is_named(repo: Path) -> None:
    proc = run_stage(repo, PLATFORM, "--image", IMAGE, "--python", "3.12", timeout=1800)
    assert proc.returncode == 4, proc.stderr[-3000:]
    assert "has no Python 3.12" in proc.stderr
    assert "it has: 3.11" in proc.stderr
