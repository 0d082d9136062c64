"""Reports of a release-test run: JUnit XML, a JSON summary, a self-contained HTML page.

JUnit: one ``testcase`` per test; every attempt is a ``property`` and, when a test
passed only on retry, a ``flakyFailure`` element (the Maven Surefire convention that
Buildkite and Jenkins understand), so retries stay visible. HTML: a table (status,
attempts, duration, exit class) and an inline SVG bar chart of durations, no external
resources; a tiny inline script marks the chart ``data-rendered`` once laid out.
"""

from __future__ import annotations

import dataclasses
import html
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from build_support import fsutil, manifests, redact
from build_support.releasetests.exitcodes import code_class, code_name
from build_support.releasetests.results import AttemptResult, ReleaseTestResult

#: A message in a report keeps its end: a tail of each stream plus a line of context.
MESSAGE_LIMIT = 2 * redact.TAIL_BYTES

_STATUS_COLORS = {
    "success": "#2e7d32",
    "runtime_error": "#c62828",
    "infra_error": "#6a1b9a",
    "transient_infra_error": "#8e24aa",
    "infra_timeout": "#ad1457",
    "error": "#d84315",
    "timeout": "#ef6c00",
    "unknown": "#616161",
}


def summary_record(
    results: Sequence[ReleaseTestResult], meta: Mapping[str, Any]
) -> manifests.ReleaseTestSummary:
    """The typed summary: run metadata, counts per status, and every test's result."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    run: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in meta.items()}
    return manifests.ReleaseTestSummary(
        **run,
        total=len(results),
        passed=sum(1 for r in results if r.exit_code == 0),
        failed=sum(1 for r in results if r.exit_code != 0),
        flaky=sum(1 for r in results if r.flaky),
        by_status=counts,
        tests=tuple(r.record() for r in results),
    )


def summary(results: Sequence[ReleaseTestResult], meta: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON summary (``summary.json``) as written."""
    return manifests.dump(summary_record(results, meta))


def junit_xml(results: Sequence[ReleaseTestResult], *, suite: str = "release-tests") -> str:
    failures = sum(1 for r in results if r.exit_code != 0 and r.status != "timeout")
    errors = sum(1 for r in results if r.status == "timeout")
    root = ET.Element(
        "testsuites",
        name=suite,
        tests=str(len(results)),
        failures=str(failures),
        errors=str(errors),
        time=f"{sum(r.duration for r in results):.3f}",
    )
    ts = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{sum(r.duration for r in results):.3f}",
    )
    for r in results:
        case = ET.SubElement(
            ts,
            "testcase",
            classname=f"{suite}.{r.group or 'default'}",
            name=r.name,
            time=f"{r.duration:.3f}",
        )
        props = ET.SubElement(case, "properties")
        for key, value in (
            ("attempts", str(len(r.attempts))),
            ("status", r.status),
            ("exit_code", str(r.exit_code)),
            ("exit_class", code_class(r.exit_code)),
            ("python", r.python),
            ("smoke", str(r.smoke).lower()),
            ("team", r.team),
            ("frequency", r.frequency),
            *((("reused_from", r.reused_from),) if r.reused_from else ()),
        ):
            ET.SubElement(props, "property", name=key, value=value)
        for a in r.attempts:
            ET.SubElement(
                props,
                "property",
                name=f"attempt.{a.attempt}",
                value=f"{a.status} exit={a.exit_code} ({code_name(a.exit_code)}) {a.duration:.3f}s",
            )
        earlier = r.attempts[:-1] if r.exit_code == 0 else []
        for a in earlier:
            flaky = ET.SubElement(
                case,
                "flakyFailure",
                message=f"attempt {a.attempt}: {a.status} (exit {a.exit_code})",
                type=code_name(a.exit_code),
            )
            flaky.text = a.message
        if r.exit_code != 0:
            tag = "error" if r.status == "timeout" else "failure"
            el = ET.SubElement(
                case,
                tag,
                message=f"{r.status}: exit {r.exit_code} {code_name(r.exit_code)} "
                f"({code_class(r.exit_code)}) after {len(r.attempts)} attempt(s)",
                type=code_name(r.exit_code),
            )
            el.text = "\n".join(f"attempt {a.attempt}: {a.message}" for a in r.attempts)
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(
            f"attempt {a.attempt}: {a.status} exit={a.exit_code} {a.duration:.3f}s "
            f"-> {a.directory}"
            + (f" (then waited {a.backoff_seconds:.1f}s)" if a.backoff_seconds else "")
            for a in r.attempts
        )
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _chart(results: Sequence[ReleaseTestResult]) -> str:
    """A horizontal bar chart of durations (one bar per attempt, stacked per test)."""
    bar_h, gap, label_w, width = 22, 8, 260, 900
    plot_w = width - label_w - 80
    longest = max([r.duration for r in results] + [0.001])
    height = max(1, len(results)) * (bar_h + gap) + 40
    parts = [
        (
            f'<svg id="duration-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
            'aria-label="Durations of release tests">'
        )
    ]
    for i, r in enumerate(results):
        y = 10 + i * (bar_h + gap)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end" '
            f'font-size="13">{html.escape(r.name)}</text>'
        )
        x = float(label_w)
        for a in r.attempts:
            w = max(2.0, plot_w * (a.duration + a.prepare_duration) / longest)
            color = _STATUS_COLORS.get(a.status, "#616161")
            parts.append(
                f'<rect class="bar" data-test="{html.escape(r.name)}" '
                f'data-attempt="{a.attempt}" x="{x:.1f}" y="{y}" width="{w:.1f}" '
                f'height="{bar_h}" fill="{color}" stroke="#fff">'
                f"<title>{html.escape(r.name)} attempt {a.attempt}: {a.status}, "
                f"{a.duration:.2f}s</title></rect>"
            )
            x += w
        parts.append(
            f'<text x="{x + 6:.1f}" y="{y + bar_h * 0.7:.1f}" font-size="12">'
            f"{r.duration:.2f}s</text>"
        )
    axis_y = height - 20
    parts.append(
        f'<line x1="{label_w}" y1="{axis_y}" x2="{label_w + plot_w}" y2="{axis_y}" stroke="#999"/>'
    )
    parts.append(
        f'<text x="{label_w + plot_w}" y="{axis_y + 15}" text-anchor="end" font-size="11">'
        f"{longest:.2f}s</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:22px;margin:0 0 4px} .meta{color:#555;margin-bottom:16px}
.cards{display:flex;gap:12px;margin:12px 0 20px}
.card{padding:10px 16px;border-radius:8px;background:#f3f4f6;min-width:90px}
.card b{display:block;font-size:22px}
table{border-collapse:collapse;width:100%;margin-bottom:24px;font-size:14px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e5e7eb}
th{background:#f9fafb} td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{color:#fff;border-radius:10px;padding:2px 8px;font-size:12px;white-space:nowrap}
.msg{color:#555;font-size:12px;max-width:420px}
"""


def _exit_status(meta: Mapping[str, Any]) -> object:
    code = meta.get("exit_code", "")
    return "error" if code is None else code


def html_report(results: Sequence[ReleaseTestResult], meta: Mapping[str, Any]) -> str:
    rows = []
    for r in results:
        color = _STATUS_COLORS.get(r.status, "#616161")
        tries = " → ".join(f"{a.status} ({a.exit_code})" for a in r.attempts)
        rows.append(
            f'<tr class="test-row" data-status="{html.escape(r.status)}">'
            f"<td>{html.escape(r.name)}</td>"
            f'<td><span class="badge" style="background:{color}">{html.escape(r.status)}'
            "</span>"
            + (" <small>(flaky)</small>" if r.flaky else "")
            + (
                f" <small>(reused from run {html.escape(r.reused_from)})</small>"
                if r.reused_from
                else ""
            )
            + "</td>"
            f'<td class="num">{len(r.attempts)}</td>'
            f'<td class="num">{r.duration:.2f}s</td>'
            f"<td>{r.exit_code} {html.escape(code_name(r.exit_code))}<br>"
            f"<small>{html.escape(code_class(r.exit_code))}</small></td>"
            f"<td>{html.escape(tries)}</td>"
            f"<td>{html.escape(r.python)}{' smoke' if r.smoke else ''}</td>"
            f'<td class="msg">{html.escape(r.final.message[:300])}</td></tr>'
        )
    passed = sum(1 for r in results if r.exit_code == 0)
    cards = "".join(
        f'<div class="card"><b>{value}</b>{label}</div>'
        for label, value in (
            ("tests", len(results)),
            ("passed", passed),
            ("failed", len(results) - passed),
            ("flaky", sum(1 for r in results if r.flaky)),
            ("exit status", _exit_status(meta)),
        )
    )
    meta_line = " · ".join(
        f"{html.escape(str(k))}: {html.escape(str(v))}"
        for k, v in meta.items()
        if k in ("run_id", "commit", "branch", "started_at", "smoke")
    )
    script = (
        "(function(){var s=document.getElementById('duration-chart');"
        "var r=s.getBoundingClientRect();var n=s.querySelectorAll('rect.bar').length;"
        "if(r.width>0&&r.height>0){s.setAttribute('data-rendered','true');"
        "s.setAttribute('data-bars',String(n));"
        "s.setAttribute('data-size',Math.round(r.width)+'x'+Math.round(r.height));}})();"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Release tests {html.escape(str(meta.get('run_id', '')))}</title>"
        f"<style>{_CSS}</style></head><body>"
        f'<h1>Release tests</h1><div class="meta">{meta_line}</div>'
        f'<div class="cards">{cards}</div>'
        '<table id="results"><thead><tr><th>test</th><th>status</th><th>attempts</th>'
        "<th>duration</th><th>exit class</th><th>tries</th><th>python</th><th>message</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"<h2>Durations</h2>{_chart(results)}"
        f"<script>{script}</script></body></html>\n"
    )


def _clean_attempt(a: AttemptResult, red: redact.Redactor) -> AttemptResult:
    message = a.message
    if len(message) > MESSAGE_LIMIT:
        message = "[…] " + message[-MESSAGE_LIMIT:]
    return dataclasses.replace(
        a,
        message=red.text(message),
        directory=red.text(a.directory),
        artifacts=[red.text(x) for x in a.artifacts],
    )


def redacted(results: Sequence[ReleaseTestResult]) -> list[ReleaseTestResult]:
    """Copies of ``results`` whose texts went through :mod:`redact` and are capped."""
    red = redact.current()
    out = []
    for r in results:
        texts: dict[str, Any] = {
            f.name: red.text(getattr(r, f.name))
            for f in dataclasses.fields(r)
            if isinstance(getattr(r, f.name), str)
        }
        out.append(
            dataclasses.replace(r, **texts, attempts=[_clean_attempt(a, red) for a in r.attempts])
        )
    return out


def write_reports(
    results: Sequence[ReleaseTestResult], meta: Mapping[str, Any], run_dir: Path
) -> dict[str, Path]:
    """``report.xml``, ``summary.json`` and ``report.html`` in ``run_dir``, redacted."""
    results = redacted(results)
    meta = redact.scrub(dict(meta))
    paths = {
        "junit": run_dir / "report.xml",
        "summary": manifests.release_summary_path(run_dir),
        "html": run_dir / "report.html",
    }
    fsutil.write_atomic(paths["junit"], junit_xml(results))
    manifests.write(paths["summary"], summary_record(results, meta))
    fsutil.write_atomic(paths["html"], html_report(results, meta))
    return paths
