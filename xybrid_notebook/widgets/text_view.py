"""The view where no widget frontend exists: text streams to stdout, one summary line at the end."""

from __future__ import annotations

import sys
from typing import Optional, TextIO

from ..live import LiveFigures, PlotData
from ..types import GenerationOutput
from .stats import stats_line


class TextView:
    """Prints new text as it arrives, then the summary line; needs nothing but a stream."""

    def __init__(self, stream: Optional[TextIO] = None) -> None:
        self._stream = stream
        self._printed = 0

    @property
    def stream(self) -> TextIO:
        """The output stream (stdout at call time, so IPython's capture sees it)."""
        return self._stream or sys.stdout

    def start(self, title: str) -> None:
        """Nothing to set up."""

    def show_text(self, text: str, final: bool) -> None:
        """Print only what is new since the last call."""
        if len(text) > self._printed:
            self.stream.write(text[self._printed :])
            self.stream.flush()
            self._printed = len(text)

    def show_progress(self, figures: Optional[LiveFigures], plot: Optional[PlotData]) -> None:
        """Progress lives in the streamed text itself."""

    def finish(self, output: GenerationOutput, plot: PlotData) -> None:
        """End the text and print one summary line (saying so when other processes took CPU)."""
        note = output.interference_note
        self.stream.write("\n" + stats_line(output) + ("" if note is None else f" | {note}") + "\n")
        self.stream.flush()
