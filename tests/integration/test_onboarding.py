"""docs/onboarding.md, tried: the wheel stage on throwaway projects that are not minray.

Each test writes a tiny C-extension project into ``tmp_path`` (a git repository with
one commit), configures it the way docs/onboarding.md says, and runs the real stage
(``python -m build_support wheel``: build, auditwheel repair, verify, smoke import in a
fresh venv, store) for one Python on the host platform:

- Ray's layout: the project in ``python/``, the commit in ``tinyray/_version.py`` as
  ``{{RAY_COMMIT_SHA}}``, a Cython module that must be compiled;
- a single-module C extension with no version file: the commit goes into the wheel's
  ``.dist-info/COMMIT``;
- a package whose optional extension fails to compile and silently falls back to pure
  Python: ``compiled_modules`` must fail it;
- the no-version-file project again, built for manylinux2014_aarch64 in an arm64 build
  container under QEMU: the host adds ``.dist-info/COMMIT`` to the repaired wheel and the
  import check runs in the container; a stored wheel stamped with another commit then
  fails the rerun with exit 13.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from build_support import config, pythons, store, wheelfile
from build_support.errors import VerificationError
from build_support.releasetests.environments import VenvProvider
from build_support.releasetests.sources import LocalWheels
from tests.conftest import git

pytestmark = pytest.mark.skipif(
    os.uname().machine not in ("x86_64", "amd64") or sys.platform != "linux",
    reason="host builds here target manylinux2014_x86_64",
)

PLATFORM = "manylinux2014_x86_64"
SETUPTOOLS = "setuptools==75.8.0"  # the pins minray builds with (available offline here)
CYTHON = "Cython==3.0.12"


def _python() -> str:
    for version in ("3.12", "3.11", "3.13", "3.10"):
        if pythons.find(version) is not None:
            return version
    pythons.require(["3.12"])  # fails, naming how to get one
    raise AssertionError  # pragma: no cover


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


def _repo(
    where: Path, files: dict[str, str], wheel_config: str, *, head: str = "", python: str = ""
) -> Path:
    """A git repository of ``files`` whose pyproject.toml starts with ``head``."""
    repo = where / "proj"
    python = python or _python()
    _write(
        repo,
        {
            **files,
            "pyproject.toml": textwrap.dedent(head)
            + f"""
                [tool.build_support]
                python_versions = ["{python}"]
                default_branch = "main"
                artifact_store = ".artifacts"

                [tool.build_support.wheel]
            """
            + textwrap.dedent(wheel_config),
            ".gitignore": "dist/\n.artifacts/\n",
        },
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "a project that is not minray")
    return repo


def _stage(repo: Path, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUILDKITE", "GITHUB_"))}
    for var in ("BUILD_SUPPORT_COMMIT", "BUILD_SUPPORT_BRANCH", "BUILD_SUPPORT_STORE", "CI"):
        env.pop(var, None)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return subprocess.run(
        [sys.executable, "-m", "build_support", "wheel", *(args or (PLATFORM,))],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# Ray's layout: the PEP 517 project lives in python/, the package carries _version.py with
# Ray's placeholder, and the speed-up is a Cython module.
RAYLIKE = {
    "python/pyproject.toml": f"""
        [build-system]
        requires = ["{SETUPTOOLS}", "{CYTHON}"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "tinyray"
        version = "0.3.0"
        requires-python = ">=3.10"

        [tool.setuptools]
        packages = ["tinyray"]
    """,
    "python/setup.py": """
        from Cython.Build import cythonize
        from setuptools import Extension, setup

        setup(ext_modules=cythonize([Extension("tinyray._raylet", ["tinyray/_raylet.pyx"])]))
    """,
    "python/tinyray/__init__.py": """
        from tinyray._raylet import add
        from tinyray._version import commit, version

        __all__ = ["add", "commit", "version"]
    """,
    "python/tinyray/_raylet.pyx": """
        def add(long a, long b):
            return a + b
    """,
    "python/tinyray/_version.py": """
        # Replaced with the current commit when building the wheels.
        commit = "{{RAY_COMMIT_SHA}}"
        version = "0.3.0"
    """,
}
RAYLIKE_CONFIG = """
    projects = ["python", "plain"]
    stamp = { python = { files = ["tinyray/_version.py"], placeholder = "{{RAY_COMMIT_SHA}}" }, plain = { into = "dist-info" } }
    compiled_modules = { python = ["tinyray._raylet"], plain = ["plainc"] }
"""  # noqa: E501 - one TOML line, as a user writes it

# No package and no version file: one C module at the top of the wheel.
PLAIN = {
    "plain/pyproject.toml": f"""
        [build-system]
        requires = ["{SETUPTOOLS}"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "plainc"
        version = "1.0"
        requires-python = ">=3.10"
    """,
    "plain/setup.py": """
        from setuptools import Extension, setup

        setup(ext_modules=[Extension("plainc", ["plainc.c"])], py_modules=[])
    """,
    "plain/plainc.c": """
        #include <Python.h>
        static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
        static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, ""}, {0}};
        static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "plainc", "", -1, methods};
        PyMODINIT_FUNC PyInit_plainc(void) { return PyModule_Create(&mod); }
    """,
}


def test_ray_layout_and_a_project_without_version_file(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {**RAYLIKE, **PLAIN}, RAYLIKE_CONFIG)
    sha = git(repo, "rev-parse", "HEAD")
    proc = _stage(repo)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-4000:]
    assert "and import (compiled: tinyray._raylet) verified" in proc.stderr
    assert "and import (compiled: plainc) verified" in proc.stderr

    rows = {r["project"]: r for r in json.loads((repo / "dist/wheels.json").read_text())["wheels"]}
    assert sorted(rows) == ["plain", "python"]
    tinyray, plainc = (
        repo / "dist" / rows["python"]["wheel"],
        repo / "dist" / rows["plain"]["wheel"],
    )
    # Every reader gets the commit through wheelfile, from inside the artifact.
    assert wheelfile.read_commits(tinyray) == {"tinyray/_version.py": sha}
    assert wheelfile.read_commit(tinyray, "tinyray") == sha
    assert wheelfile.read_commit(plainc) == sha
    assert wheelfile.read_commit(plainc, "plainc") == sha  # as release tests ask for it
    with zipfile.ZipFile(plainc) as zf:
        names = zf.namelist()
        record = zf.read("plainc-1.0.dist-info/RECORD").decode()
    assert "plainc-1.0.dist-info/COMMIT" in names
    assert not [n for n in names if n.endswith("_version.py")]
    assert wheelfile.record_line("plainc-1.0.dist-info/COMMIT", f"{sha}\n".encode()) in record
    assert (repo / ".artifacts" / "main" / sha / plainc.name).read_bytes() == plainc.read_bytes()
    # Stamping happened in a copy; the placeholder is still in the working tree.
    assert git(repo, "status", "--porcelain") == ""
    assert "{{RAY_COMMIT_SHA}}" in (repo / "python/tinyray/_version.py").read_text()

    # The release tests install it and read the installed commit from .dist-info too.
    venvs = VenvProvider(
        wheels=LocalWheels([plainc], dist="plainc", platform=PLATFORM),
        cache_dir=tmp_path / "release-tests",
        requirements_dir=tmp_path / "no-lockfiles",
        expected_commit=sha,
        package="plainc",
    )
    assert venvs.prepare(_python()).commit == sha

    # Tampering with the stamp inside the stored artifact is caught by every reader.
    forged = tmp_path / plainc.name
    with zipfile.ZipFile(plainc) as src, zipfile.ZipFile(forged, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, b"b" * 40 + b"\n" if info.filename.endswith("/COMMIT") else data)
    with pytest.raises(VerificationError, match="does not list"):
        wheelfile.read_commit(forged)


# A package whose optional extension fails to build and falls back to pure Python; a
# second extension builds, so the wheel is a platform wheel that auditwheel repairs.
FALLBACK = {
    "setup.py": """
        from setuptools import Extension, setup

        setup(
            name="fastpkg",
            version="2.0",
            packages=["fastpkg"],
            ext_modules=[
                Extension("fastpkg._helper", ["src/helper.c"]),
                Extension("fastpkg._speedups", ["src/speedups.c"], optional=True),
            ],
        )
    """,
    "src/helper.c": """
        #include <Python.h>
        static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "_helper", "", -1, NULL};
        PyMODINIT_FUNC PyInit__helper(void) { return PyModule_Create(&mod); }
    """,
    "src/speedups.c": """
        #error "this compiler cannot build the speed-ups"
    """,
    "fastpkg/__init__.py": """
        from fastpkg._speedups import total
        from fastpkg._version import commit
    """,
    "fastpkg/_speedups.py": """
        def total(values):  # the pure-Python fallback of the C module
            return sum(values)
    """,
    "fastpkg/_version.py": """
        commit = "{{FASTPKG_COMMIT}}"
    """,
}


def test_a_pure_python_fallback_fails_compiled_modules(tmp_path: Path) -> None:
    repo = _repo(
        tmp_path,
        FALLBACK,  # the project is the repository root: one pyproject.toml for both
        """
        projects = ["."]
        stamp = { "." = { placeholder = "{{FASTPKG_COMMIT}}" } }
        compiled_modules = { "." = ["fastpkg._helper", "fastpkg._speedups"] }
        """,
        head=f"""
        [build-system]
        requires = ["{SETUPTOOLS}"]
        build-backend = "setuptools.build_meta"
        """,
    )
    proc = _stage(repo)
    assert proc.returncode == VerificationError.exit_code, proc.stderr[-4000:]
    assert "fastpkg._speedups is not compiled: it was imported from" in proc.stderr
    assert "fastpkg/_speedups.py" in proc.stderr
    assert not (repo / "dist" / "wheels.json").exists()
    assert not (repo / ".artifacts").exists() or not any((repo / ".artifacts").rglob("*.whl"))


@pytest.mark.slow
@pytest.mark.docker
def test_a_project_without_version_file_builds_in_an_aarch64_container(tmp_path: Path) -> None:
    """The local arm64 Debian image (``rootfs:bookworm``, as in test_wheel_aarch64.py) has
    Python 3.11 only; the build, auditwheel repair and import check run in it under QEMU."""
    aarch64 = "manylinux2014_aarch64"
    wheel_config = """
        projects = ["plain"]
        stamp = { plain = { into = "dist-info" } }
        compiled_modules = { plain = ["plainc"] }
    """
    repo = _repo(tmp_path, PLAIN, wheel_config, python="3.11")
    sha = git(repo, "rev-parse", "HEAD")
    proc = _stage(repo, aarch64, "--image", f"{aarch64}=rootfs:bookworm", timeout=3600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]

    (row,) = json.loads((repo / "dist/wheels.json").read_text())["wheels"]
    assert (row["project"], row["mode"], row["platform"]) == ("plain", "container", aarch64)
    wheel = repo / "dist" / row["wheel"]
    wheelfile.check_tags(wheel, platform=aarch64, python="3.11")
    stored = repo / ".artifacts" / "main" / sha / wheel.name
    assert stored.read_bytes() == wheel.read_bytes()
    # Read back from inside the stored wheel, against git's HEAD, hashed here independently.
    with zipfile.ZipFile(stored) as zf:
        data = zf.read("plainc-1.0.dist-info/COMMIT")
        record = zf.read("plainc-1.0.dist-info/RECORD").decode().splitlines()
        names = zf.namelist()
    assert data == f"{sha}\n".encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    assert f"plainc-1.0.dist-info/COMMIT,sha256={digest},{len(data)}" in record
    assert not [n for n in names if n.endswith("_version.py")]
    assert any(n.startswith("plainc.cpython-311-aarch64-linux-gnu") for n in names), names
    assert wheelfile.read_commit(stored, "plainc") == sha
    # The import check ran in the arm64 container, after the stamp: it read the installed
    # distribution's COMMIT and loaded plainc from an extension module.
    (check,) = [ln for ln in proc.stderr.splitlines() if "import check in " in ln]
    assert f'"commit": "{sha}"' in check, check
    assert "aarch64-linux-gnu.so" in check, check
    assert "and import (compiled: plainc) verified" in proc.stderr
    assert git(repo, "status", "--porcelain") == ""

    # The stored wheel replaced by one validly stamped with another commit (RECORD
    # consistent): the rerun reuses it from the cache, reads the commit from inside it and
    # fails closed with exit 13, nothing rebuilt and nothing promoted.
    forged, other = tmp_path / wheel.name, "b" * 40
    with zipfile.ZipFile(stored) as src, zipfile.ZipFile(forged, "w") as dst:
        for info in src.infolist():
            if info.filename.endswith("/COMMIT"):
                continue
            data = src.read(info)
            if info.filename.endswith("/RECORD"):
                kept = [ln for ln in data.decode().splitlines() if "/COMMIT," not in ln]
                data = "".join(f"{ln}\n" for ln in kept).encode()
            dst.writestr(info, data)
    wheelfile.stamp_dist_info(forged, other)
    store.open_store(config.load(repo), url=str(repo / ".artifacts")).put(
        f"main/{sha}/{wheel.name}", forged
    )
    latest = (repo / ".artifacts" / "latest" / wheel.name).read_bytes()
    proc = _stage(repo, aarch64, "--image", f"{aarch64}=rootfs:bookworm", timeout=1800)
    assert proc.returncode == VerificationError.exit_code == 13, proc.stderr[-5000:]
    assert f"COMMIT carries commit {other}, but the expected commit is {sha}" in proc.stderr
    assert f"store: got main/{sha}/{wheel.name}" in proc.stderr, proc.stderr[-5000:]
    assert "building 1 wheel" not in proc.stderr
    assert (repo / ".artifacts" / "latest" / wheel.name).read_bytes() == latest
