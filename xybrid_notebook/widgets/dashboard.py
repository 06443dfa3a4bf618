"""The dashboard under a `%%generate` cell: header, streamed text, latency panel, stats, Stop."""

from __future__ import annotations

import html
from typing import Any, Optional

import ipywidgets as widgets

from ..live import LiveFigures, PlotData
from ..types import GenerationOutput
from .latency_panel import LatencyPanel
from .stats import stats_items, stats_line
from .stop_button import StopButton
from .stream_view import StreamView

STATS_STYLE = "display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;padding:4px 2px"


def stats_html(items: list[tuple[str, str]]) -> str:
    """The stats row as HTML: each figure with its label, in a wrapping row."""
    cells = "".join(
        f'<span class="xybrid-stat" data-label="{html.escape(label)}"><b>{html.escape(label)}</b> '
        f'<span class="xybrid-value">{html.escape(value)}</span></span>'
        for label, value in items
    )
    return f'<div class="xybrid-stats" style="{STATS_STYLE}">{cells}</div>'


class Dashboard:
    """Implements `RunView` with ipywidgets; its text/plain form is the stable summary line."""

    def __init__(self, plot: bool = True, previous: Optional[PlotData] = None) -> None:
        self.header = widgets.HTML()
        self.stream = StreamView()
        self.panel: Optional[LatencyPanel] = LatencyPanel() if plot else None
        self.stats = widgets.HTML(stats_html([]))
        self.stop = StopButton()
        self.summary = "xybrid: waiting for the first token"
        if self.panel is not None:
            self.panel.compare_with(previous)
        children: list[Any] = [self.header, self.stream.widget]
        if self.panel is not None:
            children.append(self.panel.figure)
        children.append(widgets.HBox([self.stats, self.stop]))
        self.box = widgets.VBox(children, layout=widgets.Layout(width="100%"))
        self.box.add_class("xybrid-dashboard")
        self._handle: Any = None

    def display(self) -> None:
        """Show the dashboard below the cell, and let the kernel send it before the run starts.

        Flushing stdout waits until the kernel's IOPub thread has sent everything queued
        before it (the widgets' state included), so that work does not compete with
        the prompt's prefill for the CPU and inflate TTFT.
        """
        import sys

        from IPython.display import display

        self._handle = display(self, display_id=True)
        sys.stdout.flush()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.box._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = self.summary
        return bundle

    # -- RunView -------------------------------------------------------------------------------
    def start(self, title: str) -> None:
        """Show what runs, and the Stop button."""
        self.header.value = f'<div class="xybrid-header" style="font-size:12px;color:#666">{html.escape(title)}</div>'
        self.stop.running = True

    def show_text(self, text: str, final: bool) -> None:
        """Replace the streamed text (its tail while streaming)."""
        self.stream.show(text, final)

    def show_progress(self, figures: Optional[LiveFigures], plot: Optional[PlotData]) -> None:
        """Live stats (when due) and, if plotting, the panel."""
        if figures is not None:
            self.stats.value = stats_html(stats_items(figures))
        if plot is not None and self.panel is not None:
            self.panel.show(plot)

    def finish(self, output: GenerationOutput, plot: PlotData) -> None:
        """Final stats and plot; hide Stop; refresh the text/plain summary."""
        self.stop.running = False
        self.stats.value = stats_html(stats_items(output))
        if self.panel is not None:
            self.panel.show(plot)
        self.summary = "xybrid: " + stats_line(output)
        if self._handle is not None:
            self._handle.update(self)
