"""A small HTTP client over :mod:`urllib` for registry APIs (no extra dependency).

Basic or bearer auth is sent in a header, never in a URL; messages name the URL without
credentials. GETs are retried on connection errors and 5xx with backoff; a request that
sends a body is never retried here (the caller decides by asking the target again).
"""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from build_support.publish import credentials
from build_support.retry import RetryPolicy, Transient

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    url: str = ""

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class HttpError(Exception):
    """No HTTP answer at all (connection refused, timeout, DNS)."""


def basic(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    credentials.register(token)
    return f"Basic {token}"


def bearer(token: str) -> str:
    credentials.register(token)
    return f"Bearer {token}"


class _RetryableStatus(Exception):  # noqa: N818 - carries a response, not an error
    """A 429/5xx answer to a request that may be retried: retried, and returned at last."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"HTTP {response.status}")
        self.response = response


class _GaveUp(Exception):  # noqa: N818 - internal: the tries are spent
    pass


def _classify(exc: BaseException) -> BaseException:
    if isinstance(exc, _RetryableStatus):
        return Transient(f"HTTP {exc.response.status}")
    if isinstance(exc, (urllib.error.URLError, TimeoutError, ConnectionError, OSError)):
        return Transient(str(getattr(exc, "reason", exc)))
    return exc


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    authorization: str | None = None,
    timeout: float = 60.0,
    attempts: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> Response:
    """One HTTP exchange; every status is returned (the caller judges it). A GET or HEAD
    without a body is tried up to ``attempts`` times on no answer or 429/5xx, with the
    harness's :class:`~build_support.retry.RetryPolicy` (full jitter)."""
    hdrs = dict(headers or {})
    if authorization:
        hdrs["Authorization"] = authorization
    retries = attempts if method in ("GET", "HEAD") and data is None else 1
    policy = RetryPolicy(attempts=retries, total_seconds=0.0, base_delay=0.5, sleep=sleep)

    def once() -> Response:
        req = urllib.request.Request(url, data=data, headers=hdrs, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
                return Response(resp.status, resp.read(), dict(resp.headers), resp.geturl())
        except urllib.error.HTTPError as exc:
            body = exc.read() if exc.fp is not None else b""
            answer = Response(exc.code, body, dict(exc.headers or {}), url)
            if exc.code in RETRY_STATUS:
                raise _RetryableStatus(answer) from None
            return answer

    what = credentials.scrub(f"{method} {url}")
    try:
        return policy.call(once, what=what, classify=_classify, give_up=_GaveUp)
    except _GaveUp as exc:
        last = exc.__cause__
        if isinstance(last, _RetryableStatus):
            return last.response
        reason = getattr(last, "reason", last)
        raise HttpError(credentials.scrub(f"{method} {url}: {reason}")) from None
