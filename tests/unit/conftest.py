"""Unit tests are fast and offline: subprocesses and non-loopback sockets fail.

A test marked ``subprocess`` may start processes; one marked ``network`` may connect
anywhere. Everything else that tries gets a RuntimeError naming the marker to use.
"""

from __future__ import annotations

import socket
import subprocess
from typing import Any

import pytest

_LOOPBACK = ("127.", "::1", "localhost")


@pytest.fixture(autouse=True)
def _offline_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("subprocess") is None:

        def no_popen(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(
                f"unit test tried to start a subprocess {args[:1]!r}; mark it "
                "@pytest.mark.subprocess or move it to tests/integration"
            )

        monkeypatch.setattr(subprocess.Popen, "__init__", no_popen)
    if request.node.get_closest_marker("network") is None:
        real_connect = socket.socket.connect

        def guarded_connect(self: socket.socket, address: Any) -> Any:
            host = address[0] if isinstance(address, tuple) else str(address)
            if self.family == socket.AF_UNIX or str(host).startswith(_LOOPBACK):
                return real_connect(self, address)
            raise RuntimeError(
                f"unit test tried to connect to {address!r}; mark it @pytest.mark.network"
            )

        monkeypatch.setattr(socket.socket, "connect", guarded_connect)
