"""The live latency panel: inter-chunk gaps and running decode rate, per chunk, in plotly."""

from __future__ import annotations

from typing import Optional

import numpy as np
import plotly.graph_objects as go
from traitlets import Integer

from ..live import PlotData

GAP_TRACE, RATE_TRACE, COMPARE_TRACE = 0, 1, 2
GAP_COLOR, RATE_COLOR, COMPARE_COLOR = "#1f77b4", "#ff7f0e", "rgba(140,140,140,0.55)"


class LeanFigureWidget(go.FigureWidget):
    """A FigureWidget that does not sync its edit counters as traits of their own.

    Plotly sends every update as a message pair and then, by default, two more
    messages for the counters, which a view reads only when it is first created.
    Unsynced, each panel update costs two comm messages instead of four.
    """

    _last_layout_edit_id = Integer(0)
    _last_trace_edit_id = Integer(0)


def _empty_figure() -> go.FigureWidget:
    """All traces and the layout go in the constructor: sent with the widget, not as extra messages."""
    traces = [
        go.Scatter(
            name="inter-chunk gap", mode="lines+markers", marker={"size": 4, "color": GAP_COLOR},
            line={"width": 1, "color": GAP_COLOR},
            hovertemplate="chunk %{x}<br>gap %{y:.2f} ms<br>%{text}<extra></extra>",
        ),
        go.Scatter(
            name="decode tok/s (running)", mode="lines", yaxis="y2", line={"width": 2, "color": RATE_COLOR},
            hovertemplate="chunk %{x}<br>%{y:.1f} tok/s<extra></extra>",
        ),
        go.Scatter(
            name="previous run", mode="lines", visible=False, line={"width": 1, "color": COMPARE_COLOR},
            hovertemplate="previous run<br>chunk %{x}<br>gap %{y:.2f} ms<extra></extra>",
        ),
    ]
    layout = go.Layout(
        height=300,
        margin={"l": 60, "r": 60, "t": 40, "b": 45},
        xaxis={"title": {"text": "chunk index"}, "rangemode": "tozero"},
        yaxis={"title": {"text": "inter-chunk latency (ms)"}, "rangemode": "tozero"},
        yaxis2={"title": {"text": "decode (tokens/s)"}, "overlaying": "y", "side": "right",
                "rangemode": "tozero", "showgrid": False},
        legend={"orientation": "h", "y": 1.12, "x": 0},
        title={"text": "TTFT –", "x": 0.99, "xanchor": "right", "y": 0.97, "font": {"size": 12}},
        template="plotly_white",
    )
    return LeanFigureWidget(data=traces, layout=layout)


def _ttft_title(ttft_ms: Optional[float]) -> str:
    return "TTFT –" if ttft_ms is None else f"TTFT {ttft_ms:.1f} ms"


class LatencyPanel:
    """A plotly FigureWidget updated in one `batch_update` per flush, capped in points."""

    def __init__(self) -> None:
        self.figure = _empty_figure()
        self.updates = 0

    def show(self, plot: PlotData) -> None:
        """Replace both traces with the (already thinned) points, in one message."""
        with self.figure.batch_update():
            gap, rate = self.figure.data[GAP_TRACE], self.figure.data[RATE_TRACE]
            gap.x, gap.y, gap.text = plot.index, plot.gap_ms, plot.hover
            rate.x, rate.y = plot.index, np.nan_to_num(plot.decode_tps, nan=0.0)
            self.figure.layout.title.text = _ttft_title(plot.ttft_ms)
        self.updates += 1

    def compare_with(self, previous: Optional[PlotData]) -> None:
        """Overlay a previous run's gaps in grey (or hide the overlay)."""
        trace = self.figure.data[COMPARE_TRACE]
        if previous is None and not trace.visible:
            return
        with self.figure.batch_update():
            trace.visible = previous is not None
            if previous is not None:
                trace.x, trace.y = previous.index, previous.gap_ms
