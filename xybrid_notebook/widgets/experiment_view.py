"""The experiments' live view: a progress bar with ETA and Stop, charts and a table that grow; a text fallback.

The charts and the table are the static renderers of `experiments.render`, redrawn
only when a configuration finishes; the progress line updates at most five times a
second. Where no widget front end exists, `TextProgress` prints one updating line and
the result prints itself.
"""

from __future__ import annotations

import html
import sys
import time
from typing import Any, Optional, TextIO

from ..experiments import Progress
from ..experiments.render import sweep_charts_html, sweep_table_html
from .plotly_loader import settle_pages
from .stop_button import StopButton


def _eta_text(progress: Progress) -> str:
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

    def on_progress(self, progress: Progress) -> None:
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


class ExperimentView:
    """A sweep's or an A/B's progress bar with ETA and Stop; charts and a table that grow as configurations finish."""

    #: A sweep's charts and table are in the view already; a comparison's verdict is not.
    shows_result = True

    def __init__(self, title: str) -> None:
        import ipywidgets as w
        from IPython.display import display

        self.title = title
        self.bar = w.IntProgress(value=0, min=0, max=1, description="", bar_style="info")  # max: at the first progress
        self.label = w.HTML(f"{html.escape(title)}: starting…")
        self.stop = StopButton(running=True)
        self.charts = w.HTML("")
        self.table = w.HTML("")
        self.box = w.VBox([w.HBox([self.bar, self.label, self.stop]), self.charts, self.table])
        self._last = 0.0
        display(self.box)
        settle_pages()  # no measuring while a page evaluates plotly.js

    def on_progress(self, progress: Progress) -> None:
        """Move the bar (throttled); redraw the chart and the table when a configuration finishes."""
        now = time.monotonic()
        if progress.finished is None and now - self._last < 0.2:
            return
        self._last = now
        self.bar.max, self.bar.value = max(progress.total_runs, 1), progress.done_runs
        self.label.value = html.escape(f"{self.title}: {_eta_text(progress)}")
        if progress.finished is not None:
            self._show([r.row() for r in progress.results], progress.swept)

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
            self._show(result.rows(), result.swept)

    def _show(self, rows: list[dict[str, Any]], swept: list[str]) -> None:
        self.charts.value = sweep_charts_html(rows, swept)
        self.table.value = sweep_table_html(rows, swept)

    def abandon(self, reason: str) -> None:
        """The run failed: the bar red, the reason beside it, Stop hidden; what finished stays shown."""
        self.stop.running = False
        self.bar.bar_style = "danger"
        self.label.value = html.escape(f"{self.title}: failed ({reason})")
