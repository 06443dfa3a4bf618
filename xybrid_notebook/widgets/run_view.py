"""The view under a `%%generate` cell: one small anywidget per run (text, live chart, stats, Stop).

Stop: while a cell runs the kernel does not read comm messages from the browser, so the
button's JavaScript asks the Jupyter server to interrupt the kernel
(`POST /api/kernels/<id>/interrupt`); the core then cancels the run cleanly. Where the
page is not a Jupyter server page or the kernel id is unknown, the button hides itself.

While the run streams, each flush is one custom message holding only what is new: the
new chunks' texts, their timings (gap, offset, tokens) as a float64 binary buffer and the
new chart points as a float32 one. The browser appends them (one span per chunk; the
chart's lines move with `Plotly.animate`). At the end the output is replaced by the
run's static form (`static_view`), which needs no kernel; the widget is then closed, so
nothing of it needs to be kept.

What each run costs the page is kept small: the view's code comes once per page with the
plotly loader (a run's own module is a few hundred bytes that wait for it), and every run
shares one `Layout`, so a run is one comm.
"""

from __future__ import annotations

import re
import sys
import uuid
from typing import Any, Optional

import anywidget
import ipywidgets
import numpy as np
import traitlets

from ..live import LiveDelta, PlotData
from ..types import GenerationOutput
from .esm import compact_esm, widget_module
from .plotly_loader import ensure_plotly_loader, settle_pages
from .static_view import static_html, summary_text
from .stats import stats_items

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def points_buffer(index: np.ndarray, gap_ms: np.ndarray, decode_tps: np.ndarray) -> bytes:
    """Points as little-endian float32 triples (chunk index, gap ms, decode tok/s; NaN where unknown)."""
    return np.column_stack([index, gap_ms, decode_tps]).astype("<f4").tobytes()


def current_kernel_id() -> Optional[str]:
    """The id of the kernel this code runs in, read from its connection file name (for Stop)."""
    try:
        from ipykernel.connect import get_connection_file

        match = re.search(r"kernel-([0-9a-fA-F-]{8,})\.json$", get_connection_file())
    except Exception:  # not in an ipykernel, or no connection file
        return None
    return match.group(1) if match else None


_LAYOUT: Optional[ipywidgets.Layout] = None


def shared_layout() -> ipywidgets.Layout:
    """One `Layout` for every run view: a DOM widget needs one, and one per run would be a second comm per run."""
    global _LAYOUT
    if _LAYOUT is None or _LAYOUT.comm is None:
        _LAYOUT = ipywidgets.Layout()
    return _LAYOUT


class RunWidget(anywidget.AnyWidget):
    """The browser side of one run; everything live arrives as custom messages."""

    _esm = compact_esm(widget_module("run_view_stub.js"))  # the view's code comes once per page, with the loader
    run_id = traitlets.Unicode("").tag(sync=True)  # keys the browser's store of this run's deltas
    title = traitlets.Unicode("").tag(sync=True)
    kernel_id = traitlets.Unicode("").tag(sync=True)
    running = traitlets.Bool(False).tag(sync=True)
    plot = traitlets.Bool(True).tag(sync=True)
    compare = traitlets.Bytes(b"").tag(sync=True)  # the previous run's (index, gap) as float32 pairs
    color_gaps = traitlets.Bool(False).tag(sync=True)  # shade the text by gap from the start


class WidgetView:
    """Implements `RunView`: shows the widget, sends deltas, and leaves the static form at the end."""

    def __init__(
        self,
        plot: bool = True,
        previous: Optional[PlotData] = None,
        color_gaps: bool = False,
        title: str = "",
        breakdown: bool = False,
    ) -> None:
        self.plot, self.color_gaps, self.breakdown = plot, color_gaps, breakdown
        self.previous = previous if plot else None
        ensure_plotly_loader()  # it carries the view's code to the page, and plotly.js
        compare = b""
        if self.previous is not None:
            compare = np.column_stack([self.previous.index, self.previous.gap_ms]).astype("<f4").tobytes()
        self.widget = RunWidget(
            run_id=uuid.uuid4().hex,
            plot=plot,
            compare=compare,
            color_gaps=color_gaps,
            kernel_id=current_kernel_id() or "",
            layout=shared_layout(),
            title=title,
            running=True,  # in the first state: no message of its own when the run starts
        )
        self.title = title
        self.summary = "xybrid: waiting for the first token"
        self.final_html: Optional[str] = None
        self._handle: Any = None

    def bundle(self) -> dict[str, Any]:
        """The live display bundle: the widget view and the text/plain summary."""
        view = {"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id}
        return {WIDGET_VIEW: view, "text/plain": self.summary}

    def display(self) -> None:
        """Show the view below the cell, and let the kernel send it before the run starts.

        Flushing stdout waits until the kernel's IOPub thread has sent everything queued
        before it (the widget's small state included), so that work does not compete
        with the prompt's prefill for the CPU; and the run waits (at most a few seconds)
        until no page is evaluating plotly.js and the view is drawn (its empty chart too).
        """
        from IPython.display import display

        self._handle = display(self.bundle(), raw=True, display_id=True)
        sys.stdout.flush()
        settle_pages(self.widget)

    # -- RunView -------------------------------------------------------------------------------
    def start(self, title: str) -> None:
        """Show what runs (a message only if the title differs from the one the view was made with)."""
        self.title = title
        if self.widget.title != title:
            self.widget.title = title

    def update(self, delta: LiveDelta) -> None:
        """One message: the new chunks with their timings (binary), the new points (binary),
        the TTFT and, when due, the stats and the running shading scale."""
        content: dict[str, Any] = {"pieces": delta.pieces, "start": delta.text_start, "first": delta.first_chunk}
        if (delta.text_start == 0 or delta.restart) and delta.figures is not None:
            content["ttft"] = delta.figures.ttft_ms
        if delta.restart:
            content["restart"] = True
        if delta.figures is not None:
            content["stats"] = stats_items(delta.figures)
            if delta.figures.p50_itl_ms is not None and delta.figures.p95_itl_ms is not None:
                content["scale"] = [delta.figures.p50_itl_ms, delta.figures.p95_itl_ms]
        buffers = [delta.chunks.astype("<f8").tobytes()]
        if self.plot and delta.index.size:
            buffers.append(points_buffer(delta.index, delta.gap_ms, delta.decode_tps))
        self.widget.send(content, buffers=buffers)

    def finish(self, output: GenerationOutput, plot: PlotData) -> None:
        """Replace the live view by the static form (text, chart, stats), then close the widget (Stop goes with it)."""
        self.summary = summary_text(output)
        self.final_html = static_html(
            output,
            plot if self.plot else None,
            self.title,
            self.previous,
            color_gaps=self.color_gaps,
            run_id=self.widget.run_id,
            breakdown=self.breakdown,
        )
        bundle = {"text/html": self.final_html, "text/plain": self.summary}
        if self._handle is not None:
            self._handle.update(bundle, raw=True)
        self._close()

    def abandon(self, reason: str) -> None:
        """No output at all: leave one line in place of the view, and close the widget."""
        self.summary = f"xybrid: {reason}"
        if self._handle is not None:
            self._handle.update({"text/plain": self.summary}, raw=True)
        self._close()

    def _close(self) -> None:
        """Close the widget (its layout is every run's, and stays)."""
        self.widget.close()
