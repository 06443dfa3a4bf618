"""The static form of a finished run: HTML with its text, an SVG latency chart and the stats.

It needs no kernel and no JavaScript: it is what a saved notebook, `nbconvert --to html`
or a notebook reopened without its kernel shows. It keeps where the time went: the
one-line split, and with `breakdown` the gaps stacked by phase with the stalls marked.
In a page where the run view's module is loaded, a two-line script swaps the SVG for an
interactive plotly chart (markers and hover text, a "by phase" toggle) drawn from the
same numbers, carried in a small JSON block.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from ..gap_shading import (
    GAP_DECIMALS,
    SHADE_MAX_ALPHA,
    SHADE_RGB,
    ChunkTiming,
    GapScale,
    chunk_timings,
    preview,
    slowest_of,
)
from ..live import PlotData, thin_points
from ..svg import axis_title, chunk_axis, fmt_tick, nice_max, polyline, svg_root
from ..types import GenerationOutput
from .phase_chart import phase_page_data, phases_line_html, svg_phase_chart
from .stats import stats_items

GAP_COLOR, RATE_COLOR, COMPARE_COLOR = "#1f77b4", "#ff7f0e", "#8c8c8c"
WIDTH, HEIGHT = 760, 250
LEFT, RIGHT, TOP, BOTTOM = 58, 58, 30, 38
SVG_POINTS = 760  # at most one point per horizontal pixel; bucket maxima keep the spikes
STATS_STYLE = "display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;padding:4px 2px"
TEXT_STYLE = (
    "white-space:pre-wrap;word-break:break-word;font-family:var(--jp-code-font-family,monospace);"
    "font-size:13px;line-height:1.45;margin:0;padding:8px;max-height:320px;overflow-y:auto;"
    "border:1px solid var(--jp-border-color2,#ddd);border-radius:4px"
)
FIRST_CHUNK_STYLE = "text-decoration:underline dotted #888"
RUN_ID = re.compile(r"[0-9a-f]{8,64}")  # it goes into element ids and links as it is
UPGRADE_SCRIPT = (  # upgrade now, or once an xybrid module loads in this page (a reopened notebook)
    "<script>(function(s){var r=s&&s.closest('.xybrid-run'),x=globalThis.__xybrid;if(x&&x.upgrade)x.upgrade(r);"
    "else(globalThis.__xybridPending=globalThis.__xybridPending||[]).push(r);})(document.currentScript)</script>"
)


def stats_html(items: Sequence[tuple[str, str]], note: Optional[str] = None) -> str:
    """The stats row: each figure with its label, in a wrapping row; the optional note below it."""
    cells = "".join(
        f'<span class="xybrid-stat" data-label="{html.escape(label)}"><b>{html.escape(label)}</b> '
        f'<span class="xybrid-value">{html.escape(value)}</span></span>'
        for label, value in items
    )
    extra = f'<div class="xybrid-note" style="font-size:12px;color:#666">{html.escape(note)}</div>' if note else ""
    return f'<div class="xybrid-stats" style="{STATS_STYLE}">{cells}</div>{extra}'


def _polyline(x: np.ndarray, y: np.ndarray, x_max: float, y_max: float, style: str) -> str:
    if x.size == 0:
        return ""
    keep = thin_points(x.size, SVG_POINTS, y)
    px = LEFT + x[keep] / x_max * (WIDTH - LEFT - RIGHT)
    py = HEIGHT - BOTTOM - np.clip(y[keep], 0, y_max) / y_max * (HEIGHT - TOP - BOTTOM)
    return polyline(zip(px.tolist(), py.tolist()), style)


def svg_chart(plot: PlotData, previous: Optional[PlotData] = None) -> str:
    """Inter-chunk gaps (left axis) and the running decode rate (right axis) as a small inline SVG."""
    rates = np.nan_to_num(plot.decode_tps, nan=0.0)
    x_max = max([1.0] + [float(p.index.max()) for p in (plot, previous) if p is not None and p.index.size])
    gap_max = nice_max(
        max([0.0] + [float(p.gap_ms.max()) for p in (plot, previous) if p is not None and p.gap_ms.size])
    )
    rate_max = nice_max(float(rates.max()) if rates.size else 0.0)
    inner_h = HEIGHT - TOP - BOTTOM
    parts = [svg_root(WIDTH, HEIGHT, "inter-chunk latency and decode rate per chunk")]
    for i in range(5):
        y = TOP + inner_h * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        parts.append(
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" fill="{GAP_COLOR}">'
            f"{fmt_tick(gap_max * (4 - i) / 4)}</text>"
        )
        parts.append(
            f'<text x="{WIDTH - RIGHT + 4}" y="{y + 4:.1f}" fill="{RATE_COLOR}">'
            f"{fmt_tick(rate_max * (4 - i) / 4)}</text>"
        )
    parts += chunk_axis(LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, HEIGHT, x_max)
    parts.append(axis_title(12, TOP + inner_h / 2, "inter-chunk latency (ms)", -90))
    parts.append(axis_title(WIDTH - 8, TOP + inner_h / 2, "decode (tokens/s)", 90))
    ttft = "TTFT –" if plot.ttft_ms is None else f"TTFT {plot.ttft_ms:.1f} ms"
    parts.append(f'<text x="{WIDTH - RIGHT}" y="16" text-anchor="end" font-size="12">{ttft}</text>')
    legend = [("inter-chunk gap", GAP_COLOR), ("decode tok/s (running)", RATE_COLOR)]
    if previous is not None:
        legend.append(("previous run", COMPARE_COLOR))
    x: float = LEFT
    for label, color in legend:
        parts.append(
            f'<line x1="{x}" x2="{x + 16}" y1="12" y2="12" stroke="{color}" stroke-width="2"/>'
            f'<text x="{x + 20}" y="16">{label}</text>'
        )
        x += 30 + 6.5 * len(label)
    if previous is not None:
        parts.append(
            _polyline(previous.index, previous.gap_ms, x_max, gap_max, f'stroke="{COMPARE_COLOR}" stroke-width="1"')
        )
    parts.append(_polyline(plot.index, plot.gap_ms, x_max, gap_max, f'stroke="{GAP_COLOR}" stroke-width="1"'))
    parts.append(_polyline(plot.index, rates, x_max, rate_max, f'stroke="{RATE_COLOR}" stroke-width="2"'))
    parts.append("</svg>")
    return "".join(parts)


def chart_data(plot: PlotData, previous: Optional[PlotData] = None) -> dict[str, Any]:
    """The numbers behind the chart, rounded for the page (the exact ones are in `GenerationOutput`)."""
    data: dict[str, Any] = {
        "x": [int(v) for v in plot.index],
        "gap": [round(float(v), 2) for v in plot.gap_ms],
        "rate": [round(float(v), 1) if np.isfinite(v) else None for v in plot.decode_tps],
        "ttft": plot.ttft_ms,
    }
    if previous is not None:
        data["cmp_x"] = [int(v) for v in previous.index]
        data["cmp_gap"] = [round(float(v), 2) for v in previous.gap_ms]
    return data


def _json_for_script(value: Any) -> str:
    """JSON that cannot end or open anything inside a <script> element (no raw <, > or &)."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def static_html(
    output: GenerationOutput,
    plot: Optional[PlotData],
    title: str = "",
    previous: Optional[PlotData] = None,
    color_gaps: bool = False,
    run_id: Optional[str] = None,
    breakdown: bool = False,
) -> str:
    """The finished run as self-contained HTML: header, text (a span per chunk, shaded by gap
    if `color_gaps`), the slowest chunks, chart (if `plot`; with `breakdown`, each gap stacked
    by phase with the stalls marked), stats and where the time went."""
    run_id = run_id if run_id and RUN_ID.fullmatch(run_id) else uuid.uuid4().hex
    parts = [f'<div class="xybrid-run xybrid-static" data-run="{html.escape(run_id)}">']
    if title:
        parts.append(f'<div class="xybrid-header" style="font-size:12px;color:#666">{html.escape(title)}</div>')
    chunks = chunk_timings(output)
    parts.append(chunks_html(output, chunks, color_gaps, run_id))
    if plot is not None:
        phase_svg = svg_phase_chart(output) if breakdown else None
        parts.append(f'<div class="xybrid-chart">{phase_svg or svg_chart(plot, previous)}</div>')
    data = {**page_data(chunks, plot, previous), **phase_page_data(output, breakdown)}
    parts.append(f'<script type="application/json" class="xybrid-data">{_json_for_script(data)}</script>')
    parts.append(stats_html(stats_items(output), output.interference_note))
    parts.append(phases_line_html(output))
    parts.append(UPGRADE_SCRIPT)
    parts.append("</div>")
    return "".join(parts)


def page_data(chunks: Sequence[ChunkTiming], plot: Optional[PlotData], previous: Optional[PlotData]) -> dict[str, Any]:
    """What the page's script needs beyond the HTML: the chart's numbers, each chunk's offset and tokens."""
    data = chart_data(plot, previous) if plot is not None else {}
    data["offset"] = [round(chunk.offset_ms, 1) for chunk in chunks]
    if any(chunk.tokens != 1 for chunk in chunks):
        data["tokens"] = [chunk.tokens for chunk in chunks]
    return data


def chunks_html(output: GenerationOutput, chunks: Sequence[ChunkTiming], color_gaps: bool, run_id: str) -> str:
    """The run's text, a span per chunk with its gap; the legend (if shaded) and the slowest chunks around it."""
    if not chunks:
        return f'<pre class="xybrid-stream" style="{TEXT_STYLE}">{html.escape(output.text)}</pre>'
    scale = GapScale.of(output)
    slowest = slowest_of(chunks)
    anchors = {chunk.index for chunk in slowest}
    # full precision: the page's legend rounds them itself, and must round them as the HTML legend does
    scale_attrs = f' data-p50-ms="{scale.p50_ms!r}" data-p95-ms="{scale.p95_ms!r}"' if scale else ""
    shaded_class = " xybrid-shaded" if color_gaps else ""
    spans = "".join(
        _chunk_span(chunk, scale, color_gaps, run_id if chunk.index in anchors else None) for chunk in chunks
    )
    text = f'<pre class="xybrid-stream{shaded_class}"{scale_attrs} style="{TEXT_STYLE}">{spans}</pre>'
    legend = legend_html(scale) if color_gaps and scale else ""
    return legend + text + slowest_html(slowest, run_id)


def chunk_anchor(run_id: str, index: int) -> str:
    """The element id of a chunk (given only to the slowest ones, which the list links to)."""
    return f"xybrid-{run_id[:12]}-c{index}"


def _chunk_span(chunk: ChunkTiming, scale: Optional[GapScale], shaded: bool, anchor_run: Optional[str]) -> str:
    gap = f"{chunk.gap_ms:.{GAP_DECIMALS}f}"
    gap_attr = f'data-ttft-ms="{gap}"' if chunk.is_first else f'data-gap-ms="{gap}"'
    anchor = f' id="{chunk_anchor(anchor_run, chunk.index)}"' if anchor_run else ""
    style = _chunk_style(chunk, scale) if shaded else ""
    style_attr = f' style="{style}"' if style else ""
    return (
        f'<span class="xybrid-chunk" data-index="{chunk.index}" {gap_attr}{anchor}{style_attr}>'
        f"{html.escape(chunk.text)}</span>"
    )


def _chunk_style(chunk: ChunkTiming, scale: Optional[GapScale]) -> str:
    if chunk.is_first:
        return FIRST_CHUNK_STYLE
    background = scale.css_background(chunk.shown_gap_ms) if scale else None
    return f"background:{background}" if background else ""


def legend_html(scale: GapScale) -> str:
    """The shading's legend: a gradient from neutral (p50) to the strongest colour (p95 and above)."""
    r, g, b = SHADE_RGB
    bar = (
        "display:inline-block;width:64px;height:10px;vertical-align:middle;border:1px solid #ccc;"
        f"background:linear-gradient(to right,rgba({r},{g},{b},0),rgba({r},{g},{b},{SHADE_MAX_ALPHA}))"
    )
    return (
        f'<div class="xybrid-legend" style="font-size:12px;color:#666;padding:2px 0">'
        f'p50 {scale.p50_ms:.1f} ms <span style="{bar}"></span> p95 {scale.p95_ms:.1f} ms · '
        "each chunk shaded by the gap before it; the first chunk (its TTFT) is underlined</div>"
    )


def slowest_html(slowest: Sequence[ChunkTiming], run_id: str) -> str:
    """The slowest chunks as a one-click list (an HTML `details`), each a link to its chunk in the text."""
    if not slowest:
        return ""
    items = "".join(
        f'<li><a href="#{chunk_anchor(run_id, chunk.index)}" data-index="{chunk.index}">{chunk.gap_ms:.1f} ms</a>'
        f" · chunk {chunk.index} · <code>{html.escape(preview(chunk.text))}</code></li>"
        for chunk in slowest
    )
    return (
        f'<details class="xybrid-slowest" style="font-size:12px;margin:2px 0">'
        f"<summary>slowest {len(slowest)} chunks</summary>"
        f'<ol style="margin:2px 0;padding-left:28px">{items}</ol></details>'
    )


def summary_text(output: GenerationOutput) -> str:
    """The text/plain form: the run's one-line summary (which names any interference), and where the time went."""
    line = output.where_time_went
    return "xybrid: " + output.summary() + (f"\nwhere the time went: {line}" if line else "")
