"""TEST ONLY: puts a real signal at an exact step of a ``publish`` subprocess.

The publish kill tests run ``python -m build_support publish`` with this directory first
on ``PYTHONPATH`` and ``PUBLISH_TEST_KILL=<where>:<n>:<KILL|TERM>``; Python imports this
module at start-up (``site``), and the process sends itself the signal right after

* ``journal:<n>``: the n-th write of the publish journal to the store (a journaled step),
* ``put:<n>``: the n-th HTTP PUT that the server accepted (a Maven set member).

The signal is real (``os.kill``: SIGKILL ends the process at once, SIGTERM goes through
the stage's own handler); this module only chooses the moment, so that every step can be
hit exactly instead of by a racing watcher. No production code knows about it.
"""

from __future__ import annotations

import os
import signal
from typing import Any

_SPEC = os.environ.get("PUBLISH_TEST_KILL", "")


def _install(where: str, n: int, signum: int) -> None:
    count = 0

    def hit() -> None:
        nonlocal count
        count += 1
        if count == n:
            os.kill(os.getpid(), signum)

    if where == "journal":
        from build_support.publish import journal

        write = journal.Journal.write

        def counted_write(self: journal.Journal) -> None:
            write(self)
            hit()

        journal.Journal.write = counted_write  # type: ignore[method-assign]
    elif where == "put":
        from build_support.publish import http

        request = http.request

        def counted_request(method: str, url: str, **kwargs: Any) -> http.Response:
            resp = request(method, url, **kwargs)
            if method == "PUT" and resp.status in (200, 201, 204):
                hit()
            return resp

        http.request = counted_request
    else:
        raise SystemExit(f"PUBLISH_TEST_KILL: unknown point {where!r}")


if _SPEC:
    _where, _n, _sig = _SPEC.split(":")
    _install(_where, int(_n), {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM}[_sig])
