"""docs/onboarding.md, tried for images: the images stage on a project that is not minray.

``tinyimg`` is a git repository in ``tmp_path`` with its own names for everything the
images stage touches: namespace ``example-onboard``, base image ``tiny-deps`` built from
``docker/deps/`` (``base_deps_dockerfile``), product image ``tinyimg`` from
``docker/tinyimg/``, user ``tinyuser``, wheel and smoke module ``tinyimg``. Its
Dockerfiles read only the harness's build arguments (``BUILD_SUPPORT_*``). The wheel of
its HEAD commit is put in its store, then the real stage runs
(``python -m build_support images``: the local Debian stand-in base, BuildKit, the smoke
run in a container without network) and the commit is read back from the image.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from build_support import manifests, pythons, store
from build_support.containers import engine, rootfs
from tests.conftest import git
from tests.helpers import build_stamped_wheels, docker

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.uname().machine not in ("x86_64", "amd64") or sys.platform != "linux",
        reason="the stand-in base is x86_64 Debian",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "example-onboard"
#: A small hashed lockfile (pip-compile's format), as `nox -s lock` writes one.
LOCKFILE = """\
six==1.17.0 \\
    --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274 \\
    --hash=sha256:ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81
"""

PYPROJECT = f"""\
[tool.build_support]
python_versions = ["3.11"]
default_branch = "main"
artifact_store = ".artifacts"

[tool.build_support.images]
namespace = "{NAMESPACE}"
base_deps_name = "tiny-deps"
base_deps_dockerfile = "deps"
image_name = "tinyimg"
wheels = ["tinyimg"]
smoke_module = "tinyimg"
user = "tinyuser"
uid = 1234
python_versions = ["3.11"]
default_python = "3.11"
"""

PRODUCT_DOCKERFILE = """\
ARG FULL_BASE_IMAGE
FROM ${FULL_BASE_IMAGE}
ARG BUILD_SUPPORT_PACKAGES
ARG BUILD_SUPPORT_USER
USER ${BUILD_SUPPORT_USER}
RUN --mount=type=bind,source=.whl,target=/tmp/.whl \\
    --mount=type=bind,source=requirements_compiled.txt,target=/tmp/constraints.txt \\
    pip install --no-index --find-links /tmp/.whl -c /tmp/constraints.txt \\
      ${BUILD_SUPPORT_PACKAGES} && \\
    pip freeze > "/home/${BUILD_SUPPORT_USER}/pip-freeze.txt"
WORKDIR /home/${BUILD_SUPPORT_USER}
"""

PACKAGE = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools==75.8.0", "wheel"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "tinyimg"
        version = "0.3.0"
        requires-python = ">=3.10"

        [tool.setuptools]
        packages = ["tinyimg"]
    """,
    "tinyimg/__init__.py": """
        from tinyimg._version import commit as __commit__
    """,
    "tinyimg/_version.py": """
        commit = "{{COMMIT_SHA}}"
    """,
}


def _repo(where: Path) -> Path:
    repo = where / "tinyimg"
    for rel, text in PACKAGE.items():
        path = repo / "python" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    # The base-deps Dockerfile in minray's shape (docs/onboarding.md), with its own paths.
    deps = (ROOT / "docker" / "base-deps" / "Dockerfile").read_text().replace("minray", "tiny")
    (repo / "docker" / "deps").mkdir(parents=True)
    (repo / "docker" / "deps" / "Dockerfile").write_text(deps)
    (repo / "docker" / "tinyimg").mkdir()
    (repo / "docker" / "tinyimg" / "Dockerfile").write_text(PRODUCT_DOCKERFILE)
    lock = repo / "requirements" / "compiled" / "requirements_compiled_py3.11.txt"
    lock.parent.mkdir(parents=True)
    lock.write_text(LOCKFILE)
    (repo / "pyproject.toml").write_text(PYPROJECT)
    (repo / ".gitignore").write_text("dist/\n.artifacts/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "a project that is not minray")
    return repo


def _images(repo: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUILDKITE", "GITHUB_"))}
    for var in ("BUILD_SUPPORT_COMMIT", "BUILD_SUPPORT_BRANCH", "BUILD_SUPPORT_STORE", "CI"):
        env.pop(var, None)
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "build_support", "images", "--python", "3.11"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=1700,
        check=False,
    )


def test_images_of_a_project_with_its_own_names(tmp_path: Path) -> None:
    pythons.require(["3.11"])  # the stand-in base's Python; fails naming how to get it
    engine.ensure_docker()
    rootfs.ensure_image("x86_64", ["python3", "python3-venv", "python3-pip", "ca-certificates"])
    repo = _repo(tmp_path)
    sha = git(repo, "rev-parse", "HEAD")
    (wheel,) = build_stamped_wheels(
        [repo / "python"],
        tmp_path / "build",
        commit=sha,
        python="3.11",
        platform_tag="manylinux2014_x86_64",
    )
    store.open_url(str(repo / ".artifacts")).put(
        store.keys.wheel_key("main", sha, wheel.name), wheel
    )

    manifest = manifests.images_path(repo / "dist")
    try:
        proc = _images(repo)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-4000:]
        recorded = manifests.read(manifest, manifests.ImagesManifest)
        refs = [r for row in recorded.images for r in row.refs]
        assert [row.name for row in recorded.images] == ["tiny-deps", "tinyimg"]
        assert all(r.startswith(f"{NAMESPACE}/tiny") for r in refs), refs
        product = recorded.find("tinyimg", python="3.11", flavor="cpu", arch="x86_64")
        assert product is not None
        assert product.commit == sha
        ref = product.refs[0]
        assert f"smoke run: uid 1234, tinyimg at commit {sha}" in proc.stderr

        labels = json.loads(docker("image", "inspect", "-f", "{{json .Config.Labels}}", ref))
        assert labels["org.opencontainers.image.revision"] == sha
        assert labels["org.opencontainers.image.title"] == "tinyimg"
        assert "org.opencontainers.image.source" not in labels  # source_url is not set
        assert docker("image", "inspect", "-f", "{{.Config.User}}", ref) == "tinyuser"
        # The commit, read back from inside the image, as the user the build arguments named.
        out = docker("run", "--rm", "--network=none", ref, "sh", "-c",
                     'id -un; python -c "import tinyimg; print(tinyimg.__commit__)"')  # fmt: skip
        assert out.split() == ["tinyuser", sha]
        freeze = repo / "dist" / "images" / f"tinyimg-{ref.rsplit(':', 1)[1]}.pip-freeze.txt"
        assert "tinyimg==0.3.0" in freeze.read_text()
        assert "six==1.17.0" in freeze.read_text()
    finally:
        if manifest.is_file():
            rows = manifests.read(manifest, manifests.ImagesManifest).images
            subprocess.run(
                [engine.docker_client(), "rmi", *(r for row in rows for r in row.refs)],
                capture_output=True,
                check=False,
            )
