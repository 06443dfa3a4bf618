"""A load test's live view: per-level progress with ETA and Stop, and the curve, distributions and table growing.

The timeline (one bar per request, the latest `LIVE_BARS`, over the server's scraped
state) redraws with the charts. At the end the output is replaced by the result's static form (SVG and a table, no
JavaScript), which the saved notebook and nbconvert keep; the widgets are then closed.

The charts are `load.render`'s static SVG (the same the saved notebook shows), redrawn
at most every `REDRAW_INTERVAL_S` when requests have ended since, and at every level's end; the
progress line at most every 0.5 s. No plotly, no per-token messages: the browser's
work stays small while the server it shares the cores with is being measured.
`TextLoadProgress` prints one updating line where there are no widgets.
"""

from __future__ import annotations

import html
import sys
import time
from typing import Any, Optional, TextIO

from ..load import LoadProgress, LoadResult
from ..load.figures import level_row, mark_warmup
from ..load.render import curve_html, distributions_html, table_html, timeline_html
from ..load.result import records_of
from .plotly_loader import settle_pages
from .stop_button import StopButton

REDRAW_INTERVAL_S = 1.0
#: Requests the live timeline draws at most (the latest), without hover text: a redraw stays small.
LIVE_BARS = 160


def progress_text(progress: LoadProgress) -> str:
    """`c=4 (level 2/3): 12/20 requests · 34 s · ETA 40 s`, or the status while nothing runs."""
    if progress.level < 0:
        return progress.status or "starting…"
    spec = progress.spec
    level = spec.levels[progress.level]
    wanted = spec.requests_for(level)
    in_level = time.monotonic() - progress.level_started
    done = (
        f"{progress.level_completed}/{wanted + spec.warmup_for(level)} requests"
        if wanted is not None
        else f"{progress.level_completed} requests, {in_level:.0f} s of {spec.duration_s:g}"
    )
    eta = progress.eta_s
    return (
        f"{level.label} (level {progress.level + 1}/{len(spec.levels)}): {done} · {progress.elapsed_s:.0f} s · "
        f"ETA {'–' if eta is None else f'{eta:.0f} s'}"
    )


def provisional_rows(progress: LoadProgress) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The finished levels' rows plus the running level's so far; and the records with warm-up marked."""
    rows = list(progress.rows)
    records = [dict(r) for r in progress.records]
    running = progress.level
    if running >= 0 and all(row["level"] != running for row in rows):
        current = [r for r in records_of(records, running) if r.get("outcome") != "cut"]
        mark_warmup(current, progress.spec.warmup_for(progress.spec.levels[running]))
        if current:
            rows.append(level_row(running, progress.spec.levels[running], progress.spec, current, None))
    return rows, records


class TextLoadProgress:
    """One progress line rewritten in place (terminal IPython, `--text`)."""

    shows_result = False

    def __init__(self, title: str, stream: Optional[TextIO] = None, interval_s: float = 1.0) -> None:
        self.title, self.stream, self.interval_s = title, stream or sys.stdout, interval_s
        self._last = 0.0

    def on_progress(self, progress: LoadProgress) -> None:
        """Rewrite the line at most every `interval_s`."""
        now = time.monotonic()
        if now - self._last < self.interval_s:
            return
        self._last = now
        self.stream.write(f"\r{self.title}: {progress_text(progress)}\x1b[K")
        self.stream.flush()

    def finish(self, result: Any) -> None:
        """End the line."""
        self.stream.write(" — stopped\n" if getattr(result, "stopped", False) else " — done\n")
        self.stream.flush()

    def abandon(self, reason: str) -> None:
        """End the line: the test failed (the caller shows why)."""
        if self._last:
            self.stream.write(" — failed\n")
            self.stream.flush()


class LoadView:
    """Progress bar, ETA and Stop over the growing curve, distributions and table; the static form at the end."""

    shows_result = True

    def __init__(self, title: str) -> None:
        import ipywidgets as w
        from IPython.display import display

        self.title = title
        self.bar = w.IntProgress(value=0, min=0, max=1, bar_style="info")
        self.label = w.HTML(f"{html.escape(title)}: starting…")
        self.stop = StopButton(running=True)
        self.body = w.HTML("")
        self.box = w.VBox([w.HBox([self.bar, self.label, self.stop]), self.body])
        self.box.add_class("xybrid-load")
        self._last_line = self._last_draw = 0.0
        self._drawn_rows = self._drawn_records = -1
        self.bytes_sent = 0
        self._handle = display(self.box, display_id=True)
        settle_pages()

    def on_progress(self, progress: LoadProgress) -> None:
        """Move the bar and the line (0.5 s apart); redraw the charts each second and when a level ends."""
        now = time.monotonic()
        level_ended = len(progress.rows) != self._drawn_rows
        if now - self._last_line >= 0.5 or level_ended:
            self._last_line = now
            if progress.level >= 0:
                wanted = progress.spec.requests_for(progress.spec.levels[progress.level])
                level = progress.spec.levels[progress.level]
                self.bar.max = (wanted + progress.spec.warmup_for(level)) if wanted is not None else 1000
                self.bar.value = (
                    min(progress.level_completed, self.bar.max)
                    if wanted is not None
                    else int(1000 * min(1.0, (now - progress.level_started) / (progress.spec.duration_s or 1)))
                )
            self._set(self.label, html.escape(f"{self.title}: {progress_text(progress)}"))
        fresh = len(progress.records) != self._drawn_records
        if fresh and (level_ended or now - self._last_draw >= REDRAW_INTERVAL_S):
            self._last_draw, self._drawn_rows, self._drawn_records = now, len(progress.rows), len(progress.records)
            rows, records = provisional_rows(progress)
            labels = [level.label for level in progress.spec.levels]
            self._set(
                self.body,
                f"<div>{curve_html(rows)}</div>"
                f"{timeline_html(rows, records, labels, progress.timeline, max_bars=LIVE_BARS, hover=False)}"
                f"<div>{distributions_html(records, labels)}</div>{table_html(rows)}",
            )

    def _set(self, widget: Any, value: str) -> None:
        self.bytes_sent += len(value)
        widget.value = value

    def finish(self, result: LoadResult) -> None:
        """Replace the live view by the result's static form (it needs no kernel), then close the widgets."""
        self.stop.running = False
        state = f"stopped ({result.reason}); the levels measured are kept" if result.stopped else "done"
        static = f"<div>{html.escape(self.title)}: {html.escape(state)}</div>{result._repr_html_()}"
        self.bytes_sent += len(static)
        if self._handle is not None:
            self._handle.update({"text/html": static, "text/plain": result.summary()}, raw=True)
        for widget in (self.box, self.bar, self.label, self.stop, self.body):
            widget.close()

    def abandon(self, reason: str) -> None:
        """The test failed: the bar red, the reason beside it, Stop hidden."""
        self.stop.running = False
        self.bar.bar_style = "danger"
        self._set(self.label, html.escape(f"{self.title}: failed ({reason})"))
