"""A load test's timeline as static SVG: a bar per request, coloured by phase, over the server's state on one time axis.

Requests are packed into lanes (a request takes the first lane free at its start, so a
closed-loop level of c users draws about c lanes); each bar runs from the request's
arrival (rate levels) or send to its end: waiting for a user (grey), queued at the
server, prefill, then decode to the end (transport included: on loopback it is a few
ms). A request the server did not time shows its TTFT and its stream instead; an error
is red. One stroked SVG path per colour keeps the drawing small; at most `max_bars` requests
are drawn (the latest). Under it, the scraped series (`load.server_metrics`) on the
same axis: requests running and waiting, the server's prompt and decode tok/s, and the
KV cache's use where the server reports it. Level boundaries are dashed lines.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from ..backends.remote import NO_SERVER_TIMINGS
from ..svg import fmt_tick, nice_max, nice_ticks, polyline
from .figures import Record
from .phases import request_phases
from .server_metrics import LoadTimeline

#: Requests drawn at most (the latest by send time); the live view draws fewer.
MAX_BARS = 400
#: Points per series at most (more samples are pooled by their maximum per column of 4 pixels).
MAX_POINTS = 180
WIDTH, LEFT, RIGHT = 760, 56, 12
LANES_HEIGHT = 150
PANEL_HEIGHT = 48
PHASE_COLORS = {
    "client wait": "#c7c7c7",
    "queued": "#ff7f0e",
    "prefill": "#9467bd",
    "decode": "#1f77b4",
    "first token (not split)": "#aec7e8",
    "error": "#d62728",
    "cut at the level's end": "#ececec",
}
SERIES_COLORS = {"running": "#1f77b4", "waiting": "#ff7f0e", "prompt_tps": "#9467bd", "decode_tps": "#2ca02c"}


def _segments(record: Record, t0: float) -> list[tuple[str, float, float]]:
    """(phase, start s, end s) of one request on the test's axis."""
    sent = float(record["sent"]) - t0
    end = sent + float(record.get("end_ms") or 0.0) / 1000.0
    parts: list[tuple[str, float, float]] = []
    if record.get("arrival") is not None:
        parts.append(("client wait", float(record["arrival"]) - t0, sent))
    if record.get("outcome") != "ok":
        return [*parts, ("error" if record.get("outcome") == "error" else "cut at the level's end", sent, end)]
    split = request_phases(record)
    if split["server_queue_ms"] is None:
        ttft = sent + float((record.get("offsets_ms") or [0.0])[0]) / 1000.0
        return [*parts, ("first token (not split)", sent, ttft), ("decode", ttft, end)]
    queued = sent + (split["server_queue_ms"] or 0.0) / 1000.0
    prefilled = queued + (split["server_prefill_ms"] or 0.0) / 1000.0
    return [*parts, ("queued", sent, queued), ("prefill", queued, prefilled), ("decode", prefilled, end)]


def _lanes(bars: Sequence[list[tuple[str, float, float]]]) -> list[int]:
    """Each bar's lane: the first whose last bar ended by this one's start."""
    ends: list[float] = []
    lanes = []
    for segments in bars:
        start, end = segments[0][1], segments[-1][2]
        lane = next((i for i, last in enumerate(ends) if last <= start), len(ends))
        if lane == len(ends):
            ends.append(end)
        ends[lane] = end
        lanes.append(lane)
    return lanes


class _Axis:
    """The shared time axis: seconds → pixels."""

    def __init__(self, t1: float) -> None:
        self.t1 = nice_max(max(t1, 1e-3))

    def x(self, t: float) -> float:
        return LEFT + max(0.0, min(t, self.t1)) / self.t1 * (WIDTH - LEFT - RIGHT)


def _bars_svg(records: Sequence[Record], t0: float, axis: _Axis, top: float, hover: bool) -> tuple[str, float]:
    bars = [_segments(r, t0) for r in records]
    lanes = _lanes(bars)
    count = max(lanes, default=0) + 1
    step = min(10.0, LANES_HEIGHT / count)
    height = max(0.6, step * 0.8)
    paths: dict[str, list[str]] = {}
    titles = []
    for record, segments, lane in zip(records, bars, lanes):
        y = top + lane * step
        for phase, start, end in segments:
            w = max(0.4, axis.x(end) - axis.x(start))
            paths.setdefault(phase, []).append(f"M{axis.x(start):.1f} {y + height / 2:.1f}h{w:.1f}")
        if hover:
            titles.append(_hover(record, segments, axis, y, height))
    body = "".join(
        f'<path stroke="{PHASE_COLORS[phase]}" stroke-width="{height:.1f}" d="{"".join(d)}"/>'
        for phase, d in paths.items()
    )
    return body + "".join(titles), top + count * step


def _hover(record: Record, segments: list[tuple[str, float, float]], axis: _Axis, y: float, height: float) -> str:
    x0, x1 = axis.x(segments[0][1]), axis.x(segments[-1][2])
    words = ", ".join(f"{phase} {1000 * (end - start):.0f} ms" for phase, start, end in segments)
    label = f"level {record.get('level')}{' (warm-up)' if record.get('warmup') else ''}: {words}"
    return (
        f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(0.4, x1 - x0):.1f}" height="{height:.1f}" fill-opacity="0">'
        f"<title>{html.escape(label)}</title></rect>"
    )


def _pooled(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Pixel points, at most `MAX_POINTS`: each column's highest (the smallest y), so a peak is never thinned away."""
    if len(points) <= MAX_POINTS:
        return points
    columns: dict[int, tuple[float, float]] = {}
    for x, y in points:
        key = int(x / ((WIDTH - LEFT - RIGHT) / MAX_POINTS))
        if key not in columns or y < columns[key][1]:
            columns[key] = (x, y)
    return [columns[k] for k in sorted(columns)]


def _panel(
    timeline: LoadTimeline,
    names: Sequence[str],
    title: str,
    axis: _Axis,
    top: float,
    scale: float = 1.0,
    ceiling: Optional[float] = None,
) -> str:
    """Step lines of some named series in one small panel, with its y axis and a legend."""
    t0 = timeline.t0 or 0.0
    series = {
        name: [(s["t"] - t0, float(s["values"][name]) * scale) for s in timeline.samples if name in s["values"]]
        for name in names
    }
    series = {name: points for name, points in series.items() if points}
    if not series:
        return ""
    high = nice_max(max([ceiling or 0.0, *(y for points in series.values() for _, y in points)]) or 1.0)
    sy = lambda v: top + PANEL_HEIGHT - v / high * PANEL_HEIGHT  # noqa: E731
    parts = [
        f'<text x="{LEFT}" y="{top - 3:.0f}" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{top + PANEL_HEIGHT}" x2="{WIDTH - RIGHT}" y2="{top + PANEL_HEIGHT}" stroke="#444"/>',
        f'<text x="{LEFT - 4}" y="{sy(high) + 4:.1f}" text-anchor="end">{fmt_tick(high)}</text>',
        f'<text x="{LEFT - 4}" y="{sy(0) + 4:.1f}" text-anchor="end">0</text>',
    ]
    if ceiling:
        parts.append(
            f'<line x1="{LEFT}" y1="{sy(ceiling):.1f}" x2="{WIDTH - RIGHT}" y2="{sy(ceiling):.1f}" '
            f'stroke="#888" stroke-dasharray="2 3"><title>{ceiling:.0f} slots</title></line>'
        )
    for i, (name, points) in enumerate(series.items()):
        color = SERIES_COLORS.get(name, "#555")
        line = _pooled([(axis.x(x), sy(y)) for x, y in points])
        parts.append(polyline(line, f'stroke="{color}" stroke-width="1.3"'))
        parts.append(
            f'<text x="{WIDTH - RIGHT - 110 * i}" y="{top - 3:.0f}" text-anchor="end" fill="{color}">'
            f"{html.escape(name.replace('_', ' '))}</text>"
        )
    return "".join(parts)


def _levels_svg(timeline: LoadTimeline, labels: Sequence[str], axis: _Axis, bottom: float) -> str:
    t0 = timeline.t0 or 0.0
    parts = []
    for index, (start, _) in sorted(timeline.levels.items()):
        if start is None or index >= len(labels):
            continue
        x = axis.x(start - t0)
        parts.append(
            f'<line x1="{x:.1f}" y1="18" x2="{x:.1f}" y2="{bottom:.0f}" stroke="#999" stroke-dasharray="3 3"/>'
            f'<text x="{x + 3:.1f}" y="28" fill="#555">{html.escape(labels[index])}</text>'
        )
    return "".join(parts)


def _legend(y: float, phases: set[str]) -> str:
    parts, x = [], float(LEFT)
    for phase, color in PHASE_COLORS.items():
        if phase not in phases:
            continue
        parts.append(
            f'<rect x="{x:.0f}" y="{y - 8:.0f}" width="10" height="8" fill="{color}"/>'
            f'<text x="{x + 13:.0f}" y="{y:.0f}">{html.escape(phase)}</text>'
        )
        x += 22 + 6.2 * len(phase)
    return "".join(parts)


def timeline_svg(
    records: Sequence[Record],
    timeline: LoadTimeline,
    labels: Sequence[str],
    max_bars: int = MAX_BARS,
    hover: bool = True,
) -> str:
    """The timeline (one bar per request, the latest `max_bars`) over the server's series, as one SVG."""
    drawable = [r for r in records if r.get("sent") is not None and r.get("end_ms") is not None]
    t0 = timeline.t0 if timeline.t0 is not None else min((float(r["sent"]) for r in drawable), default=0.0)
    drawable.sort(key=lambda r: float(r.get("arrival") or r["sent"]))
    shown = drawable[-max_bars:]
    ends = [float(r["sent"]) + float(r["end_ms"]) / 1000.0 - t0 for r in drawable]
    ends += [s["t"] - t0 for s in timeline.samples]
    axis = _Axis(max(ends, default=1.0))
    title = "Timeline: one bar per request" + (
        f" (the last {len(shown)} of {len(drawable)})" if len(shown) < len(drawable) else ""
    )
    parts = [f'<text x="{LEFT}" y="12" font-weight="bold">{html.escape(title)}</text>']
    bars, y = _bars_svg(shown, t0, axis, 34.0, hover)
    parts.append(bars)
    y += 18
    phases = {phase for r in shown for phase, _, _ in _segments(r, t0)}
    parts.append(_legend(y, phases))
    if "first token (not split)" in phases and "prefill" not in phases:
        y += 16
        parts.append(f'<text x="{LEFT}" y="{y:.0f}" fill="#888">{html.escape(NO_SERVER_TIMINGS)}</text>')
    y += 24
    panels = (
        (("running", "waiting"), "requests at the server", 1.0, timeline.slots),
        (("decode_tps",), "server decode tokens/s", 1.0, None),
        (("prompt_tps",), "server prompt tokens/s", 1.0, None),
        (("kv_cache_used",), "KV cache used (%)", 100.0, None),
    )
    for names, panel_title, scale, ceiling in panels:
        drawn = _panel(timeline, names, panel_title, axis, y + 12, scale, ceiling)
        if drawn:
            parts.append(drawn)
            y += PANEL_HEIGHT + 26
    if timeline.metrics_note:
        parts.append(f'<text x="{LEFT}" y="{y + 10:.0f}" fill="#888">{html.escape(timeline.metrics_note)}</text>')
        y += 20
    axis_y = y + 2
    parts.append(f'<line x1="{LEFT}" y1="{axis_y:.0f}" x2="{WIDTH - RIGHT}" y2="{axis_y:.0f}" stroke="#444"/>')
    for t in nice_ticks(0.0, axis.t1):
        parts.append(f'<text x="{axis.x(t):.1f}" y="{axis_y + 13:.0f}" text-anchor="middle">{fmt_tick(t)}</text>')
    parts.append(
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{axis_y + 27:.0f}" text-anchor="middle">'
        "seconds since the first level's start</text>"
    )
    parts.insert(0, _levels_svg(timeline, labels, axis, axis_y))
    height = axis_y + 34
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'style="font:11px sans-serif;background:#fff" class="xybrid-load-timeline">{"".join(parts)}</svg>'
    )


def split_lines_html(rows: Sequence[Mapping[str, Any]]) -> str:
    """Each finished level's one line of where its time went."""
    lines = [
        line if line.startswith("TTFT") else f"{row['load']}: {line}"
        for row in rows
        if (line := str(row.get("where_time_went") or ""))
    ]
    return "".join(f"<div style='font:12px sans-serif'>{html.escape(line)}</div>" for line in lines)
