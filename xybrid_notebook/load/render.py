"""Static HTML and SVG of a load test (no JavaScript): the curve, the timeline, per-level distributions, the table.

The live view redraws these as levels progress, and `LoadResult._repr_html_` shows the
same at the end, so a saved notebook and nbconvert keep the picture. Each
distribution is an empirical CDF per level, thinned to at most `ECDF_POINTS` points.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np

from ..experiments.render import COLORS, svg_chart
from ..svg import axis_title, fmt_tick, nice_max, nice_ticks, polyline
from .figures import Record, knee_level, request_figures
from .server_metrics import LoadTimeline
from .timeline import split_lines_html, timeline_svg

ECDF_POINTS = 120
Row = Mapping[str, Any]


def ecdf_chart(
    series: Mapping[str, Sequence[float]], title: str, x_label: str, width: int = 360, height: int = 220
) -> str:
    """Empirical CDFs (fraction of samples ≤ x) of several samples, one line each."""
    left, right, top, bottom = 40, 12, 24, 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'style="font:11px sans-serif;background:#fff">',
        f'<text x="{left}" y="14" font-weight="bold">{html.escape(title)}</text>',
    ]
    everything = [v for values in series.values() for v in values]
    if not everything:
        parts.append(f'<text x="{left}" y="{height // 2}" fill="#888">waiting for the first requests…</text>')
        return "".join(parts) + "</svg>"
    x1 = nice_max(float(np.percentile(everything, 99.5)) * 1.05)
    sx = lambda x: left + min(x, x1) / x1 * (width - left - right)  # noqa: E731
    sy = lambda y: top + (1 - y) * (height - top - bottom)  # noqa: E731
    axis_y = height - bottom
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{width - right}" y2="{axis_y}" stroke="#444"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{axis_y}" stroke="#444"/>')
    for t in (0.0, 0.5, 0.9, 1.0):
        parts.append(
            f'<text x="{left - 4}" y="{sy(t) + 4:.1f}" text-anchor="end">{fmt_tick(t)}</text>'
            f'<line x1="{left}" y1="{sy(t):.1f}" x2="{width - right}" y2="{sy(t):.1f}" stroke="#eee"/>'
        )
    for t in nice_ticks(0.0, x1):
        parts.append(f'<text x="{sx(t):.1f}" y="{axis_y + 14}" text-anchor="middle">{fmt_tick(t)}</text>')
    parts.append(axis_title((left + width - right) / 2, height - 6, x_label))
    for i, (name, values) in enumerate(series.items()):
        if not values:
            continue
        color = COLORS[i % len(COLORS)]
        ordered = np.sort(np.asarray(values, dtype=float))
        picks = np.unique(np.linspace(0, ordered.size - 1, min(ECDF_POINTS, ordered.size)).astype(int))
        points = [(sx(float(ordered[k])), sy((k + 1) / ordered.size)) for k in picks]
        parts.append(polyline([(sx(float(ordered[0])), sy(0.0)), *points], f'stroke="{color}" stroke-width="1.5"'))
        parts.append(
            f'<text x="{width - right}" y="{axis_y - 6 - 12 * (len(series) - 1 - i)}" text-anchor="end" '
            f'fill="{color}">{html.escape(name)} (n={ordered.size})</text>'
        )
    return "".join(parts) + "</svg>"


def _measured(records: Sequence[Record]) -> list[Record]:
    return [r for r in records if r.get("outcome") == "ok" and not r.get("warmup")]


def distributions_html(records: Sequence[Record], labels: Sequence[str]) -> str:
    """TTFT and every gap, per level, as empirical CDFs side by side."""
    ttft: dict[str, list[float]] = {}
    gaps: dict[str, list[float]] = {}
    for record in _measured(records):
        label = labels[record["level"]]
        figures = request_figures(record)
        if figures["ttft"] is not None:
            ttft.setdefault(label, []).append(figures["ttft"])
        gaps.setdefault(label, []).extend(np.diff(np.asarray(record.get("offsets_ms") or [], dtype=float)).tolist())
    order = [label for label in labels if label in ttft or label in gaps]
    return ecdf_chart({k: ttft.get(k, []) for k in order}, "TTFT per level", "TTFT (ms)") + ecdf_chart(
        {k: gaps.get(k, []) for k in order}, "Gaps between chunks (ITL) per level", "gap (ms)"
    )


def curve_html(rows: Sequence[Row]) -> str:
    """Output throughput against TTFT p50 and gap p99, one point per level; the knee marked."""
    ttft = [(r["output_tps"], r["ttft_p50_ms"], None) for r in rows if r.get("output_tps") and r.get("ttft_p50_ms")]
    gap = [(r["output_tps"], r["itl_p99_ms"], None) for r in rows if r.get("output_tps") and r.get("itl_p99_ms")]
    knee = knee_level(rows)
    vline = None
    if knee is not None:
        row = next(r for r in rows if r["level"] == knee)
        vline = (float(row["output_tps"]), f"knee: {row['load']}")
    return svg_chart({"TTFT p50": ttft}, "Latency against throughput", "output tok/s", "TTFT p50 (ms)", vline=vline) + (
        svg_chart({"gap p99": gap}, "Gap p99 against throughput", "output tok/s", "gap p99 (ms)", vline=vline)
    )


def _cell(row: Row, key: str, digits: int = 0) -> str:
    value = row.get(key)
    if value is None:
        return "–"
    text = f"{value:,.{digits}f}"
    low, high = row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
    if key.endswith("_ms") and (low is not None or high is not None):
        bounds = f"{'–' if low is None else f'{low:,.{digits}f}'}–{'?' if high is None else f'{high:,.{digits}f}'}"
        return f'<span title="CI95 {bounds}">{text}</span>'
    return text


TABLE = (
    ("load", "load", None),
    ("requests", "requests", 0),
    ("errors", "errors", 0),
    ("req/s", "request_rate", 2),
    ("out tok/s", "output_tps", 1),
    ("TTFT p50", "ttft_p50_ms", 0),
    ("TTFT p99", "ttft_p99_ms", 0),
    ("2nd token p50", "tt2t_p50_ms", 1),
    ("gap p50", "itl_p50_ms", 1),
    ("gap p99", "itl_p99_ms", 1),
    ("TPOT p50", "tpot_p50_ms", 1),
    ("e2e p50", "e2e_p50_ms", 0),
    ("goodput", "goodput_fraction", None),
    ("server decode tok/s", "server_decode_tps_p50", 1),
    ("server cores", "server_cores", 2),
    ("load-gen cores", "loadgen_cores", 2),
    ("other cores", "other_cores", 2),
)


def table_html(rows: Sequence[Row], knee: Optional[int] = None) -> str:
    """One row per level (hover a latency for its CI95); the knee's row in bold."""
    head = "".join(f"<th>{html.escape(title)}</th>" for title, _, _ in TABLE)
    body = []
    for row in rows:
        cells = []
        for _, key, digits in TABLE:
            if key == "load":
                mark = ' <b style="color:#b00" title="see the line below the table">overloaded</b>'
                cells.append(html.escape(str(row["load"])) + (mark if row.get("overloaded") else ""))
            elif key == "goodput_fraction":
                value = row.get(key)
                cells.append("–" if value is None else f"{100 * value:.0f} %")
            else:
                cells.append(_cell(row, key, digits or 0))
        style = ' style="font-weight:bold"' if knee is not None and row["level"] == knee else ""
        body.append(f"<tr{style}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    overloads = "".join(
        f"<div style='color:#b00'>{html.escape(row['overload'])}</div>" for row in rows if row.get("overload")
    )
    return (
        '<table style="font:12px sans-serif;border-collapse:collapse" border="1" cellpadding="3">'
        f"<tr>{head}</tr>{''.join(body)}</table>{overloads}"
    )


def load_html(
    title: str,
    rows: Sequence[Row],
    records: Sequence[Record],
    labels: Sequence[str],
    footnotes: Sequence[str],
    timeline: Optional[LoadTimeline] = None,
) -> str:
    """The static form of a finished load test: curve, timeline, distributions, table, and its footnotes."""
    notes = "".join(f"<div style='color:#555'>{html.escape(line)}</div>" for line in footnotes)
    return (
        f'<div class="xybrid-load-static"><b>{html.escape(title)}</b>'
        f"<div>{curve_html(rows)}</div>{timeline_html(rows, records, labels, timeline)}"
        f"<div>{distributions_html(records, labels)}</div>"
        f"{table_html(rows, knee_level(rows))}{notes}</div>"
    )


def timeline_html(
    rows: Sequence[Row],
    records: Sequence[Record],
    labels: Sequence[str],
    timeline: Optional[LoadTimeline],
    max_bars: int = 400,
    hover: bool = True,
) -> str:
    """Each level's one line of where its time went, over the timeline of requests and the server's state."""
    if timeline is None:
        return ""
    return f"{split_lines_html(rows)}<div>{timeline_svg(records, timeline, labels, max_bars, hover)}</div>"
