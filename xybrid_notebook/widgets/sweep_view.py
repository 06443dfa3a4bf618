"""The sweep's live view and static renderings: a progress bar with ETA, a small SVG chart, a growing table.

The chart is inline SVG drawn here (a few kB, no JavaScript bundle): means as
points joined per series, CI95 as error bars, x = the swept parameter. The live
view redraws the chart and the table only when a configuration finishes; the
progress line updates at most five times a second. Where no widget front end
exists, `TextProgress` prints one updating line and the result prints itself.
"""

from __future__ import annotations

import html
import math
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional, TextIO

if TYPE_CHECKING:  # pragma: no cover
    from ..compare import CompareResult
    from ..sweep import DepthCurve, SweepProgress, SweepResult

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")
NUMERIC = ("threads", "n_prompt", "n_gen", "depth", "n_batch", "n_ubatch")
TABLE_COLUMNS = (
    "pp_tps_mean",
    "pp_tps_ci95",
    "tg_tps_mean",
    "tg_tps_ci95",
    "ttft_ms_mean",
    "itl_p50_ms",
    "itl_p95_ms",
    "sample_ms_per_token",
    "repetitions",
)
Point = tuple[float, float, Optional[float]]


# -- the chart ------------------------------------------------------------------------------------
def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    if high <= low:
        return [low]
    step = 10 ** math.floor(math.log10((high - low) / count))
    for factor in (1, 2, 5, 10):
        if (high - low) / (step * factor) <= count:
            step *= factor
            break
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.3g}"


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
    for t in _ticks(y0, y1):
        parts.append(
            f'<text x="{left - 4}" y="{sy(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>'
            f'<line x1="{left}" y1="{sy(t):.1f}" x2="{width - right}" y2="{sy(t):.1f}" stroke="#eee"/>'
        )
    for t in sorted({p[0] for p in points}) if len({p[0] for p in points}) <= 8 else _ticks(x0, x1):
        parts.append(f'<text x="{sx(t):.1f}" y="{axis_y + 14}" text-anchor="middle">{_fmt(t)}</text>')
    parts.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 6}" text-anchor="middle">{html.escape(x_label)}</text>'
    )
    parts.append(
        f'<text x="12" y="{(top + axis_y) / 2}" transform="rotate(-90 12 {(top + axis_y) / 2})" '
        f'text-anchor="middle">{html.escape(y_label)}</text>'
    )
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
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y, _ in ordered)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
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
def _x_parameter(result: SweepResult) -> Optional[str]:
    return next((name for name in result.swept if name in NUMERIC), None)


def sweep_series(
    result: SweepResult, figure: str, rows: Optional[Sequence[Mapping[str, Any]]] = None
) -> tuple[str, dict[str, list[Point]]]:
    """(x label, series) of one figure's means and CI95: x = the first numeric swept parameter.

    `rows` are the results' `row()`s, when the caller has them already."""
    frame_rows = rows if rows is not None else [r.row() for r in result.results]
    x_name = _x_parameter(result)
    others = [name for name in result.swept if name != x_name]
    series: dict[str, list[Point]] = {}
    for index, row in enumerate(frame_rows):
        mean = row.get(f"{figure}_mean")
        if mean is None or (isinstance(mean, float) and math.isnan(mean)):
            continue
        key = ", ".join(f"{name}={row[name]}" for name in others)
        x = float(row[x_name]) if x_name else float(index + 1)
        ci = row.get(f"{figure}_ci95")
        series.setdefault(key, []).append((x, float(mean), None if ci is None or math.isnan(ci) else float(ci)))
    return (x_name or "configuration"), series


def sweep_charts_html(result: SweepResult) -> str:
    """pp and tg means with CI95 error bars, side by side."""
    charts, rows = [], [r.row() for r in result.results]
    for figure, title in (("pp_tps", "prompt processing"), ("tg_tps", "token generation")):
        x_label, series = sweep_series(result, figure, rows)
        if series or not result.results:
            charts.append(svg_chart(series, title, x_label, "tokens/s"))
    return '<div style="display:flex;gap:8px;flex-wrap:wrap">' + "".join(charts) + "</div>"


def sweep_table_html(result: SweepResult) -> str:
    """The DataFrame's configuration columns that vary, and the figures, without the raw samples."""
    frame = result.to_pandas()
    keep = (
        [c for c in ("backend", "model", "threads", "n_prompt", "n_gen", "depth") if c in frame]
        + [c for c in result.swept if c not in ("backend", "model", "threads", "n_prompt", "n_gen", "depth")]
        + list(TABLE_COLUMNS)
    )
    return _frame_html(frame[keep].map(lambda v: "–" if v is None else v))


def _frame_html(frame: Any) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="–", border=0, classes="xybrid-table")


def sweep_result_html(result: SweepResult) -> str:
    """A finished sweep: status line, charts, table."""
    status = f"{len(result)}/{result.planned} configuration(s)" + (" — stopped early" if result.stopped else "")
    return f"<div><b>sweep</b>: {html.escape(status)}{sweep_charts_html(result)}{sweep_table_html(result)}</div>"


def compare_result_html(result: CompareResult) -> str:
    """The verdict in words, what A and B are, and the per-metric table."""
    a, b = result.labels
    table = _frame_html(result.to_pandas().drop(columns=["verdict"]))
    stopped = " (stopped early)" if result.stopped else ""
    return (
        f"<div><b>{html.escape(result.verdict)}</b><br>A: {html.escape(a)}<br>B: {html.escape(b)}{stopped}{table}</div>"
    )


def depth_curve_svg(curve: DepthCurve) -> str:
    """Decode ms per token against KV position, the context size marked by a dashed line."""
    points = [(x, y, ci) for x, y, ci in zip(curve.positions, curve.ms_per_token, curve.ms_ci95)]
    vline = (float(curve.context_length), f"context {curve.context_length}") if curve.context_length else None
    if vline and points and vline[0] > 8 * max(p[0] for p in points):
        vline = None  # far off to the right: marking it would squash the curve flat
    title = f"decode time per token vs KV position ({curve.source})"
    if curve.context_length and vline is None:
        title += f"; context {curve.context_length}"
    return svg_chart({"": points}, title, "KV position (tokens)", "ms / token", width=480, vline=vline)


# -- live ----------------------------------------------------------------------------------------------
def _eta_text(progress: SweepProgress) -> str:
    eta = progress.eta_s
    left = "–" if eta is None else f"{eta:.0f} s"
    return f"{progress.done_runs}/{progress.total_runs} runs · {progress.elapsed_s:.0f} s · ETA {left}"


class TextProgress:
    """One progress line rewritten in place (terminal IPython, `--text`)."""

    #: The result is printed by the caller (its repr), not by this view.
    shows_result = False

    def __init__(self, title: str, stream: Optional[TextIO] = None, interval_s: float = 0.5) -> None:
        self.title, self.stream, self.interval_s = title, stream or sys.stdout, interval_s
        self._last = 0.0

    def on_progress(self, progress: SweepProgress) -> None:
        """Rewrite the line at most every `interval_s`, and always when a configuration finishes."""
        now = time.monotonic()
        if progress.finished is None and now - self._last < self.interval_s:
            return
        self._last = now
        self.stream.write(f"\r{self.title}: {_eta_text(progress)}")
        self.stream.flush()

    def finish(self, result: Any) -> None:
        """End the line."""
        stopped = bool(getattr(result, "stopped", False))
        self.stream.write(" — stopped\n" if stopped else " — done\n")
        self.stream.flush()

    def abandon(self, reason: str) -> None:
        """End the line, if one was started: the run failed (the caller shows why)."""
        if self._last:
            self.stream.write(" — failed\n")
            self.stream.flush()


class SweepLiveView:
    """Progress bar with ETA and Stop, a chart and a table that grow as configurations finish."""

    #: A sweep's charts and table are in the view already; a comparison's verdict is not.
    shows_result = True

    def __init__(self, title: str) -> None:
        import ipywidgets as w
        from IPython.display import display

        from .stop_button import StopButton

        self.title = title
        self.bar = w.IntProgress(value=0, min=0, max=1, description="", bar_style="info")  # max: at the first progress
        self.label = w.HTML(f"{html.escape(title)}: starting…")
        self.stop = StopButton(running=True)
        self.charts = w.HTML("")
        self.table = w.HTML("")
        self.box = w.VBox([w.HBox([self.bar, self.label, self.stop]), self.charts, self.table])
        self._last = 0.0
        display(self.box)

    def on_progress(self, progress: SweepProgress) -> None:
        """Move the bar (throttled); redraw the chart and the table when a configuration finishes."""
        now = time.monotonic()
        if progress.finished is None and now - self._last < 0.2:
            return
        self._last = now
        self.bar.max, self.bar.value = max(progress.total_runs, 1), progress.done_runs
        self.label.value = html.escape(f"{self.title}: {_eta_text(progress)}")
        if progress.finished is not None and progress.result is not None:
            self.charts.value = sweep_charts_html(progress.result)
            self.table.value = sweep_table_html(progress.result)

    def finish(self, result: Any) -> None:
        """Final state: the full result, the bar green (or orange when stopped), Stop hidden."""
        stopped = bool(getattr(result, "stopped", False))
        self.stop.running = False
        self.bar.bar_style = "warning" if stopped else "success"
        if stopped:
            self.label.value = html.escape(f"{self.title}: stopped; finished configurations are kept")
        else:
            self.bar.value = self.bar.max
            self.label.value = html.escape(f"{self.title}: done")
        if hasattr(result, "swept"):
            self.charts.value = sweep_charts_html(result)
            self.table.value = sweep_table_html(result)

    def abandon(self, reason: str) -> None:
        """The run failed: the bar red, the reason beside it, Stop hidden; what finished stays shown."""
        self.stop.running = False
        self.bar.bar_style = "danger"
        self.label.value = html.escape(f"{self.title}: failed ({reason})")


def run_with_view(run: Any, view: Any, kwargs: dict[str, Any]) -> Any:
    """`run(**kwargs)` with `view` fed its progress (beside any `on_progress` of the caller's), and
    ended whatever happens: finished with the result, or abandoned when the run raises."""
    theirs = kwargs.get("on_progress")

    def both(progress: SweepProgress) -> None:
        view.on_progress(progress)
        if theirs is not None:
            theirs(progress)

    try:
        result = run(**{**kwargs, "on_progress": both})
    except BaseException as exc:
        view.abandon(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        raise
    view.finish(result)
    return result
