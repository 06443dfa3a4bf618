"""The view where no widget frontend exists: text streams to stdout, one summary line at the end.

With `color_gaps`, the finished text is printed once more below the stream, each chunk's
background shaded by its gap in ANSI 256 colours, with a legend line.
"""

from __future__ import annotations

import sys
from typing import Optional, TextIO

from ..gap_shading import GapScale, chunk_timings
from ..live import LiveDelta, PlotData
from ..types import GenerationOutput

ANSI_STEPS = (223, 216, 209, 202)  # xterm-256 backgrounds from light to strong, on the p50..p95 scale
ANSI_RESET = "\x1b[0m"
ANSI_UNDERLINE = "\x1b[4m"


def _ansi_background(colour: int) -> str:
    return f"\x1b[30;48;5;{colour}m"


def ansi_step(level: float) -> Optional[int]:
    """The ANSI background for a level of the scale (0 neutral, 1 strongest); None when neutral."""
    if level <= 0:
        return None
    return ANSI_STEPS[min(len(ANSI_STEPS) - 1, int(level * len(ANSI_STEPS) - 1e-9))]


def ansi_shaded_text(output: GenerationOutput) -> Optional[str]:
    """The run's text with each chunk shaded by its gap, and a legend line; None if it has no gaps."""
    scale, chunks = GapScale.of(output), chunk_timings(output)
    if scale is None or not chunks:
        return None
    parts = []
    for chunk in chunks:
        colour = None if chunk.is_first else ansi_step(scale.level(chunk.shown_gap_ms))
        style = ANSI_UNDERLINE if chunk.is_first else _ansi_background(colour) if colour is not None else ""
        parts.append(_styled(chunk.text, style))
    return "".join(parts) + "\n" + ansi_legend(scale)


def _styled(text: str, style: str) -> str:
    """`text` in `style`, line by line: a background left on across a newline would paint the next line."""
    if not style:
        return text
    return "\n".join(f"{style}{line}{ANSI_RESET}" if line else "" for line in text.split("\n"))


def ansi_legend(scale: GapScale) -> str:
    """One line: the swatches from neutral to strongest, the run's p50 and p95, the first chunk's mark."""
    swatches = "".join(f"{_ansi_background(colour)}  {ANSI_RESET}" for colour in ANSI_STEPS)
    return (
        f"gap shading: p50 {scale.p50_ms:.1f} ms and below plain, {swatches} up to p95 {scale.p95_ms:.1f} ms "
        f"and above; {ANSI_UNDERLINE}underlined{ANSI_RESET}: the first chunk (TTFT)"
    )


class TextView:
    """Prints new text as it arrives, then the summary line; needs nothing but a stream."""

    #: Text draws no chart, so the live run builds no chart points for it.
    plot = False

    def __init__(self, stream: Optional[TextIO] = None, color_gaps: bool = False) -> None:
        self._stream = stream
        self._printed = 0
        self.color_gaps = color_gaps

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
        """Print whatever text is left, the shaded text if asked, the one-line summary and where the time went."""
        self.stream.write(output.text[self._printed :] + "\n")
        shaded = ansi_shaded_text(output) if self.color_gaps else None
        if shaded:
            self.stream.write("\n" + shaded + "\n")
        self.stream.write(output.summary() + "\n")
        if output.where_time_went:
            self.stream.write(f"where the time went: {output.where_time_went}\n")
        self.stream.flush()

    def abandon(self, reason: str) -> None:
        """Nothing was printed for the run; the caller says why."""
