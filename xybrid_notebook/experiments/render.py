"""Static HTML and SVG of experiment results, from plain rows and points (no widgets, no JavaScript).

A chart is inline SVG drawn here (a few kB): means as points joined per series,
CI95 as error bars. Results call these from `_repr_html_`, and the live views
reuse them, so a saved notebook and the live page show the same thing.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from ..svg import axis_title, fmt_tick, nice_ticks, polyline
from .measures import COLUMNS
from .params import NUMERIC, PARAMETERS

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")
#: The figures the sweep table shows after the configuration columns: the row's, less SDs and raw samples.
TABLE_COLUMNS = tuple(c for c in COLUMNS if c not in PARAMETERS and not c.endswith("_sd") and c != "samples")
#: Configuration columns the table always shows; others only when swept.
SHOWN_PARAMETERS = ("backend", "model", "threads", "n_prompt", "n_gen", "depth")
Point = tuple[float, float, Optional[float]]
Row = Mapping[str, Any]


def svg_chart(
    series: Mapping[str, Sequence[Point]],
    title: str,
    x_label: str,
    y_label: str,
    *,
    width: int = 360,
    height: int = 220,
    vline: Optional[tuple[float, str]] = None,
) -> str:
    """Points (x, mean, CI95 half-width or None) per series, joined by lines, with error bars."""
    points = [p for values in series.values() for p in values]
    left, right, top, bottom = 52, 12, 24, 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'style="font:11px sans-serif;background:#fff">',
        f'<text x="{left}" y="14" font-weight="bold">{html.escape(title)}</text>',
    ]
    if not points:
        parts.append(f'<text x="{left}" y="{height // 2}" fill="#888">waiting for the first configuration…</text>')
        return "".join(parts) + "</svg>"
    xs = [p[0] for p in points] + ([vline[0]] if vline else [])
    lows = [p[1] - (p[2] or 0) for p in points]
    highs = [p[1] + (p[2] or 0) for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(0.0, min(lows)), max(highs) * 1.05 or 1.0
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    sx = lambda x: left + (x - x0) / (x1 - x0) * (width - left - right)  # noqa: E731
    sy = lambda y: top + (1 - (y - y0) / (y1 - y0)) * (height - top - bottom)  # noqa: E731
    axis_y = height - bottom
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{width - right}" y2="{axis_y}" stroke="#444"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{axis_y}" stroke="#444"/>')
    for t in nice_ticks(y0, y1):
        parts.append(
            f'<text x="{left - 4}" y="{sy(t) + 4:.1f}" text-anchor="end">{fmt_tick(t)}</text>'
            f'<line x1="{left}" y1="{sy(t):.1f}" x2="{width - right}" y2="{sy(t):.1f}" stroke="#eee"/>'
        )
    for t in sorted({p[0] for p in points}) if len({p[0] for p in points}) <= 8 else nice_ticks(x0, x1):
        parts.append(f'<text x="{sx(t):.1f}" y="{axis_y + 14}" text-anchor="middle">{fmt_tick(t)}</text>')
    parts.append(axis_title((left + width - right) / 2, height - 6, x_label))
    parts.append(axis_title(12, (top + axis_y) / 2, y_label, -90))
    if vline is not None:
        x = sx(vline[0])
        label = html.escape(vline[1])
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{axis_y}" stroke="#999" stroke-dasharray="4 3"/>'
            f'<text x="{x - 3:.1f}" y="{top + 10}" text-anchor="end" fill="#666">{label}</text>'
        )
    for i, (name, values) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        ordered = sorted(values)
        if len(ordered) > 1:
            parts.append(polyline(((sx(x), sy(y)) for x, y, _ in ordered), f'stroke="{color}" stroke-width="1.5"'))
        for x, y, ci in ordered:
            if ci:
                parts.append(
                    f'<line x1="{sx(x):.1f}" y1="{sy(y - ci):.1f}" x2="{sx(x):.1f}" y2="{sy(y + ci):.1f}" '
                    f'stroke="{color}"/>'
                )
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>')
        if len(series) > 1 or name:
            parts.append(
                f'<text x="{width - right}" y="{top + 12 * (i + 1)}" text-anchor="end" fill="{color}">'
                f"{html.escape(name)}</text>"
            )
    return "".join(parts) + "</svg>"


# -- a sweep as charts and a table ------------------------------------------------------------------
def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def sweep_series(rows: Sequence[Row], swept: Sequence[str], figure: str) -> tuple[str, dict[str, list[Point]]]:
    """(x label, series) of one figure's means and CI95: x = the first numeric swept parameter."""
    x_name = next((name for name in swept if name in NUMERIC), None)
    others = [name for name in swept if name != x_name]
    series: dict[str, list[Point]] = {}
    for index, row in enumerate(rows):
        mean = row.get(f"{figure}_mean")
        if mean is None or _missing(mean):
            continue
        key = ", ".join(f"{name}={row[name]}" for name in others)
        x = float(row[x_name]) if x_name else float(index + 1)
        ci = row.get(f"{figure}_ci95")
        series.setdefault(key, []).append((x, float(mean), None if ci is None or _missing(ci) else float(ci)))
    return (x_name or "configuration"), series


def sweep_charts_html(rows: Sequence[Row], swept: Sequence[str]) -> str:
    """pp and tg means with CI95 error bars, side by side."""
    charts = []
    for figure, title in (("pp_tps", "prompt processing"), ("tg_tps", "token generation")):
        x_label, series = sweep_series(rows, swept, figure)
        if series or not rows:
            charts.append(svg_chart(series, title, x_label, "tokens/s"))
    return '<div style="display:flex;gap:8px;flex-wrap:wrap">' + "".join(charts) + "</div>"


def sweep_table_html(rows: Sequence[Row], swept: Sequence[str]) -> str:
    """The configuration columns that vary (and the usual ones), and the figures, without the raw samples."""
    keep = [*SHOWN_PARAMETERS, *(name for name in swept if name not in SHOWN_PARAMETERS), *TABLE_COLUMNS]
    return table_html([{name: row.get(name) for name in keep} for row in rows], keep)


def table_html(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """Rows as an HTML table: numbers to three significant digits, a missing value as "–"."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows)
    thead = f'<thead><tr style="text-align:right">{head}</tr></thead>'
    return f'<table class="xybrid-table">{thead}<tbody>{body}</tbody></table>'


def _cell(value: Any) -> str:
    if _missing(value):
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}"
    return html.escape(str(value))


def sweep_result_html(rows: Sequence[Row], swept: Sequence[str], planned: int, stopped: bool) -> str:
    """A finished sweep: status line, charts, table."""
    status = f"{len(rows)}/{planned} configuration(s)" + (" — stopped early" if stopped else "")
    charts, table = sweep_charts_html(rows, swept), sweep_table_html(rows, swept)
    return f"<div><b>sweep</b>: {html.escape(status)}{charts}{table}</div>"


def compare_result_html(verdict: str, labels: tuple[str, str], rows: Sequence[Row], stopped: bool) -> str:
    """The verdict in words, what A and B are, and the per-metric table."""
    columns = [c for c in (rows[0] if rows else {}) if c != "verdict"]
    table = table_html(rows, columns)
    a, b = (html.escape(label) for label in labels)
    return f"<div><b>{html.escape(verdict)}</b><br>A: {a}<br>B: {b}{' (stopped early)' if stopped else ''}{table}</div>"


def depth_curve_svg(points: Sequence[Point], context_length: Optional[int], source: str) -> str:
    """Decode ms per token against KV position, the context size marked by a dashed line."""
    vline = (float(context_length), f"context {context_length}") if context_length else None
    if vline and points and vline[0] > 8 * max(p[0] for p in points):
        vline = None  # far off to the right: marking it would squash the curve flat
    title = f"decode time per token vs KV position ({source})"
    if context_length and vline is None:
        title += f"; context {context_length}"
    return svg_chart({"": list(points)}, title, "KV position (tokens)", "ms / token", width=480, vline=vline)
