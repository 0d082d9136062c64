"""An S3 endpoint with credentials in its URL, and the AWS secret key, are never shown:
the real ``store`` stage (boto3) against a loopback port where nothing listens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENDPOINT_PASS = "endpoint-pass-5d8e1f"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+store+key"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_endpoint_credentials_and_secret_key_are_not_echoed(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent("""\
        [tool.build_support.store]
        retry_attempts = 1
        retry_total_seconds = 0.5
        connect_timeout_seconds = 1.0
        """)
    )
    port = _closed_port()
    endpoint = "http://minio:endpoint-pass-5d8e1f@127.0.0.1:" + str(port)
    proc = subprocess.run(
        [sys.executable, "-m", "build_support", "store", "ls", "--store", "s3://bucket/prefix"],
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 9, out  # StoreError: it did fail, talking to that endpoint
    assert f"127.0.0.1:{port}" in out
    assert ENDPOINT_PASS not in out
    assert SECRET_KEY not in out
    assert "Traceback" not in out
