"""End to end across stage boundaries: wheel → images → ``release-tests --in-image``.

Each stage runs as the command a user runs (``python -m build_support <stage>``) in one
git repository holding a copy of the bundled product; no stage is told where the
previous one put its output (no ``--image``, no ``--wheel``): each reads only what the
earlier stages wrote, through :mod:`build_support.manifests`. The images are built on
the local debootstrap'd Debian bookworm stand-in base (Python 3.11).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from build_support import manifests, pythons
from build_support.containers import engine
from tests.conftest import ROOT, git
from tests.helpers import bundled_toml
from tests.integration.test_supplychain import assert_store_attested

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.uname().machine not in ("x86_64", "amd64") or sys.platform != "linux",
        reason="the host build and the stand-in base are x86_64 Linux",
    ),
]

NAMESPACE = "build-support-e2e"

PYPROJECT = f"""\
[tool.build_support]
python_versions = ["3.11"]
default_branch = "main"
artifact_store = ".artifacts"

[tool.build_support.wheel]
projects = ["python", "python/cpp"]

[tool.build_support.images]
namespace = "{NAMESPACE}"
python_versions = ["3.11"]
{bundled_toml("images")}
[tool.build_support.release_tests]
{bundled_toml("release_tests")}"""

#: A small hashed lockfile (pip-compile's format) standing in for the real 3.11 one.
LOCKFILE = """\
six==1.17.0 \\
    --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274 \\
    --hash=sha256:ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81
"""

RELEASE_TESTS = """\
- name: commit_in_image
  group: e2e
  team: core
  frequency: nightly
  working_dir: w
  python: "3.11"
  run:
    timeout: 120
    script: python check.py
"""

CHECK = """\
import os, minray, minray_cpp
assert minray.__commit__ == os.environ["EXPECTED_COMMIT"], minray.__commit__
open(os.environ["RELEASE_RESULTS_DIR"] + "/commit.txt", "w").write(minray.__commit__)
"""

_IGNORE = shutil.ignore_patterns("build", "dist", "__pycache__", "*.egg-info", "*.so")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUILDKITE", "GITHUB_"))}
    for var in ("BUILD_SUPPORT_COMMIT", "BUILD_SUPPORT_BRANCH", "BUILD_SUPPORT_STORE", "CI"):
        env.pop(var, None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def _stage(repo: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "build_support", *argv],
        cwd=repo,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=1700,
        check=False,
    )
    print(f"$ build_support {' '.join(argv)} -> {proc.returncode}\n{proc.stderr[-3000:]}")
    return proc


def _repo(where: Path) -> Path:
    repo = where / "proj"
    repo.mkdir()
    shutil.copytree(ROOT / "python", repo / "python", ignore=_IGNORE)
    shutil.copytree(ROOT / "docker", repo / "docker")
    lock = repo / "requirements" / "compiled" / "requirements_compiled_py3.11.txt"
    lock.parent.mkdir(parents=True)
    lock.write_text(LOCKFILE)
    (repo / "release" / "w").mkdir(parents=True)
    (repo / "release" / "release_tests.yaml").write_text(RELEASE_TESTS)
    (repo / "release" / "w" / "check.py").write_text(textwrap.dedent(CHECK))
    (repo / "pyproject.toml").write_text(PYPROJECT)
    (repo / ".gitignore").write_text("dist/\n.artifacts/\nresults/\n.cache/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "product")
    return repo


def test_wheel_then_images_then_release_tests_in_image(tmp_path: Path) -> None:
    pythons.require(["3.11"])  # the stand-in base's Python; fails naming how to get it
    engine.ensure_docker()
    repo = _repo(tmp_path)
    sha = git(repo, "rev-parse", "HEAD")
    dist = repo / "dist"
    refs: list[str] = []
    try:
        wheel = _stage(repo, "wheel", "manylinux2014_x86_64", "--python", "3.11")
        assert wheel.returncode == 0, wheel.stderr[-4000:]
        built = manifests.read(manifests.wheels_path(dist), manifests.WheelsManifest)
        assert built.commit == sha
        assert sorted(w.project for w in built.wheels) == ["python", "python/cpp"]

        image = _stage(repo, "images", "--python", "3.11")
        assert image.returncode == 0, image.stderr[-4000:]
        recorded = manifests.read(manifests.images_path(dist), manifests.ImagesManifest)
        refs = [r for row in recorded.images for r in row.refs]
        product = recorded.find("minray", python="3.11", flavor="cpu", arch="x86_64")
        assert product is not None
        assert product.commit == sha

        results = repo / "results"
        run = _stage(
            repo, "release-tests", "--in-image", "--results-dir", str(results), "--run-id", "e2e"
        )
        summary = manifests.read(
            manifests.release_summary_path(results / "e2e"), manifests.ReleaseTestSummary
        )
        assert run.returncode == 0, run.stderr[-4000:]
        assert summary.commit == sha
        assert summary.exit_code == 0
        (test,) = summary.tests
        assert (test.name, test.status) == ("commit_in_image", "success")
        assert test.wheel == f"image {product.image_id}"
        commit_file = results / "e2e" / "commit_in_image" / "attempt-1" / "artifacts"
        assert (commit_file / "commit.txt").read_text() == sha
        # the raw files carry their kind and schema version
        assert json.loads(manifests.images_path(dist).read_text())["schema"] == 1
        # every wheel and image has a valid SBOM and a verifying statement in the store
        ids = [row.image_id for row in recorded.images]
        wheels = 2 * 2  # under {branch}/{sha}/ and promoted to latest/
        assert assert_store_attested(repo, repo / ".artifacts", images=ids) == wheels + len(ids)
    finally:
        if refs:
            subprocess.run([engine.docker_client(), "rmi", *refs], capture_output=True, check=False)


def _restamped(wheel: Path, dest: Path, commit: str) -> Path:
    """A copy of ``wheel`` whose ``minray/_version.py`` carries ``commit`` verbatim."""
    import zipfile

    out = dest / wheel.name
    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "minray/_version.py":
                text = data.decode()
                start = text.index('commit = "') + len('commit = "')
                end = text.index('"', start)
                data = (text[:start] + commit + text[end:]).encode()
            zout.writestr(info, data)
    return out


@pytest.mark.parametrize("commit", ["{{COMMIT_SHA}}", "c0ffee", "C" * 40])
def test_release_test_venv_refuses_a_wheel_without_a_real_commit(
    tmp_path: Path, commit: str
) -> None:
    """The runner reads the commit with wheelfile and fails closed before making a venv."""
    from build_support.errors import VerificationError
    from build_support.releasetests.environments import VenvProvider
    from build_support.releasetests.sources import LocalWheels
    from tests.helpers import build_stamped_wheels

    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    sha = "c0ffee" + "1" * 34
    (good,) = build_stamped_wheels(
        [ROOT / "python"], tmp_path, commit=sha, python=version, platform_tag="manylinux2014_x86_64"
    )
    (tmp_path / "bad").mkdir()
    bad = _restamped(good, tmp_path / "bad", commit)
    cache = tmp_path / "venvs"
    provider = VenvProvider(
        wheels=LocalWheels([bad], dist="minray", platform="manylinux2014_x86_64"),
        cache_dir=cache,
        requirements_dir=ROOT / "requirements",
        expected_commit=sha,
        package="minray",
    )
    with pytest.raises(VerificationError, match=r"placeholder|not a 40-hex commit SHA"):
        provider.prepare(version)
    assert not list(cache.glob("py*")), "a venv was made for a wheel that failed the check"


def _tiny_wheel(folder: Path) -> Path:
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("tiny/__init__.py", "")
        zf.writestr(
            "tiny-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: tiny\nVersion: 1.0\n"
        )
        zf.writestr(
            "tiny-1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        zf.writestr("tiny-1.0.dist-info/RECORD", "")
    return path


def test_wheelhouse_is_complete_or_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one wheelhouse builder: a finished download is the cache entry; a failed one
    leaves nothing that a later run could take for complete."""
    from build_support import wheelhouse
    from build_support.errors import CommandFailedError

    monkeypatch.setenv("BUILD_SUPPORT_CACHE", str(tmp_path / "cache"))
    links = tmp_path / "links"
    _tiny_wheel(links)
    offline = ["--no-index", "--find-links", str(links)]
    plats = ["manylinux2014_x86_64"]
    house = wheelhouse.ensure([*offline, "tiny==1.0"], platforms=plats, python="3.11", name="t")
    assert sorted(p.name for p in house.iterdir()) == [".complete", "tiny-1.0-py3-none-any.whl"]
    again = wheelhouse.ensure([*offline, "tiny==1.0"], platforms=plats, python="3.11", name="t")
    assert again == house
    with pytest.raises(CommandFailedError):
        wheelhouse.ensure([*offline, "absent==1"], platforms=plats, python="3.11", name="t")
    left = sorted(p.name for p in (tmp_path / "cache" / "wheelhouse").iterdir())
    assert [n for n in left if not n.endswith(".lock")] == [house.name]
