"""Latency on the text itself: each chunk with its gap, shaded against its own run's p50 and p95.

The first chunk carries the TTFT instead of a gap and is never shaded: it holds the
prefill, which the decode gaps' scale says nothing about. Views (the run widget, its
static HTML, the ANSI text fallback) all take their shading from `GapScale.level`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from .types import GenerationOutput

SHADE_RGB = (230, 85, 13)  # the slow end of the scale; the JavaScript view uses the same colour
SHADE_MAX_ALPHA = 0.55
DEFAULT_SLOWEST = 10
GAP_DECIMALS = 2  # gaps are shown, and shaded, as rounded to this many decimals of a millisecond


@dataclass(frozen=True)
class GapScale:
    """A run's shading scale: gaps at or below `p50_ms` are neutral, at or above `p95_ms` strongest."""

    p50_ms: float
    p95_ms: float

    def level(self, gap_ms: float) -> float:
        """How slow a gap is on this scale, from 0 (at or below p50) to 1 (at or above p95)."""
        if gap_ms <= self.p50_ms:
            return 0.0
        if self.p95_ms <= self.p50_ms or gap_ms >= self.p95_ms:
            return 1.0
        return (gap_ms - self.p50_ms) / (self.p95_ms - self.p50_ms)

    def css_background(self, gap_ms: float) -> Optional[str]:
        """The CSS background of a chunk with this gap; None where it stays neutral."""
        alpha = round(self.level(gap_ms) * SHADE_MAX_ALPHA, 2)
        if alpha <= 0:
            return None
        r, g, b = SHADE_RGB
        return f"rgba({r},{g},{b},{alpha:g})"

    @classmethod
    def of(cls, output: GenerationOutput) -> Optional[GapScale]:
        """The scale of a finished run; None if it has fewer than two chunks (no gaps)."""
        if output.p50_itl_ms is None or output.p95_itl_ms is None:
            return None
        return cls(output.p50_itl_ms, output.p95_itl_ms)


@dataclass(frozen=True)
class ChunkTiming:
    """One chunk of a run: its text, the gap before it (the TTFT for chunk 0), tokens and offset."""

    index: int
    text: str
    gap_ms: float
    tokens: int
    offset_ms: float

    @property
    def is_first(self) -> bool:
        """True for chunk 0, whose `gap_ms` is the time to first token."""
        return self.index == 0

    @property
    def shown_gap_ms(self) -> float:
        """The gap as a page shows it (and shades it: the page has only the shown figure)."""
        return round(self.gap_ms, GAP_DECIMALS)


def chunk_timings(output: GenerationOutput) -> list[ChunkTiming]:
    """Every chunk of the run with its timing; empty where the chunks' text was not kept.

    An interrupt can land between a chunk's timestamp and its text being kept: that last
    timestamp has no text and is left out.
    """
    n = min(len(output.chunk_offsets_ms), len(output.chunk_texts))
    offsets, texts = output.chunk_offsets_ms[:n], output.chunk_texts[:n]
    tokens = output.chunk_tokens[:n] if len(output.chunk_tokens) >= n else [1] * n
    previous = [0.0, *offsets[:-1]]
    return [
        ChunkTiming(i, text, offset - before, count, offset)
        for i, (text, offset, before, count) in enumerate(zip(texts, offsets, previous, tokens))
    ]


def preview(text: str) -> str:
    """A chunk's text on one line, at most 40 characters (a newline shows as ⏎)."""
    return text.replace("\n", "⏎")[:40]


def slowest_chunks(output: GenerationOutput, n: int = DEFAULT_SLOWEST) -> list[ChunkTiming]:
    """The `n` chunks after the longest gaps (chunk 0, which holds the TTFT, is not among them)."""
    return slowest_of(chunk_timings(output), n)


def slowest_of(chunks: Sequence[ChunkTiming], n: int = DEFAULT_SLOWEST) -> list[ChunkTiming]:
    """`slowest_chunks` of chunks already split out of their run."""
    return sorted(chunks[1:], key=lambda chunk: (-chunk.gap_ms, chunk.index))[:n]
