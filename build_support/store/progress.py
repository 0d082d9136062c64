"""Transfer progress: a live line in a terminal, one summary line on CI.

A :class:`Progress` is a callable taking a byte count (boto3's ``Callback`` shape, and
thread-safe because s3transfer calls it from worker threads). Transfers smaller than
:data:`THRESHOLD` stay quiet.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from build_support import log

THRESHOLD = 4 * 1024 * 1024
#: Seconds between two redraws of the live line.
REDRAW = 0.25


class Progress:
    def __init__(
        self,
        verb: str,
        name: str,
        total: int,
        *,
        stream: TextIO | None = None,
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.verb = verb
        self.name = name
        self.total = total
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = total >= THRESHOLD
        if live is None:
            live = self._stream.isatty() and log.detect_ci() is log.CIKind.LOCAL
        self._live = live
        self._clock = clock
        self._start = clock()
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self, n: int) -> None:
        with self._lock:
            self.done += n
            if not (self._enabled and self._live):
                return
            now = self._clock()
            if now - self._last >= REDRAW or self.done >= self.total:
                self._last = now
                self._stream.write("\r" + self.line(now) + "\033[K")
                self._stream.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = max((self._clock() if now is None else now) - self._start, 1e-6)
        pct = 100.0 * self.done / self.total if self.total else 100.0
        rate = self.done / elapsed
        return (
            f"{self.verb} {self.name}: {log.human_size(self.done)} / "
            f"{log.human_size(self.total)} ({pct:.0f}%) {log.human_size(rate)}/s"
        )

    def finish(self) -> None:
        """End the live line, or print the single summary line (CI, pipes)."""
        if not self._enabled:
            return
        now = self._clock()
        with self._lock:
            text = self.line(now) + f" in {now - self._start:.1f}s"
            if self._live:
                self._stream.write("\r" + text + "\033[K\n")
            else:
                self._stream.write(text + "\n")
            self._stream.flush()
