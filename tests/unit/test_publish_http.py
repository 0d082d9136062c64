"""F16: the publish stage's HTTP client retries with the harness's one RetryPolicy (full
jitter, each retry in the log), against a real server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from build_support.publish import http
from tests.helpers import free_port
from tests.publishing import LoopbackHTTP


class Flaky(BaseHTTPRequestHandler):
    """503 for the first two requests of each path, then 200."""

    seen: dict[str, int] = {}  # noqa: RUF012 - shared by the server's handler instances

    def _answer(self) -> None:
        n = self.seen[self.path] = self.seen.get(self.path, 0) + 1
        status = 503 if n <= 2 else 200
        body = f"try {n}".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer  # noqa: N815 - the http.server protocol
    do_POST = _answer  # noqa: N815

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[LoopbackHTTP]:
    Flaky.seen = {}
    s = LoopbackHTTP(Flaky)
    s.start()
    yield s
    s.stop()


def test_a_get_rides_out_503s_with_jittered_backoff_in_the_log(
    server: LoopbackHTTP, capsys: pytest.CaptureFixture[str]
) -> None:
    slept: list[float] = []
    resp = http.request("GET", f"{server.url}/a", authorization=http.bearer("tok-Planted-1"),
                        sleep=slept.append)  # fmt: skip
    assert (resp.status, resp.text()) == (200, "try 3")
    assert len(slept) == 2
    assert 0.0 <= slept[0] <= 0.5
    assert 0.0 <= slept[1] <= 1.0
    assert slept != [0.5, 1.0]  # full jitter, not the fixed 0.5 * 2**n it once was
    err = capsys.readouterr().err
    assert f"GET {server.url}/a: HTTP 503; retry 1" in err
    assert "tok-Planted-1" not in err


def test_a_request_with_a_body_is_tried_once(server: LoopbackHTTP) -> None:
    slept: list[float] = []
    resp = http.request("POST", f"{server.url}/b", data=b"x", sleep=slept.append)
    assert resp.status == 503
    assert slept == []
    assert Flaky.seen["/b"] == 1


def test_no_answer_is_an_http_error_after_the_tries() -> None:
    slept: list[float] = []
    url = f"http://127.0.0.1:{free_port()}/c"
    with pytest.raises(http.HttpError, match=f"GET {url}: .*refused"):
        http.request("GET", url, attempts=3, sleep=slept.append, timeout=5)
    assert len(slept) == 2
