"""S3-specific behaviour against a real moto_server: multipart, faults, 403/404."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from build_support import store
from build_support.errors import ArtifactNotFoundError, StoreError
from build_support.store import S3Store, StoreSettings
from tests.integration.conftest import S3Endpoint, free_port

SETTINGS = StoreSettings(
    retry_attempts=4,
    retry_total_seconds=60,
    multipart_threshold_mb=5,
    connect_timeout_seconds=2,
    read_timeout_seconds=20,
)


class Sleeps:
    """An injected sleep that records calls and can run a hook on the first one."""

    def __init__(self, hook: object = None) -> None:
        self.calls: list[float] = []
        self.hook = hook

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if len(self.calls) == 1 and callable(self.hook):
            self.hook()


def open_s3(bucket: str, sleep: Sleeps, settings: StoreSettings = SETTINGS) -> S3Store:
    s = store.open_url(f"s3://{bucket}/pfx", settings, sleep=sleep)
    assert isinstance(s, S3Store)
    return s


def test_multipart_upload_round_trip(
    s3_bucket: str, s3_endpoint: S3Endpoint, tmp_path: Path
) -> None:
    big = tmp_path / "big.whl"
    big.write_bytes(os.urandom(13 * 1024 * 1024))
    s = open_s3(s3_bucket, Sleeps())
    info = s.put("main/big.whl", big)
    head = s3_endpoint.client().head_object(Bucket=s3_bucket, Key="pfx/main/big.whl")
    assert "-" in head["ETag"]  # a multipart ETag: "<md5 of md5s>-<parts>"
    assert head["Metadata"]["sha256"] == info.sha256
    s.get("main/big.whl", tmp_path / "back.whl")
    assert (tmp_path / "back.whl").read_bytes() == big.read_bytes()


def test_metadata_and_prefix_layout(
    s3_bucket: str, s3_endpoint: S3Endpoint, tmp_path: Path
) -> None:
    f = tmp_path / "f.whl"
    f.write_bytes(b"abc")
    open_s3(s3_bucket, Sleeps()).put("main/f.whl", f)
    keys = [o["Key"] for o in s3_endpoint.client().list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == ["pfx/main/f.whl"]


def test_server_down_then_back_put_retries_and_succeeds(
    s3_bucket: str, s3_endpoint: S3Endpoint, tmp_path: Path
) -> None:
    f = tmp_path / "f.whl"
    f.write_bytes(b"payload" * 1000)

    def come_back() -> None:
        s3_endpoint.start()
        s3_endpoint.client().create_bucket(Bucket=s3_bucket)  # moto forgets on restart

    sleeps = Sleeps(come_back)
    s = open_s3(s3_bucket, sleeps)
    s3_endpoint.stop()
    info = s.put("main/f.whl", f)
    assert len(sleeps.calls) >= 1
    assert s.info("main/f.whl") == info


def test_server_down_then_back_get_retries_and_succeeds(
    s3_bucket: str, s3_endpoint: S3Endpoint, tmp_path: Path
) -> None:
    f = tmp_path / "f.whl"
    f.write_bytes(b"payload" * 1000)
    sleeps = Sleeps()
    s = open_s3(s3_bucket, sleeps)
    info = s.put("main/f.whl", f)
    assert sleeps.calls == []

    def come_back() -> None:
        s3_endpoint.start()
        c = s3_endpoint.client()
        c.create_bucket(Bucket=s3_bucket)
        c.put_object(
            Bucket=s3_bucket,
            Key="pfx/main/f.whl",
            Body=f.read_bytes(),
            Metadata={"sha256": info.sha256},
        )

    sleeps.hook = come_back
    s3_endpoint.stop()
    dest = tmp_path / "dl"
    dest.mkdir()
    assert s.get("main/f.whl", dest) == info
    assert len(sleeps.calls) >= 1
    assert sorted(p.name for p in dest.iterdir()) == ["f.whl"]


def test_server_down_with_small_bound_fails_cleanly(
    s3_bucket: str, s3_endpoint: S3Endpoint, tmp_path: Path
) -> None:
    f = tmp_path / "f.whl"
    f.write_bytes(b"x" * 100)
    sleeps = Sleeps()
    settings = StoreSettings(retry_attempts=3, retry_total_seconds=30, connect_timeout_seconds=1)
    s = open_s3(s3_bucket, sleeps, settings)
    s.put("main/f.whl", f)
    s3_endpoint.stop()
    try:
        dest = tmp_path / "dl"
        dest.mkdir()
        with pytest.raises(StoreError, match=r"failed after 3 attempt\(s\).*EndpointConnection"):
            s.get("main/f.whl", dest)
        assert len(sleeps.calls) == 2
        assert list(dest.iterdir()) == []
        with pytest.raises(StoreError, match="failed after 3 attempt"):
            s.put("main/g.whl", f)
    finally:
        s3_endpoint.start()


def test_404_is_not_retried_and_names_bucket_and_key(s3_bucket: str, tmp_path: Path) -> None:
    sleeps = Sleeps()
    s = open_s3(s3_bucket, sleeps)
    with pytest.raises(ArtifactNotFoundError, match=rf"s3://{s3_bucket}/pfx/main/none\.whl"):
        s.get("main/none.whl", tmp_path)
    assert sleeps.calls == []


def test_missing_bucket_is_a_clear_error(s3_bucket: str, tmp_path: Path) -> None:
    f = tmp_path / "f.whl"
    f.write_bytes(b"x")
    sleeps = Sleeps()
    s = open_s3(s3_bucket + "-absent", sleeps)
    with pytest.raises(StoreError, match="does not exist"):
        s.put("main/f.whl", f)
    assert sleeps.calls == []


@pytest.fixture(scope="module")
def auth_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """A moto_server that enforces IAM auth: unknown access keys get a real 403."""
    log_path = tmp_path_factory.mktemp("moto-auth") / "moto.log"
    ep = S3Endpoint(free_port(), log_path, env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    ep.start()
    yield ep
    ep.stop()


def test_403_is_not_retried_and_names_bucket_and_key(
    auth_endpoint: S3Endpoint, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTREAL")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret-value")
    monkeypatch.setenv("AWS_ENDPOINT_URL", auth_endpoint.url)
    sleeps = Sleeps()
    s = open_s3("locked", sleeps)
    f = tmp_path / "f.whl"
    f.write_bytes(b"x")
    with pytest.raises(
        StoreError, match=r"access to s3://locked/pfx/main/f\.whl was denied"
    ) as exc:
        s.put("main/f.whl", f)
    assert "not-a-secret-value" not in str(exc.value)
    with pytest.raises(StoreError, match="denied"):
        s.get("main/f.whl", tmp_path / "out.whl")
    assert not (tmp_path / "out.whl").exists()
    assert sleeps.calls == []


def test_cli_module_against_s3_exit_codes(s3_bucket: str, tmp_path: Path) -> None:
    """``python -m build_support.store`` end to end: put, ls, get, and exit 11 on a miss."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    url = f"s3://{s3_bucket}/cli"
    f = tmp_path / "w.whl"
    f.write_bytes(b"wheel")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "build_support.store", *args, "--store", url],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    assert run("put", str(f), "main/abcdef0/").returncode == 0
    listed = run("ls", "main/", "--json")
    assert listed.returncode == 0
    assert '"key": "main/abcdef0/w.whl"' in listed.stdout
    assert run("get", "main/abcdef0/w.whl", str(tmp_path / "got.whl")).returncode == 0
    assert (tmp_path / "got.whl").read_bytes() == b"wheel"
    missing = run("get", "main/abcdef0/nope.whl", str(tmp_path))
    assert missing.returncode == 11, missing.stderr
    assert f"s3://{s3_bucket}/cli/main/abcdef0/nope.whl does not exist" in missing.stderr
    assert "testing" not in missing.stderr  # no credentials in output
