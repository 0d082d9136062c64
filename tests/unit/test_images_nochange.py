"""The no-change path's offline parts: the stand-in's key and name without Docker, the
``--pull`` option, and the request log the integration tests count engine requests with."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from build_support.containers import rootfs
from build_support.errors import PlatformError, UsageError
from build_support.images import base as baseimage
from build_support.images import stage as images_stage
from tests.helpers import EngineRequestLog, _RequestParser

MIRROR = "http://deb.example.org/debian"


def test_identity_is_the_key_and_tag_ensure_image_uses() -> None:
    key, tag = rootfs.identity("x86_64", ["python3-venv", "python3", "python3"], mirror=MIRROR)
    expected = rootfs.rootfs_key("x86_64", "bookworm", ["python3", "python3-venv"], MIRROR)
    assert key == expected
    assert tag == rootfs.default_tag("x86_64", "bookworm", expected)
    assert rootfs.identity("x86_64", ["python3"], mirror=MIRROR)[0] != key
    assert rootfs.identity("aarch64", ["python3-venv", "python3"], mirror=MIRROR)[0] != key
    assert rootfs.identity("x86_64", ["python3", "python3-venv"], mirror=MIRROR + "/")[0] == key


def test_identity_refuses_what_ensure_image_refuses() -> None:
    with pytest.raises(PlatformError, match="unsupported rootfs architecture"):
        rootfs.identity("riscv64", ["python3"], mirror=MIRROR)
    with pytest.raises(UsageError, match="invalid Debian suite"):
        rootfs.identity("x86_64", ["python3"], suite="Bookworm!", mirror=MIRROR)
    with pytest.raises(UsageError, match="invalid Debian package name"):
        rootfs.identity("x86_64", ["Python3"], mirror=MIRROR)


def test_standin_ref() -> None:
    tag = "build-support/rootfs:bookworm-x86_64-0123456789ab"
    assert baseimage.standin_ref("ubuntu:22.04", "cpu", tag) == tag
    gpu = baseimage.standin_ref("nvidia/cuda:12.8.1-cudnn-devel-ubuntu22.04", "gpu", tag)
    assert gpu == "build-support/standin-base:nvidia-cuda-12.8.1-cudnn-devel-ubuntu22.04"
    assert len(baseimage.standin_ref("x" * 300, "gpu", tag)) == 128
    assert baseimage.standin_ref("???", "gpu", tag) == "build-support/standin-base:gpu"


def test_pull_option() -> None:
    assert images_stage._parser().parse_args(["--pull"]).pull is True
    assert images_stage._parser().parse_args([]).pull is False


# --- the request log ------------------------------------------------------------------------


def _parsed(*chunks: bytes) -> list[str]:
    seen: list[str] = []
    parser = _RequestParser(seen.append)
    for chunk in chunks:
        parser.feed(chunk)
    return seen


def test_parser_finds_pipelined_requests_split_anywhere() -> None:
    stream = (
        b"GET /version HTTP/1.1\r\nHost: docker\r\n\r\n"
        b"GET /v1.41/images/json?filters=%7B%7D HTTP/1.1\r\nHost: docker\r\n\r\n"
    )
    expected = ["GET /version", "GET /v1.41/images/json?filters=%7B%7D"]
    assert _parsed(stream) == expected
    for cut in range(1, len(stream)):
        assert _parsed(stream[:cut], stream[cut:]) == expected, cut


def test_parser_skips_bodies() -> None:
    fake = b"GET /not-a-request HTTP/1.1\r\n\r\n"
    sized = b"POST /v1.41/images/x/tag HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (
        len(fake),
        fake,
    )
    chunked = (
        b"POST /v1.41/build HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(fake), fake)
    )
    after = b"GET /_ping HTTP/1.1\r\n\r\n"
    assert _parsed(sized + chunked + after) == [
        "POST /v1.41/images/x/tag",
        "POST /v1.41/build",
        "GET /_ping",
    ]
    assert _parsed(chunked[:50], chunked[50:] + after) == ["POST /v1.41/build", "GET /_ping"]


def test_parser_stops_at_an_upgraded_connection() -> None:
    upgrade = b"POST /session HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
    assert _parsed(upgrade + b"GET /raw-bytes-now HTTP/1.1\r\n\r\n") == ["POST /session"]


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Path]:
    """A real HTTP/1.1 server on a UNIX socket answering every request with its path."""
    path = tmp_path / "upstream.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()

    def serve(conn: socket.socket) -> None:
        buf = b""
        with conn:
            while data := conn.recv(4096):
                buf += data
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    body = head.split(b"\r\n")[0].split(b" ")[1]
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (
                        len(body), body))  # fmt: skip

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield path
    server.close()


def test_the_log_forwards_and_records(upstream: Path, tmp_path: Path) -> None:
    proxy = EngineRequestLog(tmp_path / "proxy.sock", upstream=str(upstream))
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(proxy.path))
            client.sendall(b"GET /one HTTP/1.1\r\n\r\nGET /two HTTP/1.1\r\n\r\n")
            answer = b""
            while answer.count(b"200 OK") < 2:
                answer += client.recv(4096)
            while not answer.endswith(b"/two"):
                answer += client.recv(4096)
        assert answer.endswith(b"/one" + b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n/two")
        assert proxy.take() == ["GET /one", "GET /two"]
        assert proxy.take() == []
        assert proxy.host == f"unix://{tmp_path / 'proxy.sock'}"
    finally:
        proxy.close()
    assert not (tmp_path / "proxy.sock").exists()
