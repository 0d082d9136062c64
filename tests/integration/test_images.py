"""The image stage against real dockerd + BuildKit, a real local store and real wheels.

The base is a debootstrap'd Debian bookworm (Python 3.11) from rootfs.ensure_image,
cached between runs. The wheels are built here from python/ and python/cpp for 3.11,
stamped with a test commit, repaired by auditwheel and put into a temporary store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from build_support import store
from build_support.config import Config, Paths
from build_support.containers import engine, rootfs
from build_support.errors import (
    ArtifactNotFoundError,
    DockerError,
    InputError,
)
from build_support.images import build as image_build
from build_support.images import stage as images_stage
from tests.helpers import build_stamped_wheels, bundled_names, docker

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHA = "1234567890abcdef1234567890abcdef12345678"
DAY = dt.date(2025, 1, 2)
NAMESPACE = "build-support-test"
PACKAGES = ["python3", "python3-venv", "python3-pip", "ca-certificates"]

#: A small hashed lockfile (pip-compile format) standing in for the real 3.11 one.
LOCKFILE = """\
# requirements_compiled_py3.11.txt: a small test lockfile
six==1.17.0 \\
    --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274 \\
    --hash=sha256:ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81
    # via python-dateutil
"""


def _labels(ref: str) -> dict[str, str]:
    return dict(json.loads(docker("image", "inspect", "-f", "{{json .Config.Labels}}", ref)))


@pytest.fixture(scope="module")
def base_image() -> str:
    return rootfs.ensure_image("x86_64", PACKAGES)


def _source_key() -> str:
    h = hashlib.sha256(SHA.encode())
    for path in sorted((ROOT / "python").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and "build" not in path.parts:
            h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """minray + minray_cpp for cp311 manylinux2014_x86_64, stamped with SHA.

    Cached by the sources' hash (building the Cython wheel takes minutes on 2 cores).
    """
    cached = rootfs.cache_root() / "test-image-wheels" / _source_key()
    if len(list(cached.glob("*.whl"))) == 2:
        return sorted(cached.glob("*.whl"))
    built = build_stamped_wheels(
        [ROOT / "python", ROOT / "python" / "cpp"],
        tmp_path_factory.mktemp("wheels"),
        commit=SHA,
        python="3.11",
        platform_tag="manylinux2014_x86_64",
    )
    assert len(built) == 2, built
    tmp = cached.with_name(cached.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for whl in built:
        shutil.copy2(whl, tmp / whl.name)
    tmp.rename(cached)
    return sorted(cached.glob("*.whl"))


def _project(tmp_path: Path, *, lockfile: str | None = LOCKFILE, **images_cfg: object) -> Config:
    req = tmp_path / "requirements" / "compiled"
    req.mkdir(parents=True)
    if lockfile is not None:
        (req / "requirements_compiled_py3.11.txt").write_text(lockfile)
    docker_dir = images_cfg.pop("docker_dir", ROOT / "docker")
    section: dict[str, object] = {"namespace": NAMESPACE, **bundled_names("images"), **images_cfg}
    return Config(
        root=tmp_path,
        default_branch="main",
        artifact_store=str(tmp_path / "store"),
        paths=Paths(
            docker=str(docker_dir),
            requirements=str(tmp_path / "requirements"),
            dist=str(tmp_path / "dist"),
        ),
        sections={"images": section},
    )


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BUILDKITE_COMMIT", SHA)
    monkeypatch.setenv("BUILD_SUPPORT_BRANCH", "main")
    for var in ("BUILDKITE_PULL_REQUEST", "GITHUB_EVENT_NAME", "BUILD_SUPPORT_STORE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


def _store_wheels(cfg: Config, wheels: list[Path]) -> None:
    s = store.open_store(cfg)
    for whl in wheels:
        s.put(store.keys.wheel_key("main", SHA, whl.name), whl)


def _manifest(cfg: Config) -> list[dict[str, object]]:
    data = json.loads((cfg.path("dist") / "images" / "images.json").read_text())
    return list(data["images"])


@pytest.mark.usefixtures("env", "base_image")
def test_build_smoke_and_skip(tmp_path: Path, wheels: list[Path]) -> None:
    cfg = _project(tmp_path)
    _store_wheels(cfg, wheels)
    assert images_stage.main(["--python", "3.11"], cfg, today=DAY) == 0

    primary = f"{NAMESPACE}/minray:nightly.250102.123456-py311-cpu"
    for alias in ("nightly.250102.123456", "nightly-py311-cpu", "nightly"):
        assert docker("image", "inspect", "-f", "{{.Id}}", f"{NAMESPACE}/minray:{alias}") == (
            docker("image", "inspect", "-f", "{{.Id}}", primary)
        )
    labels = _labels(primary)
    assert labels["org.opencontainers.image.revision"] == SHA
    assert labels["org.opencontainers.image.version"] == "0.1.0"
    assert labels["org.opencontainers.image.source"].startswith("https://")
    base_labels = _labels(f"{NAMESPACE}/base-deps:nightly.250102.123456-py311-cpu")
    assert base_labels[image_build.BASE_LABEL] == "ubuntu:22.04"
    assert base_labels[image_build.STANDIN_LABEL].startswith("build-support/rootfs:")
    assert docker("image", "inspect", "-f", "{{.Config.User}}", primary) == "minray"

    freeze = cfg.path("dist") / "images" / "minray-nightly.250102.123456-py311-cpu.pip-freeze.txt"
    text = freeze.read_text()
    assert "minray==0.1.0" in text
    assert "minray_cpp==0.1.0" in text or "minray-cpp==0.1.0" in text
    assert "six==1.17.0" in text
    # the six wheel was installed offline from the staged wheelhouse
    out = docker("run", "--rm", "--network=none", primary, "python", "-c", "import six; print(1)")
    assert out == "1"

    first = _manifest(cfg)
    # built now, or earlier by a run with the same inputs (then skipped by digest)
    assert [e["name"] for e in first] == ["base-deps", "minray"]

    assert images_stage.main(["--python", "3.11"], cfg, today=DAY) == 0
    assert [e["built"] for e in _manifest(cfg)] == [False, False]
    assert [e["image_id"] for e in _manifest(cfg)] == [e["image_id"] for e in first]

    assert images_stage.main(["--python", "3.11", "--force"], cfg, today=DAY) == 0
    assert [e["built"] for e in _manifest(cfg)] == [True, True]


@pytest.mark.usefixtures("env", "base_image")
def test_gpu_flavor_on_a_standin_base(tmp_path: Path, wheels: list[Path]) -> None:
    cfg = _project(tmp_path)
    _store_wheels(cfg, wheels)
    assert images_stage.main(["--python", "3.11", "--flavor", "gpu"], cfg, today=DAY) == 0
    primary = f"{NAMESPACE}/minray:nightly.250102.123456-py311-cu128"
    gpu_alias = f"{NAMESPACE}/minray:nightly-gpu"
    assert docker("image", "inspect", "-f", "{{.Id}}", gpu_alias) == docker(
        "image", "inspect", "-f", "{{.Id}}", primary
    )
    labels = _labels(primary)
    assert labels["io.build-support.flavor"] == "gpu"
    base_labels = _labels(f"{NAMESPACE}/base-deps:nightly.250102.123456-py311-cu128")
    assert base_labels[image_build.BASE_LABEL] == "nvidia/cuda:12.8.1-cudnn-devel-ubuntu22.04"
    assert base_labels[image_build.STANDIN_LABEL].startswith("build-support/standin-base:")


@pytest.mark.usefixtures("env", "base_image")
def test_missing_wheel_names_key_and_stage(tmp_path: Path) -> None:
    cfg = _project(tmp_path)
    with pytest.raises(ArtifactNotFoundError) as err:
        images_stage.main(["--python", "3.11"], cfg, today=DAY)
    assert f"main/{SHA}/minray-<version>-cp311-cp311-manylinux2014_x86_64.whl" in str(err.value)
    assert "nox -s wheel" in str(err.value)
    assert err.value.exit_code == 11


@pytest.mark.usefixtures("env")
def test_missing_lockfile_fails_before_docker(tmp_path: Path) -> None:
    cfg = _project(tmp_path, lockfile=None)
    with pytest.raises(InputError, match=r"nox -s lock-3\.11"):
        images_stage.main(["--python", "3.11"], cfg, today=DAY)
    assert not (tmp_path / "dist").exists()


@pytest.mark.usefixtures("env")
def test_unavailable_base_without_fallback(tmp_path: Path) -> None:
    cfg = _project(tmp_path, base_fallback="error")
    with pytest.raises(DockerError, match=r"base image no-such/base:1 is unavailable"):
        images_stage.main(["--python", "3.11", "--base", "no-such/base:1"], cfg, today=DAY)


@pytest.mark.usefixtures("env", "base_image")
def test_base_without_the_python(tmp_path: Path) -> None:
    cfg = _project(tmp_path)
    lock_312 = cfg.path("requirements") / "compiled" / "requirements_compiled_py3.12.txt"
    lock_312.write_text(LOCKFILE)
    with pytest.raises(DockerError, match=r"has no python3\.12") as err:
        images_stage.main(["--python", "3.12", "--base", "local"], cfg, today=DAY)
    assert "--python 3.11" in str(err.value.hint)


@pytest.mark.usefixtures("env", "base_image")
def test_failing_build_shows_the_failing_step(tmp_path: Path, wheels: list[Path]) -> None:
    docker_dir = tmp_path / "docker"
    shutil.copytree(ROOT / "docker", docker_dir)
    broken = docker_dir / "minray" / "Dockerfile"
    broken.write_text(
        broken.read_text().replace(
            "WORKDIR", "RUN echo 'step output before failing' && exit 7\nWORKDIR", 1
        )
    )
    cfg = _project(tmp_path, docker_dir=docker_dir)
    _store_wheels(cfg, wheels)
    with pytest.raises(DockerError) as err:
        images_stage.main(["--python", "3.11"], cfg, today=DAY)
    message = str(err.value)
    assert "step output before failing" in message
    assert "exit code: 7" in message


@pytest.mark.usefixtures("env")
def test_cli_without_buildkit(tmp_path: Path) -> None:
    fake = tmp_path / "old" / "docker"  # a client named docker: the one tool declared
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'Usage: docker build [OPTIONS] PATH'\nexit 0\n")
    fake.chmod(0o755)
    with pytest.raises(DockerError, match="cannot build with BuildKit") as err:
        engine.check_buildkit(str(fake))
    assert "/usr/bin/docker" in str(err.value.hint)
    engine.check_buildkit(engine.docker_client())


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server on loopback that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield srv.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    srv.close()


def test_unresponsive_engine_times_out(monkeypatch: pytest.MonkeyPatch, silent_server: int) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{silent_server}")
    started = time.monotonic()
    with pytest.raises(DockerError, match="cannot reach the Docker engine") as err:
        engine.connect(timeout=2)
    assert time.monotonic() - started < 30
    assert "dockerd" in str(err.value.hint)


def test_no_engine_listening(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(DockerError, match="cannot reach the Docker engine"):
        engine.connect(timeout=2)


def _owned_containers(owner: str) -> list[str]:
    out = docker("ps", "-aq", "--filter", f"label={engine.OWNER_LABEL}={owner}")
    return out.split()


def test_containers_it_runs_are_removed_on_failure_and_on_ctrl_c(base_image: str) -> None:
    """The smoke run and the base-Python probe leave no container behind, however they end."""
    client = engine.connect(timeout=30)
    docker_sdk = engine.sdk()
    owner = f"test-{time.monotonic_ns()}"
    out = engine.run_removed(
        client, base_image, ["sh", "-c", "echo ok"], platform="linux/amd64", owner=owner
    )
    assert out == b"ok\n"
    with pytest.raises(docker_sdk.errors.ContainerError) as failed:
        engine.run_removed(
            client, base_image, ["sh", "-c", "echo why >&2; exit 3"],
            platform="linux/amd64", owner=owner,
        )  # fmt: skip
    assert failed.value.exit_status == 3
    assert b"why" in failed.value.stderr
    assert _owned_containers(owner) == []

    # Ctrl-C (a real SIGINT) while the container runs: the SDK's run(remove=True) left it
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            engine.run_removed(
                client, base_image, ["sleep", "60"], platform="linux/amd64", owner=owner
            )
    finally:
        timer.cancel()
    assert _owned_containers(owner) == []
