"""Helpers shared by integration tests and benchmarks (no fixtures here)."""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from build_support import config, pythons, wheelfile
from build_support.containers import engine

ROOT = Path(__file__).resolve().parent.parent
_IGNORE = shutil.ignore_patterns("cpp", "tests", "build", "*.egg-info", "__pycache__")


def build_stamped_wheels(
    projects: Sequence[Path],
    work: Path,
    *,
    commit: str,
    python: str,
    platform_tag: str,
) -> list[Path]:
    """Wheels of ``projects`` with ``commit`` stamped in, retagged as ``platform_tag``.

    A quick stand-in for the wheel stage where a test needs a real wheel of minray but
    tests something else: the sources are copied (never edited in place), stamped with the
    library's own :func:`wheelfile.stamp_tree`, built with ``pip wheel`` by the Python
    ``python`` (X.Y), and retagged with ``wheel tags`` (the extensions link only libc, so
    the manylinux2014 tag is right; auditwheel needs a newer patchelf than Debian's).
    """
    interp = pythons.require([python])[python]
    out = work / "wheels"
    for project in projects:
        src = work / "src" / project.name
        shutil.copytree(project, src, ignore=_IGNORE)
        versions = [p.relative_to(src).as_posix() for p in src.glob("*/_version.py")]
        assert wheelfile.stamp_tree(src, versions, commit), f"no placeholder in {project}"
        subprocess.run(
            [str(interp.path), "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
            check=True,
            capture_output=True,
        )
    for whl in sorted(out.glob("*.whl")):
        subprocess.run(
            [sys.executable, "-m", "wheel", "tags", "--remove", "--platform-tag",
             platform_tag, str(whl)],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return sorted(out.glob("*.whl"))


def docker(*args: str) -> str:
    """``docker ARGS`` with the harness's docker CLI; its stdout, stripped (fails loudly)."""
    proc = subprocess.run(
        [engine.docker_client(), *args], capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(cond: Callable[[], bool], seconds: float = 30.0) -> bool:
    """Poll ``cond`` until it holds or ``seconds`` pass; its last answer."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie is dead); read from /proc, independent of ``procs``."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


#: The keys of each section that name the product (no harness default: docs/onboarding.md).
PRODUCT_KEYS = {
    "images": ("image_name", "wheels", "smoke_module", "user", "source_url"),
    "release_tests": ("distribution", "package"),
    "jars": (
        "native_library",
        "native_sources",
        "native_include_dirs",
        "native_check_class",
        "commit_manifest_entry",
    ),
}


def bundled_names(section: str) -> dict[str, object]:
    """minray's names in ``[tool.build_support.<section>]`` of this repository's pyproject.toml,
    for tests that build a project of their own from minray's sources."""
    table = config.load(ROOT).sections.get(section, {})
    return {k: table[k] for k in PRODUCT_KEYS[section] if k in table}


def bundled_toml(section: str) -> str:
    """:func:`bundled_names` as TOML lines (strings and lists of strings, as JSON writes them)."""
    return "".join(f"{k} = {json.dumps(v)}\n" for k, v in bundled_names(section).items())


class EngineRequestLog:
    """A real UNIX-socket proxy in front of the Docker engine's socket that records every
    HTTP request line a client sends through it (``"GET /v1.41/images/json?…"``).

    Point a client at it with ``DOCKER_HOST=unix://<path>``. Bytes are forwarded as they
    come, both ways; the request stream is parsed on the side (``Content-Length`` and
    chunked bodies are skipped, an upgraded connection is forwarded unparsed), so the log
    is what reached the engine, request by request.
    """

    def __init__(self, path: Path, upstream: str = "/var/run/docker.sock") -> None:
        self.path = path
        self.upstream = upstream
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(16)
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"unix://{self.path}"

    def take(self) -> list[str]:
        """The requests recorded since the last call (and forget them)."""
        with self._lock:
            taken = list(self.requests)
            self.requests.clear()
        return taken

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        self._server.close()
        for sock in list(self._open):  # connections a client left open
            with contextlib.suppress(OSError):
                sock.close()
        self._thread.join(timeout=5)
        self.path.unlink(missing_ok=True)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect(self.upstream)
            self._open += [client, engine]
            done = threading.Barrier(2, action=functools.partial(self._drop, client, engine))
            threading.Thread(
                target=self._pipe, args=(engine, client, None, done), daemon=True
            ).start()
            threading.Thread(
                target=self._pipe,
                args=(client, engine, _RequestParser(self._record), done),
                daemon=True,
            ).start()

    def _drop(self, *socks: socket.socket) -> None:
        """Close a connection pair once both directions have ended."""
        for sock in socks:
            sock.close()
            with contextlib.suppress(ValueError):
                self._open.remove(sock)

    def _record(self, line: str) -> None:
        with self._lock:
            self.requests.append(line)

    @staticmethod
    def _pipe(
        src: socket.socket,
        dst: socket.socket,
        parser: _RequestParser | None,
        done: threading.Barrier,
    ) -> None:
        try:
            while data := src.recv(65536):
                if parser is not None:
                    parser.feed(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
            with contextlib.suppress(threading.BrokenBarrierError):
                done.wait()


class _RequestParser:
    """HTTP/1.1 request framing, enough to find each request line in a stream."""

    def __init__(self, record: Callable[[str], None]) -> None:
        self._record = record
        self._buf = bytearray()
        self._body = 0  # bytes of the current body still to skip
        self._chunked = False
        self._raw = False  # upgraded (hijacked) connection: no more HTTP

    def feed(self, data: bytes) -> None:
        if self._raw:
            return
        self._buf += data
        while self._step():
            pass

    def _step(self) -> bool:
        """Consume what can be consumed; whether to go on."""
        if self._body:
            n = min(self._body, len(self._buf))
            del self._buf[:n]
            self._body -= n
            return bool(self._buf) and not self._body
        if self._chunked:
            return self._chunk()
        return self._head()

    def _chunk(self) -> bool:
        end = self._buf.find(b"\r\n")
        if end < 0:
            return False
        size = int(bytes(self._buf[:end]).split(b";")[0] or b"0", 16)
        if len(self._buf) < end + 2 + size + 2:
            return False
        del self._buf[: end + 2 + size + 2]
        self._chunked = size != 0  # the last chunk (no trailers from the Docker clients)
        return True

    def _head(self) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        del self._buf[: end + 4]
        self._record(head[0].rsplit(" ", 1)[0])
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        if "upgrade" in headers or "upgrade" in headers.get("connection", "").lower():
            self._raw = True
            return False
        if headers.get("transfer-encoding", "").lower() == "chunked":
            self._chunked = True
        else:
            self._body = int(headers.get("content-length", "0") or 0)
        return True
