"""The view where no widget frontend exists: text streams to stdout, one summary line at the end."""

from __future__ import annotations

import sys
from typing import Optional, TextIO

from ..live import LiveDelta, PlotData
from ..types import GenerationOutput


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

    def update(self, delta: LiveDelta) -> None:
        """Print the new text (a restarted attempt starts on a new line)."""
        if delta.restart and self._printed:
            self.stream.write("\n")
            self._printed = 0
        if delta.text:
            self.stream.write(delta.text)
            self.stream.flush()
            self._printed += len(delta.text)

    def finish(self, output: GenerationOutput, plot: PlotData) -> None:
        """Print whatever text is left, then the one-line summary (which names any interference)."""
        self.stream.write(output.text[self._printed :] + "\n" + output.summary() + "\n")
        self.stream.flush()

    def abandon(self, reason: str) -> None:
        """Nothing was printed for the run; the caller says why."""
