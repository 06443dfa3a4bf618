"""The pieces every inline SVG chart here is drawn with: round axis values, tick labels, lines, axis titles.

The run's latency chart (`widgets/static_view.py`) and the experiments' charts
(`experiments/render.py`) are both drawn from these, so their axes read alike.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable


def nice_max(value: float) -> float:
    """A round axis maximum (1, 2, 2.5 or 5 times a power of ten) at or above `value`; 1 for nothing to show."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return float(next(step * magnitude for step in (1, 2, 2.5, 5, 10) if step * magnitude >= value))


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """At most about `count` + 1 round values (steps of 1, 2 or 5 times a power of ten) from `low` to `high`."""
    if high <= low:
        return [low]
    step = 10 ** math.floor(math.log10((high - low) / count))
    step *= next((f for f in (1, 2, 5) if (high - low) / (step * f) <= count), 10)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def fmt_tick(value: float) -> str:
    """A tick label: whole numbers plainly, others to three significant digits."""
    return f"{value:.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.3g}"


def polyline(points: Iterable[tuple[float, float]], style: str) -> str:
    """An unfilled line through pixel coordinates; `style` holds its stroke attributes."""
    coordinates = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline fill="none" {style} points="{coordinates}"/>' if coordinates else ""


def axis_title(x: float, y: float, text: str, angle: int = 0) -> str:
    """An axis title centred at (x, y), turned by `angle` degrees (-90: a left axis, 90: a right one)."""
    turn = f" rotate({angle})" if angle else ""
    return f'<text transform="translate({x:.0f} {y:.0f}){turn}" text-anchor="middle">{html.escape(text)}</text>'


def svg_root(width: int, height: int, label: str, css_class: str = "xybrid-svg") -> str:
    """The opening tag of an inline chart `width` x `height` wide that scales down with its box."""
    return (
        f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" style="max-width:{width}px;font:11px sans-serif" role="img" aria-label="{html.escape(label)}">'
    )


def chunk_axis(left: float, right: float, bottom: float, height: float, x_max: float) -> list[str]:
    """Five round tick labels from 0 to `x_max` along the bottom of the plot area, and the title "chunk index"."""
    inner_w = right - left
    parts = [
        f'<text x="{left + inner_w * i / 4:.1f}" y="{bottom + 14}" text-anchor="middle">'
        f"{fmt_tick(round(x_max * i / 4))}</text>"
        for i in range(5)
    ]
    return parts + [axis_title(left + inner_w / 2, height - 6, "chunk index")]
