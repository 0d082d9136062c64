"""``nox -s release-tests -- history [--last N] [--format text|json]``: each test over the
last N commits of the branch, and its state.

For each commit (``git log`` order, first parent), the latest run of the selection
(``--selection``, default ``[tool.build_support.publish] release_tests_gate``) found
for it (fleet runs in the store, local runs under the results folder) gives each test a
cell: ``pass``, ``retried`` (passed only after a retry), ``fail``, ``missing`` (selected,
no result), or ``none`` (no run of that commit, or the test was not in it). From the
cells, oldest first, each test gets a pass rate, a duration trend and a state, in the
spirit of Ray's test state machine:

* ``jailed``: the test's definition says ``jailed: true`` (configured, not inferred);
* ``flaky``: it passed only on a retry in the window, or it alternated (went from pass
  to fail and back, or the reverse, at least twice);
* ``failing``: its latest runs failed (``consecutive_failures`` of them);
* ``passing``: otherwise (``unknown``: no run at all).

The table is printed, and written as a self-contained HTML page (durations as a small
inline SVG chart per test); ``--format json`` prints the same for tools.
"""

from __future__ import annotations

import argparse
import html
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from build_support import cmd, fsutil, log, manifests, redact
from build_support.args import StageParser, non_negative_int
from build_support.config import Config
from build_support.errors import InputError
from build_support.releasetests.fleet import find_summaries
from build_support.store.base import Store

Cell = Literal["pass", "retried", "fail", "missing", "none"]
State = Literal["passing", "failing", "flaky", "jailed", "unknown"]

_OK: frozenset[str] = frozenset({"pass", "retried"})
_BAD: frozenset[str] = frozenset({"fail", "missing"})
CELL_COLORS: Mapping[str, str] = {
    "pass": "#2e7d32",
    "retried": "#f9a825",
    "fail": "#c62828",
    "missing": "#6a1b9a",
    "none": "#bdbdbd",
}


@dataclass(frozen=True)
class CommitColumn:
    sha: str
    #: The run whose results fill the column ("" when the commit has none).
    run_id: str
    where: str


@dataclass(frozen=True)
class TestHistory:
    __test__ = False  # not a pytest class

    name: str
    #: One per commit, oldest first (as :attr:`History.commits`).
    cells: tuple[Cell, ...]
    durations: tuple[float | None, ...]
    state: State
    consecutive_failures: int
    #: Passed runs / runs, over the commits that ran it (None: none did).
    pass_rate: float | None
    #: Mean duration of the newer half of its runs over the older half, minus 1.
    duration_trend: float | None


@dataclass(frozen=True)
class History:
    selection: str
    commits: tuple[CommitColumn, ...]
    tests: tuple[TestHistory, ...]

    def state_of(self, name: str) -> State | None:
        return next((t.state for t in self.tests if t.name == name), None)


def branch_commits(root: Path, ref: str, last: int) -> list[str]:
    """The last ``last`` commits of ``ref``, newest first (``git log --first-parent``)."""
    proc = cmd.run(
        ["git", "log", "--first-parent", "--format=%H", f"-n{last}", ref, "--"],
        cwd=root,
        capture=True,
        check=False,
        echo=False,
        timeout=60,
    )
    if proc.returncode != 0:
        raise InputError(
            f"git log {ref} failed in {root}: {redact.tail(proc.stderr or '')}",
            hint="run history in a clone of the branch (full history: fetch-depth 0 on CI)",
        )
    return proc.stdout.split()


def cell_of(summary: manifests.ReleaseTestSummary | None, name: str) -> tuple[Cell, float | None]:
    """A test's cell and duration in one run (``none`` when the run did not select it)."""
    if summary is None:
        return "none", None
    if name in summary.missing:
        return "missing", None
    record = next((t for t in summary.tests if t.name == name), None)
    if record is None:
        return "none", None
    if record.exit_code == 0:
        return ("retried" if len(record.attempts) > 1 else "pass"), record.duration_seconds
    return "fail", record.duration_seconds


def state_of(cells: Sequence[Cell], *, jailed: bool = False) -> tuple[State, int]:
    """The state of a test from its cells (oldest first), and its trailing failures."""
    seq = [c for c in cells if c != "none"]
    streak = 0
    for c in reversed(seq):
        if c not in _BAD:
            break
        streak += 1
    if jailed:
        return "jailed", streak
    if not seq:
        return "unknown", 0
    flips = sum(1 for a, b in itertools.pairwise(seq) if (a in _OK) != (b in _OK))
    if "retried" in seq or flips >= 2:
        return "flaky", streak
    if streak:
        return "failing", streak
    return "passing", 0


def _trend(durations: Sequence[float | None]) -> float | None:
    values = [d for d in durations if d is not None]
    if len(values) < 2:
        return None
    half = len(values) // 2
    old = sum(values[:half]) / half
    new = sum(values[half:]) / (len(values) - half)
    return None if old <= 0 else round(new / old - 1, 4)


def build(
    columns: Sequence[tuple[CommitColumn, manifests.ReleaseTestSummary | None]],
    *,
    selection: str,
    jailed: frozenset[str] = frozenset(),
) -> History:
    """The history of every test seen in ``columns`` (oldest commit first)."""
    names = sorted(
        {t.name for _c, s in columns if s is not None for t in s.tests}
        | {n for _c, s in columns if s is not None for n in s.missing}
    )
    tests = []
    for name in names:
        pairs = [cell_of(s, name) for _c, s in columns]
        cells = tuple(c for c, _d in pairs)
        durations = tuple(d for _c, d in pairs)
        state, streak = state_of(cells, jailed=name in jailed)
        ran = [c for c in cells if c != "none"]
        tests.append(
            TestHistory(
                name=name,
                cells=cells,
                durations=durations,
                state=state,
                consecutive_failures=streak,
                pass_rate=round(sum(c in _OK for c in ran) / len(ran), 4) if ran else None,
                duration_trend=_trend(durations),
            )
        )
    return History(selection, tuple(c for c, _s in columns), tuple(tests))


def read(
    root: Path,
    *,
    store: Store | None,
    results_dir: Path | None,
    selection: str,
    last: int,
    ref: str = "HEAD",
    jailed: frozenset[str] = frozenset(),
) -> History:
    """The history of the last ``last`` commits of ``ref`` from the stored runs."""
    columns: list[tuple[CommitColumn, manifests.ReleaseTestSummary | None]] = []
    for sha in reversed(branch_commits(root, ref, last)):
        runs = [
            f for f in find_summaries(sha, results_dir, store) if f.summary.selection == selection
        ]
        if runs:
            latest = runs[-1]
            columns.append((CommitColumn(sha, latest.summary.run_id, latest.where), latest.summary))
        else:
            columns.append((CommitColumn(sha, "", ""), None))
    return build(columns, selection=selection, jailed=jailed)


# --------------------------------------------------------------------------- output


def as_json(history: History) -> str:
    return json.dumps(redact.scrub(asdict(history)), indent=2) + "\n"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.0f}%"


def text_table(history: History) -> str:
    header = ("test", "state", "pass rate", "trend", "cells (oldest → newest)")
    rows = [
        [
            t.name,
            t.state + (f" ({t.consecutive_failures})" if t.state == "failing" else ""),
            "-" if t.pass_rate is None else f"{t.pass_rate * 100:.0f}%",
            _percent(t.duration_trend),
            " ".join(
                {"pass": "P", "retried": "R", "fail": "F", "missing": "M", "none": "."}[c]
                for c in t.cells
            ),
        ]
        for t in history.tests
    ]
    return log.format_table(header, rows) + "\n"


def _sparkline(t: TestHistory, width: int = 160, height: int = 28) -> str:
    """Durations as a small inline SVG: a line through the runs, a dot per cell's color."""
    n = len(t.cells)
    known = [d for d in t.durations if d is not None]
    top = max(known, default=1.0) or 1.0
    step = (width - 8) / max(n - 1, 1)
    points = []
    dots = []
    for i, (cell, d) in enumerate(zip(t.cells, t.durations, strict=True)):
        x = 4 + i * step
        y = height - 4 - (0 if d is None else (height - 8) * d / top)
        if d is not None:
            points.append(f"{x:.1f},{y:.1f}")
        dots.append(
            f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{CELL_COLORS[cell]}">'
            f"<title>{html.escape(cell)}{'' if d is None else f' {d:.2f}s'}</title></circle>"
        )
    line = (
        f'<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="{" ".join(points)}"/>'
        if len(points) > 1
        else ""
    )
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="durations of {html.escape(t.name)}">{line}{"".join(dots)}</svg>'
    )


_CSS = (
    "body{font-family:sans-serif;margin:1.5em;color:#212121}"
    "table{border-collapse:collapse}td,th{border:1px solid #e0e0e0;padding:3px 6px;"
    "font-size:13px}th{background:#f5f5f5}td.cell{color:#fff;text-align:center;"
    "font-size:11px}.state{font-weight:bold}"
)


def html_page(history: History) -> str:
    heads = "".join(
        f'<th title="{html.escape(c.sha)} {html.escape(c.run_id)}">{html.escape(c.sha[:7])}</th>'
        for c in history.commits
    )
    rows = []
    for t in history.tests:
        cells = "".join(
            f'<td class="cell" style="background:{CELL_COLORS[c]}" data-cell="{c}">'
            f"{'' if c == 'none' else html.escape(c)}"
            + ("" if d is None else f"<br>{d:.1f}s")
            + "</td>"
            for c, d in zip(t.cells, t.durations, strict=True)
        )
        rate = "-" if t.pass_rate is None else f"{t.pass_rate * 100:.0f}%"
        rows.append(
            f'<tr class="test-row" data-state="{t.state}"><td>{html.escape(t.name)}</td>'
            f'<td class="state">{t.state}'
            + (f" ({t.consecutive_failures})" if t.state == "failing" else "")
            + f"</td><td>{rate}</td><td>{_percent(t.duration_trend)}</td>"
            f"<td>{_sparkline(t)}</td>{cells}</tr>"
        )
    script = (
        "(function(){var s=document.querySelectorAll('svg.spark');var ok=s.length>0;"
        "for(var i=0;i<s.length;i++){var r=s[i].getBoundingClientRect();"
        "if(!(r.width>0&&r.height>0))ok=false;}"
        "var t=document.getElementById('history');"
        "t.setAttribute('data-rendered',ok?'true':'false');"
        "t.setAttribute('data-charts',String(s.length));})();"
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Release-test history ({html.escape(history.selection)})</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>Release-test history</h1><p>selection {html.escape(history.selection)}, "
        f"{len(history.commits)} commit(s), oldest left</p>"
        '<table id="history"><thead><tr><th>test</th><th>state</th><th>pass rate</th>'
        f"<th>duration trend</th><th>durations</th>{heads}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table><script>{script}</script></body></html>\n"
    )
    return redact.text(page)


# --------------------------------------------------------------------------- command


def _positive(text: str) -> int:
    value = non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: at least 1 commit")
    return value


def _parser() -> argparse.ArgumentParser:
    p = StageParser(
        prog="nox -s release-tests -- history",
        description="Each release test over the last commits of the branch, and its state.",
    )
    p.add_argument("--last", type=_positive, default=10, help="commits (default 10)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--ref", default="HEAD", help="whose commits (default HEAD)")
    p.add_argument(
        "--selection",
        help="which runs (default: [tool.build_support.publish] release_tests_gate)",
    )
    p.add_argument("--store", help="artifact store URL (default: config/BUILD_SUPPORT_STORE)")
    p.add_argument("--results-dir", type=Path, help="local runs (default: the results folder)")
    p.add_argument("--output", type=Path, help="the HTML page (default: <results>/history.html)")
    return p


def jailed_tests(cfg: Config) -> frozenset[str]:
    """Tests whose definition says ``jailed: true`` in the release_tests file."""
    from build_support.releasetests import loader

    path = cfg.path("release_tests")
    if not path.is_file():
        return frozenset()
    return frozenset(t.name for t in loader.load(path).tests if t.definition.get("jailed"))


def main(argv: list[str], cfg: Config) -> int:
    args = _parser().parse_args(argv)
    from build_support import store
    from build_support.publish.settings import PublishSettings
    from build_support.releasetests.cli import settings

    selection = args.selection or cfg.section("publish", PublishSettings).release_tests_gate
    results_dir = args.results_dir or (cfg.root / settings(cfg).results_dir)
    history = read(
        cfg.root,
        store=store.open_store(cfg, args.store),
        results_dir=results_dir,
        selection=selection,
        last=args.last,
        ref=args.ref,
        jailed=jailed_tests(cfg),
    )
    out = args.output or (results_dir / "history.html")
    fsutil.write_atomic(out, html_page(history))
    if args.format == "json":
        print(as_json(history), end="")
    else:
        print(text_table(history), end="")
    counts = {
        s: sum(t.state == s for t in history.tests)
        for s in ("passing", "failing", "flaky", "jailed")
    }
    log.info(
        f"history of {len(history.tests)} test(s) over {len(history.commits)} commit(s): "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
        + f"; HTML: {out}"
    )
    return 0
