"""Every stage resolves Python packages from the index the installer is configured with.

A real pypiserver on loopback (htpasswd: downloads need credentials) is filled once per
session with ``pip download`` from this machine's own index. Each test then sets only
``PIP_INDEX_URL=http://user:password@127.0.0.1:PORT/simple/`` and points every proxy
variable at a dead loopback port (``NO_PROXY`` loopback), so any request to another host
fails: a stage that succeeds took its packages from the local index. The stages chain as
in the pipeline: the lock stage's lockfile is what the images wheelhouse downloads and
what the release-test venv is constrained by.

Maven takes its repositories from its own ``settings.xml``: the last test gives it a
mirror on a dead loopback port and shows the build asking that mirror, not Central.
"""

from __future__ import annotations

import base64
import hashlib
import platform
import shutil
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from build_support import cmd, indexes, lockfile, pythons, toolvenv
from build_support.errors import ResolutionError
from build_support.images import inputs as image_inputs
from build_support.images.settings import ImagesSettings
from build_support.jars import poms, toolchain
from build_support.locks import backends as lock_backends
from build_support.locks import stage as lock_stage
from build_support.locks.job import LockJob
from build_support.releasetests import environments, sources
from build_support.toolvenv import find_uv
from build_support.wheels.buildimage import build_wheelhouse
from tests.helpers import free_port
from tests.publishing import ROOT, PypiServer

#: What the stages below install: a small package, plus what the lock stage's pinned
#: pip-tools venv and uv's ``--seed`` need when they are made from the index.
PACKAGE = "six==1.17.0"
TOOLS = (*lock_backends.TOOL_PINS,)
PYTHON = "3.12"
COMMIT = "c0ffee" + "0" * 34
USER, PASSWORD = "reader", "index-s3cret-Planted-51d2"


@dataclass(frozen=True)
class LocalIndex:
    server: PypiServer
    url: str  # with credentials, as a user would put it in PIP_INDEX_URL
    public_url: str  # the same without them

    def requests(self) -> list[str]:
        text = self.server.log.read_text() if self.server.log.is_file() else ""
        return [line for line in text.splitlines() if '"GET /' in line]


@pytest.fixture(scope="session")
def local_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIndex]:
    """A pypiserver holding the wheels the stages need, downloaded from the default index."""
    server = PypiServer(tmp_path_factory.mktemp("local-index"), username=USER, password=PASSWORD)
    cmd.run(
        [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
         "--python-version", PYTHON, "-d", server.packages, PACKAGE, *TOOLS],
        capture=True, timeout=600,
    )  # fmt: skip
    server.start()
    host = server.url.split("://", 1)[1]
    url = f"http://{USER}:{PASSWORD}@{host}/simple/"
    try:
        yield LocalIndex(server, url, f"{server.url}/simple/")
    finally:
        server.stop()


def _only_the_local_index(mp: pytest.MonkeyPatch, index: LocalIndex, cache: Path) -> None:
    """The user's setup: one variable names the index; nothing else is reachable."""
    for name in (*indexes.PIP_SOURCE_VARS, *indexes.UV_SOURCE_VARS, "PIP_CONFIG_FILE"):
        mp.delenv(name, raising=False)
    mp.setenv("PIP_CONFIG_FILE", "/dev/null")  # no pip.conf of this machine
    mp.setenv("PIP_INDEX_URL", index.url)
    dead = "http://127.0.0.1:9"  # nothing listens on the discard port
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        mp.setenv(name, dead)
    mp.setenv("NO_PROXY", "127.0.0.1,localhost")
    mp.setenv("no_proxy", "127.0.0.1,localhost")
    mp.setenv("PIP_NO_CACHE_DIR", "1")
    mp.setenv("UV_NO_CACHE", "1")
    mp.setenv("BUILD_SUPPORT_CACHE", str(cache))


@pytest.fixture
def via_local_index(
    local_index: LocalIndex, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> LocalIndex:
    _only_the_local_index(monkeypatch, local_index, tmp_path / "cache")
    return local_index


@dataclass(frozen=True)
class Locked:
    requirements: Path
    lockfile: Path
    text: str


@pytest.fixture(scope="module")
def locked(local_index: LocalIndex, tmp_path_factory: pytest.TempPathFactory) -> Locked:
    """The lock stage (pip-tools, the reference backend) run against the local index."""
    base = tmp_path_factory.mktemp("locked")
    req = base / "requirements"
    req.mkdir()
    (req / "base.in").write_text("six\n")
    with pytest.MonkeyPatch.context() as mp:
        _only_the_local_index(mp, local_index, base / "cache")
        job = LockJob(
            python=PYTHON,
            inputs_dir=req,
            output=req / "compiled" / f"requirements_compiled_py{PYTHON}.txt",
            constraints=None,
            backend="pip-tools",
            cache_dir=base / "lock-cache",
            tools_dir=base / "lock-tools",  # made from the local index too
            retries=0,
        )
        assert lock_stage.lock(job).status == "written"
    return Locked(req, job.output, job.output.read_text())


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_lock_resolves_from_pip_index_url(local_index: LocalIndex, locked: Locked) -> None:
    six = next(local_index.server.packages.glob("six-1.17.0-*.whl"))
    pins = lockfile.pins(locked.text)
    assert pins == {"six": ("1.17.0", frozenset({_sha256(six)}))}
    assert f"# index: {local_index.public_url} (from PIP_INDEX_URL)\n" in locked.text
    assert PASSWORD not in locked.text
    assert USER not in locked.text
    assert any("/simple/six/" in line for line in local_index.requests())


def test_lock_with_uv_follows_pip_index_url(
    via_local_index: LocalIndex, locked: Locked, tmp_path: Path
) -> None:
    job = LockJob(
        python=PYTHON,
        inputs_dir=locked.requirements,
        output=tmp_path / "uv.txt",
        constraints=None,
        backend="uv",
        retries=0,
    )
    assert lock_stage.lock(job).status == "written"
    text = job.output.read_text()
    assert lockfile.pins(text) == lockfile.pins(locked.text)
    assert f"# index: {via_local_index.public_url} (from PIP_INDEX_URL)\n" in text
    assert PASSWORD not in text


def test_wheel_tool_venvs_and_wheelhouse_from_pip_index_url(
    via_local_index: LocalIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    interp = pythons.require([PYTHON])[PYTHON]
    uv = find_uv()
    for installer in ([uv] if uv else []) + [None]:
        monkeypatch.setenv("BUILD_SUPPORT_CACHE", str(tmp_path / f"cache-{bool(installer)}"))
        before = len(via_local_index.requests())
        python = toolvenv.ensure(interp.path, [PACKAGE], version=interp.full_version, uv=installer)
        out = cmd.output([python, "-c", "import six; print(six.__version__)"])
        assert out == "1.17.0", installer
        assert len(via_local_index.requests()) > before, installer
    house = build_wheelhouse(f"manylinux2014_{platform.machine()}", PYTHON, [PACKAGE])
    assert [p.name for p in house.glob("*.whl")] == ["six-1.17.0-py2.py3-none-any.whl"]


def test_images_wheelhouse_from_pip_index_url(
    via_local_index: LocalIndex, locked: Locked, tmp_path: Path
) -> None:
    before = len(via_local_index.requests())
    house = image_inputs.ensure_wheelhouse(
        locked.lockfile, PYTHON, platform.machine(), ImagesSettings()
    )
    assert [p.name for p in house.glob("*.whl")] == ["six-1.17.0-py2.py3-none-any.whl"]
    assert any("six" in line for line in via_local_index.requests()[before:])


def _app_wheel(dest: Path, tag: str) -> Path:
    """A real wheel of ``tinyapp`` that carries COMMIT and requires six."""
    files = {
        "tinyapp/__init__.py": "import six\n",
        "tinyapp/_version.py": f'commit = "{COMMIT}"\n',
        "tinyapp-1.0.dist-info/METADATA": (
            "Metadata-Version: 2.1\nName: tinyapp\nVersion: 1.0\nRequires-Dist: six\n"
        ),
        "tinyapp-1.0.dist-info/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n"
        ),
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    files["tinyapp-1.0.dist-info/RECORD"] = "\n".join([*record, "tinyapp-1.0.dist-info/RECORD,,"])
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"tinyapp-1.0-{tag}.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


def test_release_test_venv_from_pip_index_url(
    via_local_index: LocalIndex, locked: Locked, tmp_path: Path
) -> None:
    plat = f"manylinux2014_{platform.machine()}"
    cp = "cp" + PYTHON.replace(".", "")
    wheel = _app_wheel(tmp_path / "wheels", f"{cp}-{cp}-{plat}")
    provider = environments.VenvProvider(
        wheels=sources.LocalWheels([wheel], dist="tinyapp", platform=plat),
        cache_dir=tmp_path / "venvs",
        requirements_dir=locked.requirements,
        expected_commit=COMMIT,
        package="tinyapp",
    )
    before = len(via_local_index.requests())
    info = provider.prepare(PYTHON)
    assert info.commit == COMMIT
    out = cmd.output([info.bin_dir / "python", "-c", "import six; print(six.__version__)"])
    assert out == "1.17.0"
    assert any("six" in line for line in via_local_index.requests()[before:])


SETTINGS_XML = """\
<settings>
  <mirrors>
    <mirror>
      <id>corp-mirror</id>
      <mirrorOf>*</mirrorOf>
      <url>{url}</url>
    </mirror>
  </mirrors>
</settings>
"""


def test_maven_resolves_through_the_settings_xml_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The jars stage's mvn honours ~/.m2/settings.xml: every download goes to its mirror."""
    java = shutil.copytree(
        ROOT / "java", tmp_path / "java", ignore=shutil.ignore_patterns("target")
    )
    home = tmp_path / "home"
    (home / ".m2").mkdir(parents=True)
    mirror = f"http://127.0.0.1:{free_port()}/maven2/"  # nothing listens there
    (home / ".m2" / "settings.xml").write_text(SETTINGS_XML.format(url=mirror))
    # Maven's user settings and local repository live under user.home: an empty one here.
    monkeypatch.setenv("MAVEN_OPTS", f"-Duser.home={home}")
    project = poms.load_project(java)
    argv = toolchain.maven_argv(1, skip_tests=True, javadoc=False, native_dir=tmp_path / "natives")
    log_path = tmp_path / "maven.log"
    with pytest.raises(ResolutionError):
        toolchain.run_maven(project, argv, toolchain.check_jdk(11), 600, log_path)
    text = log_path.read_text()
    assert f"from/to corp-mirror ({mirror})" in text
    assert "from/to central" not in text
    assert not list((home / ".m2" / "repository").rglob("*.jar"))
