"""S3-specific behaviour against a real moto_server: multipart, faults, 403/404."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from build_support import store
from build_support.errors import ArtifactNotFoundError, IntegrityError, StoreError
from build_support.store import S3Store, StoreSettings
from tests.helpers import free_port
from tests.integration.conftest import S3Endpoint

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
    """Down for good: the retry budget (30 s on an injected clock) runs out, cleanly."""
    f = tmp_path / "f.whl"
    f.write_bytes(b"x" * 100)
    now = [0.0]
    sleeps = Sleeps(lambda: None)

    def sleep(seconds: float) -> None:
        sleeps(seconds)
        now[0] += seconds

    settings = StoreSettings(retry_attempts=3, retry_total_seconds=30, connect_timeout_seconds=1)
    s = store.open_url(f"s3://{s3_bucket}/pfx", settings, clock=lambda: now[0], sleep=sleep)
    s.put("main/f.whl", f)
    s3_endpoint.stop()
    try:
        dest = tmp_path / "dl"
        dest.mkdir()
        with pytest.raises(StoreError, match=r"failed after \d+ attempt\(s\) in 30\.0s.*Endpoint"):
            s.get("main/f.whl", dest)
        assert len(sleeps.calls) >= 2
        assert now[0] == pytest.approx(30.0)
        assert list(dest.iterdir()) == []
        with pytest.raises(StoreError, match="failed after"):
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
    url = f"s3://{s3_bucket}/cli"
    f = tmp_path / "w.whl"
    f.write_bytes(b"wheel")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return _cli(url, *args)

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


# --- issue 10 §4: fail fast, abort failed multipart uploads, ride out short outages ------


class FaultProxy:
    """A real HTTP proxy on loopback in front of moto_server that can play an outage.

    ``decide(method, path)`` returns an HTTP status to answer with instead of forwarding
    (an S3 error document, as a failing S3 front end sends), or None to forward.
    """

    def __init__(self, upstream: S3Endpoint, decide: Callable[[str, str], int | None]) -> None:
        self.decide = decide
        self.requests: list[tuple[str, str, int]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                del format, args

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                status = proxy.decide(self.command, self.path)
                if status is not None:
                    proxy.requests.append((self.command, self.path, status))
                    doc = (
                        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>'
                        + (b"ServiceUnavailable" if status >= 500 else b"AccessDenied")
                        + b"</Code><Message>injected by the test proxy</Message></Error>"
                    )
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(doc)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(doc)
                    return
                conn = http.client.HTTPConnection("127.0.0.1", upstream.port, timeout=60)
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("expect", "connection")
                }
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                proxy.requests.append((self.command, self.path, resp.status))
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                head_len = resp.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", head_len or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward  # noqa: N815

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RealSleeps(Sleeps):
    """Records each pause and really sleeps it (capped), so outages end in real time."""

    def __call__(self, seconds: float) -> None:
        super().__call__(seconds)
        time.sleep(min(seconds, 0.5))


def _is_part(method: str, path: str) -> bool:
    return method == "PUT" and "partNumber=" in path and "uploadId=" in path


@pytest.fixture
def fault_proxy(
    s3_endpoint: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Callable[[str, str], int | None]], FaultProxy]]:
    made: list[FaultProxy] = []

    def make(decide: Callable[[str, str], int | None]) -> FaultProxy:
        proxy = FaultProxy(s3_endpoint, decide)
        made.append(proxy)
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        return proxy

    yield make
    for proxy in made:
        proxy.close()


def test_an_outage_during_a_multipart_upload_leaves_no_upload_behind(
    s3_bucket: str, s3_endpoint: S3Endpoint, fault_proxy: Any, tmp_path: Path
) -> None:
    """S3 is down for 1.5 s from the second part on: the put rides it out, and no
    multipart upload is left in the bucket (an abort that failed in the outage would be)."""
    down_since: list[float] = []

    def decide(method: str, path: str) -> int | None:
        if not down_since and _is_part(method, path) and "partNumber=2" in path:
            down_since.append(time.monotonic())
        if down_since and time.monotonic() - down_since[0] < 1.5:
            return 503
        return None

    proxy = fault_proxy(decide)
    big = tmp_path / "big.whl"
    big.write_bytes(os.urandom(20 * 1024 * 1024))
    settings = StoreSettings(
        retry_attempts=2,
        retry_total_seconds=30,
        multipart_threshold_mb=5,
        connect_timeout_seconds=2,
    )
    s = open_s3(s3_bucket, RealSleeps(), settings)
    info = s.put("main/big.whl", big)
    assert any(status == 503 for _m, _p, status in proxy.requests)
    direct = s3_endpoint.client()
    assert direct.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    s.get("main/big.whl", tmp_path / "back.whl")
    assert (tmp_path / "back.whl").read_bytes() == big.read_bytes()
    assert info.size == big.stat().st_size


def test_a_failed_multipart_upload_is_aborted(
    s3_bucket: str, s3_endpoint: S3Endpoint, fault_proxy: Any, tmp_path: Path
) -> None:
    """Every part is refused (403): the put fails with exit 9 and the upload is aborted."""
    fault_proxy(lambda method, path: 403 if _is_part(method, path) else None)
    big = tmp_path / "big.whl"
    big.write_bytes(os.urandom(12 * 1024 * 1024))
    s = open_s3(s3_bucket, Sleeps())
    with pytest.raises(StoreError, match="denied") as exc:
        s.put("main/big.whl", big)
    assert exc.value.exit_code == 9
    direct = s3_endpoint.client()
    assert direct.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert "Contents" not in direct.list_objects_v2(Bucket=s3_bucket)


def test_a_short_outage_is_ridden_out_beyond_retry_attempts(
    s3_bucket: str, fault_proxy: Any, tmp_path: Path
) -> None:
    """Down for 2 s: with retry_attempts = 2 and a 30 s budget the get still succeeds."""
    f = tmp_path / "f.whl"
    f.write_bytes(b"payload" * 1000)
    settings = StoreSettings(retry_attempts=2, retry_total_seconds=30, connect_timeout_seconds=2)
    start: list[float] = []

    def decide(method: str, path: str) -> int | None:
        if method == "GET" and "/main/f.whl" in path and not start:
            start.append(time.monotonic())
        return 503 if start and time.monotonic() - start[0] < 2.0 else None

    s = open_s3(s3_bucket, Sleeps(), settings)
    info = s.put("main/f.whl", f)
    fault_proxy(decide)
    sleeps = RealSleeps()
    s = open_s3(s3_bucket, sleeps, settings)
    assert s.get("main/f.whl", tmp_path / "back.whl") == info
    assert len(sleeps.calls) > 2


def test_reput_of_a_tampered_object_repairs_it(
    s3_bucket: str, s3_endpoint: S3Endpoint, tmp_path: Path
) -> None:
    """The no-op check compares the object's ETag too, not only the recorded SHA-256."""
    f = tmp_path / "f.whl"
    f.write_bytes(b"good" * 1000)
    s = open_s3(s3_bucket, Sleeps())
    info = s.put("main/f.whl", f)
    s3_endpoint.client().put_object(
        Bucket=s3_bucket,
        Key="pfx/main/f.whl",
        Body=b"evil" * 1000,
        Metadata={"sha256": info.sha256},
    )
    with pytest.raises(IntegrityError, match="corrupt"):
        s.get("main/f.whl", tmp_path / "x.whl")
    s.put("main/f.whl", f)
    s.get("main/f.whl", tmp_path / "y.whl")
    assert (tmp_path / "y.whl").read_bytes() == f.read_bytes()
    big = tmp_path / "big.whl"
    big.write_bytes(os.urandom(11 * 1024 * 1024))
    s.put("main/big.whl", big)
    head = s3_endpoint.client().head_object(Bucket=s3_bucket, Key="pfx/main/big.whl")
    assert s.put("main/big.whl", big).sha256 == head["Metadata"]["sha256"]
    head2 = s3_endpoint.client().head_object(Bucket=s3_bucket, Key="pfx/main/big.whl")
    assert head2["LastModified"] == head["LastModified"]  # multipart ETag matched: no re-upload


def _cli(
    url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, "-m", "build_support.store", *args, "--store", url],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_wait_on_a_missing_bucket_fails_at_once_with_exit_9(s3_bucket: str) -> None:
    start = time.monotonic()
    done = _cli(f"s3://{s3_bucket}-absent/pfx", "wait", "main/abcdef0/x.whl", "--timeout", "7200")
    assert done.returncode == 9, done.stderr
    assert time.monotonic() - start < 30
    assert f"bucket '{s3_bucket}-absent' does not exist" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def iam_endpoint(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[S3Endpoint, dict[str, str]]]:
    """A moto_server enforcing IAM: a user ``ci`` may use only ``bkt/allowed/*``."""
    log_path = tmp_path_factory.mktemp("moto-iam") / "moto.log"
    ep = S3Endpoint(free_port(), log_path, env={"INITIAL_NO_AUTH_ACTION_COUNT": "4"})
    ep.start()
    admin = ep.client()
    admin.create_bucket(Bucket="bkt")
    iam = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing"
    ).client("iam", endpoint_url=ep.url, region_name="us-east-1")
    iam.create_user(UserName="ci")
    key = iam.create_access_key(UserName="ci")["AccessKey"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::bkt/allowed/*"]},
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::bkt"]},
        ],
    }
    iam.put_user_policy(UserName="ci", PolicyName="allowed-only", PolicyDocument=json.dumps(policy))
    creds = {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": ep.url,
    }
    yield ep, creds
    ep.stop()


def test_wait_on_a_denied_prefix_fails_at_once_with_exit_9(
    iam_endpoint: tuple[S3Endpoint, dict[str, str]], tmp_path: Path
) -> None:
    _ep, creds = iam_endpoint
    f = tmp_path / "w.whl"
    f.write_bytes(b"wheel")
    assert _cli("s3://bkt/allowed", "put", str(f), "main/abcdef0/", env=creds).returncode == 0
    found = _cli("s3://bkt/allowed", "wait", "main/abcdef0/w.whl", env=creds)
    assert found.returncode == 0, found.stderr
    start = time.monotonic()
    denied = _cli("s3://bkt/denied", "wait", "main/abcdef0/w.whl", "--timeout", "7200", env=creds)
    assert denied.returncode == 9, denied.stderr
    assert time.monotonic() - start < 30
    assert "denied" in denied.stderr
    assert creds["AWS_SECRET_ACCESS_KEY"] not in denied.stderr + denied.stdout
