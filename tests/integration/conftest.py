"""Integration tests use real tools and servers; every test here is marked."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


# --- S3: a real moto_server on loopback (shared; appended by the store task) ----------
import os as _os  # noqa: E402
import socket as _socket  # noqa: E402
import subprocess as _subprocess  # noqa: E402
import sys as _sys  # noqa: E402
import time as _time  # noqa: E402
import uuid as _uuid  # noqa: E402
from collections.abc import Iterator as _Iterator  # noqa: E402
from typing import Any as _Any  # noqa: E402

from tests.helpers import free_port  # noqa: E402

#: Dummy credentials: moto accepts any, boto3 insists on having some.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class S3Endpoint:
    """A ``moto_server`` subprocess on 127.0.0.1; ``stop()``/``start()`` keep the port.

    moto keeps its state in memory: a restart loses every bucket.
    """

    def __init__(self, port: int, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._log_path = log_path
        self._env = env or {}
        self._proc: _subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        if self._proc is not None:
            return
        with self._log_path.open("ab") as log:
            self._proc = _subprocess.Popen(
                [_sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=_subprocess.STDOUT,
                env={**_os.environ, **self._env},
            )
        deadline = _time.monotonic() + timeout
        while _time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"moto_server exited; see {self._log_path}")
            with _socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            _time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto_server did not listen on {self.port} in {timeout}s")

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except _subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self) -> _Any:
        """A plain boto3 S3 client for this endpoint (dummy credentials)."""
        import boto3

        return boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing"
        ).client("s3", endpoint_url=self.url, region_name="us-east-1")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> _Iterator[S3Endpoint]:
    """A running moto_server (S3 over HTTP on loopback) for the whole session."""
    log_path = tmp_path_factory.mktemp("moto") / "moto_server.log"
    endpoint = S3Endpoint(free_port(), log_path)
    endpoint.start()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on ``s3_endpoint``; dummy credentials and endpoint set in the env."""
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint.url)
    s3_endpoint.start()  # a previous test may have stopped it
    name = f"bs-{_uuid.uuid4().hex[:12]}"
    s3_endpoint.client().create_bucket(Bucket=name)
    return name


# --- publish targets: pypiserver, httpd + mod_dav, a registry, a gpg key (one copy each)
from tests.publishing import (  # noqa: E402
    ApacheDav,
    DockerRegistry,
    GpgKey,
    PypiServer,
    make_gpg_key,
)


@pytest.fixture
def pypi(tmp_path: Path) -> _Iterator[PypiServer]:
    """A real pypiserver on loopback, for one test."""
    server = PypiServer(tmp_path / "pypiserver")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def dav() -> _Iterator[ApacheDav]:
    """A real Apache httpd with mod_dav on loopback (a Maven repository), for one test."""
    server = ApacheDav()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def gpg_key(tmp_path: Path) -> GpgKey:
    """A throwaway signing key in ``tmp_path/keyring``: (armored, fingerprint, home)."""
    home = tmp_path / "keyring"
    armored, fingerprint = make_gpg_key(home)
    return GpgKey(armored, fingerprint, home)


@pytest.fixture
def registry(tmp_path: Path) -> _Iterator[DockerRegistry]:
    """A real Debian docker-registry on loopback, for one test."""
    r = DockerRegistry(tmp_path / "registry")
    r.start()
    yield r
    r.stop()
