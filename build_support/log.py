"""Output a person can follow: a line per step, CI fold groups, a closing summary.

On Buildkite a group is ``--- title``; on GitHub Actions ``::group::title`` …
``::endgroup::``; in a terminal a bold ``==> title`` line. Everything goes to stderr
so that stdout stays free for machine-readable output (JSON, YAML).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TextIO

from build_support import redact


class CIKind(Enum):
    LOCAL = "local"
    BUILDKITE = "buildkite"
    GITHUB = "github"
    GENERIC = "ci"


def detect_ci(env: Mapping[str, str] | None = None) -> CIKind:
    """Which CI system (if any) this process runs under, from its environment."""
    env = os.environ if env is None else env
    if env.get("BUILDKITE") == "true":
        return CIKind.BUILDKITE
    if env.get("GITHUB_ACTIONS") == "true":
        return CIKind.GITHUB
    if env.get("CI"):
        return CIKind.GENERIC
    return CIKind.LOCAL


def _stream() -> TextIO:
    return sys.stderr


def _color() -> bool:
    return _stream().isatty() and "NO_COLOR" not in os.environ


def _paint(text: str, code: str) -> str:
    return f"\033[{code}m{text}\033[0m" if _color() else text


def _emit(text: str, out: TextIO | None = None) -> None:
    """Every console line goes through here, and so through :mod:`redact`."""
    print(redact.text(text), file=_stream() if out is None else out, flush=True)


def info(message: str) -> None:
    """One line of progress."""
    _emit(message)


def step(message: str) -> None:
    """A named step of a stage."""
    _emit(_paint(f"--> {message}", "1"))


def warn(message: str) -> None:
    _emit(_paint(f"warning: {message}", "33"))


def error(message: str) -> None:
    _emit(_paint(f"error: {message}", "31;1"))


def success(message: str) -> None:
    _emit(_paint(message, "32"))


#: Fold groups open right now. CI folds are one stream per process and cannot nest
#: (GitHub Actions ignores a ``::group::`` inside another; a Buildkite ``---`` ends the
#: section before it), so only the outermost group folds.
_open_groups = 0
_groups_lock = threading.Lock()


@contextlib.contextmanager
def group(title: str, *, ci: CIKind | None = None) -> Iterator[None]:
    """A foldable group of output; its duration is printed when it ends.

    Inside another group (a stage's steps inside the pipeline's step) it is a plain
    ``==> title`` heading, never a nested fold.
    """
    global _open_groups  # noqa: PLW0603 - one process-wide fold state, like the stream
    kind = detect_ci() if ci is None else ci
    out = _stream()
    with _groups_lock:
        nested = _open_groups > 0
        _open_groups += 1
    if nested or kind in (CIKind.LOCAL, CIKind.GENERIC):
        _emit(_paint(f"==> {title}", "1;34"), out)
    elif kind is CIKind.BUILDKITE:
        _emit(f"--- {title}", out)
    else:
        _emit(f"::group::{title}", out)
    start = time.monotonic()
    try:
        yield
    finally:
        elapsed = time.monotonic() - start
        with _groups_lock:
            _open_groups -= 1
        if kind is CIKind.GITHUB and not nested:
            _emit("::endgroup::", out)
        _emit(f"    ({title}: {elapsed:.1f}s)", out)


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover - loop always returns


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with columns padded to their widest cell."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows)
    return "\n".join(lines)


@dataclass
class Summary:
    """The closing summary of a stage: what it produced, and a JSON twin for machines."""

    stage: str
    headers: tuple[str, ...] = ("artifact", "size", "sha256", "time")
    rows: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, **cells: str) -> None:
        self.rows.append(dict(cells))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def render(self) -> str:
        table = format_table(
            self.headers, [[row.get(h, "") for h in self.headers] for row in self.rows]
        )
        parts = [f"Summary of {self.stage}:", table, *self.notes]
        return "\n".join(parts)

    def emit(self, json_path: Path | None = None) -> None:
        info("")
        info(self.render())
        if json_path is not None:
            from build_support import fsutil

            fsutil.write_json(
                json_path, {"stage": self.stage, "rows": self.rows, "notes": self.notes}
            )
