"""Where a finished run's time went, for its static form: the one-line split, the phases as stacked
bars per chunk (an inline SVG), the stalls marked with who ran then, and the numbers the page's
script draws its interactive chart and hover cards from.

Views only draw `GenerationOutput.phases_ms` and `stalls`; nothing here measures anything.
"""

from __future__ import annotations

import html
from typing import Any, Optional

import numpy as np

from ..live import thin_points
from ..svg import axis_title, chunk_axis, fmt_tick, nice_max, svg_root
from ..types import GenerationOutput, others_text

PHASE_COLORS = {
    "prepare": "#9467bd",
    "prefill": "#8c564b",
    "decode": "#1f77b4",
    "engine": "#1f77b4",
    "sample": "#2ca02c",
    "text": "#bcbd22",
    "connect": "#e377c2",
    "send": "#17becf",
    "wait": "#7f7f7f",
    "server_queue": "#d62728",
    "server_prefill": "#8c564b",
    "server_decode": "#1f77b4",
    "transport": "#7f7f7f",
    "client": "#ff7f0e",
}
STALL_COLOR = "#d62728"
WIDTH, HEIGHT = 760, 250
LEFT, RIGHT, TOP, BOTTOM = 58, 20, 30, 38
SVG_BARS = 380  # at most one bar per two pixels; the chunks kept are the slowest of their buckets


def phase_color(name: str) -> str:
    """The colour a phase has in every chart."""
    return PHASE_COLORS.get(name, "#999999")


def phases_line_html(output: GenerationOutput) -> str:
    """ "where the time went: …" under the stats, or "" where the run kept no phases."""
    line = output.where_time_went
    if not line:
        return ""
    return (
        '<div class="xybrid-phases" style="font-size:12px;color:#444;padding:2px">'
        f"<b>where the time went</b> {html.escape(line)}</div>"
    )


def stall_text(stall: dict[str, Any]) -> str:
    """One stall in words: its chunk, gap, the engine's CPU share and who ran then."""
    who = others_text(stall["others"], limit=3)
    return (
        f"stall at chunk {stall['index']}: gap {stall['gap_ms']:.1f} ms, the engine got "
        f"{100 * stall['cpu_share']:.0f} % of its CPU" + (f"; {who}" if who else "; nobody else seen")
    )


def phase_page_data(output: GenerationOutput, breakdown: bool) -> dict[str, Any]:
    """The phases per chunk (ms, rounded) and the stalls, for the page's chart and hover cards."""
    if not output.phases_ms:
        return {}
    return {
        "phases": {name: [round(v, 2) for v in values] for name, values in output.phases_ms.items()},
        "stalls": [{"index": s["index"], "text": stall_text(s)} for s in output.stalls],
        "breakdown": breakdown,
    }


def svg_phase_chart(output: GenerationOutput) -> Optional[str]:
    """Each gap (chunks after the first) as a bar stacked by phase, stalls marked with a red triangle
    whose title names who ran; None where the run has no phases or fewer than two chunks."""
    phases = {name: np.asarray(values[1:], dtype=np.float64) for name, values in output.phases_ms.items()}
    if not phases or not next(iter(phases.values())).size:
        return None
    total = np.sum([np.clip(v, 0, None) for v in phases.values()], axis=0)
    keep = thin_points(total.size, SVG_BARS, total)
    y_max = nice_max(float(total[keep].max()))
    x_max = float(total.size)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bar_w = max(inner_w / max(len(keep), 1) * 0.8, 0.6)
    parts = [svg_root(WIDTH, HEIGHT, "each gap stacked by phase", "xybrid-svg xybrid-phase-svg")]
    for i in range(5):
        y = TOP + inner_h * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{fmt_tick(y_max * (4 - i) / 4)}</text>')
    parts += chunk_axis(LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, HEIGHT, x_max)
    parts.append(axis_title(12, TOP + inner_h / 2, "gap by phase (ms)", -90))
    parts.append(_legend(list(phases)))
    scale = inner_h / y_max
    for name, values in phases.items():
        color = phase_color(name)
        below = np.sum([np.clip(phases[other], 0, None) for other in list(phases)[: list(phases).index(name)]], axis=0)
        rects = []
        for k in keep:
            height = max(float(values[k]), 0.0) * scale
            if height < 0.05:
                continue
            x = LEFT + (k + 1) / x_max * inner_w - bar_w / 2
            y = HEIGHT - BOTTOM - (float(below[k]) if np.ndim(below) else 0.0) * scale - height
            rects.append(f'<rect x="{x:.1f}" y="{max(y, TOP):.1f}" width="{bar_w:.1f}" height="{height:.1f}"/>')
        parts.append(f'<g fill="{color}" class="xybrid-phase" data-phase="{html.escape(name)}">{"".join(rects)}</g>')
    for stall in output.stalls:
        x = LEFT + stall["index"] / x_max * inner_w
        parts.append(
            f'<path class="xybrid-stall" data-index="{stall["index"]}" d="M{x - 4:.1f},{TOP - 8} h8 l-4,7 z" '
            f'fill="{STALL_COLOR}"><title>{html.escape(stall_text(stall))}</title></path>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _legend(names: list[str]) -> str:
    parts, x = [], LEFT
    for name in [*names, "stall"]:
        color = STALL_COLOR if name == "stall" else phase_color(name)
        label = name.replace("_", " ")
        parts.append(
            f'<rect x="{x}" y="6" width="10" height="10" fill="{color}"/><text x="{x + 13}" y="15">{label}</text>'
        )
        x += 22 + 6 * len(label)
    return "".join(parts)
