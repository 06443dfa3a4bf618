"""The live side of a run, with no UI in it: throttles, running figures, point thinning.

Views (the widget run view, the text fallback) implement `RunView`; `LiveRun`
feeds them deltas (new text, new points) at a bounded rate whatever the token
rate, and the finished run once at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional, Protocol

import numpy as np

from .metrics import NS_PER_MS, ChunkClock, running_decode_tps, timing_figures
from .types import GenerationOutput, PartialToken

FLUSH_INTERVAL_S = 0.4  # one message per flush: 2.5 per second, whatever the token rate (the page needs >= 2)
LIVE_POINTS_PER_FLUSH = 500  # a flush carries at most this many new points (bucket maxima beyond)
MAX_PLOT_POINTS = 2000


_NO_POINTS = np.zeros(0)


class Throttle:
    """`due()` is true at most once per interval (and always on the first call)."""

    __slots__ = ("interval_s", "_now", "_next")

    def __init__(self, interval_s: float, now: Callable[[], float] = time.monotonic) -> None:
        self.interval_s, self._now, self._next = interval_s, now, 0.0

    def due(self) -> bool:
        """True if the interval has passed since the last true answer."""
        now = self._now()
        if now < self._next:
            return False
        self._next = now + self.interval_s
        return True


@dataclass
class LiveFigures:
    """The stats row while a run is under way (the final one comes from `GenerationOutput`)."""

    chunks: int
    tokens: int
    ttft_ms: Optional[float]
    mean_itl_ms: Optional[float]
    p50_itl_ms: Optional[float]
    p95_itl_ms: Optional[float]
    decode_tps: Optional[float]


@dataclass
class PlotData:
    """What the latency panel draws: chunk index, gap in ms, running decode rate (hover text comes
    from the chunks' spans in the page)."""

    index: np.ndarray
    gap_ms: np.ndarray
    decode_tps: np.ndarray
    ttft_ms: Optional[float]


def thin_points(n: int, cap: int = MAX_PLOT_POINTS, values: Optional[np.ndarray] = None) -> np.ndarray:
    """Indices of at most about `cap` of `n` points: the newest half kept whole, older ones
    bucketed keeping each bucket's largest value, so spikes survive thinning."""
    if n <= cap:
        return np.arange(n)
    recent = cap // 2
    older = n - recent
    buckets = cap - recent
    edges = np.linspace(0, older, buckets + 1).astype(np.int64)
    if values is None:
        picks = edges[:-1]
    else:
        picks = np.array([lo + int(np.argmax(values[lo:hi])) for lo, hi in zip(edges[:-1], edges[1:]) if hi > lo])
    return np.concatenate([picks, np.arange(older, n)])


def plot_data(offsets_ms: np.ndarray, tokens: np.ndarray, cap: int = MAX_PLOT_POINTS) -> PlotData:
    """Gap per chunk (x = chunk index of the later chunk), running decode rate, thinned to `cap`."""
    gaps = np.diff(offsets_ms)
    rates = running_decode_tps(offsets_ms, tokens)
    keep = thin_points(gaps.size, cap, gaps)
    index = keep + 1
    return PlotData(
        index=index.astype(np.float64),
        gap_ms=gaps[keep],
        decode_tps=rates[keep],
        ttft_ms=float(offsets_ms[0]) if offsets_ms.size else None,
    )


def output_plot_data(output: GenerationOutput) -> PlotData:
    """The panel's data for a finished run."""
    offsets = np.asarray(output.chunk_offsets_ms, dtype=np.float64)
    return plot_data(offsets, np.asarray(output.chunk_tokens, dtype=np.float64))


@dataclass
class LiveDelta:
    """What arrived since the previous flush: new chunks and new gap points (chunk index, gap, rate).

    `pieces` are the new chunks' texts (`text` joined), the first of them chunk number
    `first_chunk`; `chunks` holds one row per new chunk: the gap before it (the TTFT for
    chunk 0), its offset from the start in ms, and its token count.

    `restart` is true when a new attempt (a route fallback) began: the view drops what it showed.
    `figures` (the stats row) comes with every flush that has chunks, else None.
    """

    text: str
    text_start: int
    index: np.ndarray
    gap_ms: np.ndarray
    decode_tps: np.ndarray
    figures: Optional[LiveFigures]
    restart: bool
    pieces: list[str]
    chunks: np.ndarray
    first_chunk: int


def _chunk_rows(offsets: np.ndarray, tokens: np.ndarray, first: int) -> np.ndarray:
    """One row per chunk from `first` on: the gap before it (the TTFT for chunk 0), its offset, its tokens."""
    gaps = np.diff(offsets, prepend=0.0)
    return np.column_stack([gaps[first:], offsets[first:], tokens[first:]])


class RunView(Protocol):
    """What a view of a run must do; `LiveRun` decides when."""

    #: Whether the view draws the latency chart (when not, no chart points are built).
    plot: bool

    def start(self, title: str) -> None: ...
    def update(self, delta: LiveDelta) -> None: ...
    def finish(self, output: GenerationOutput, plot: PlotData) -> None: ...
    def abandon(self, reason: str) -> None: ...


class LiveRun:
    """Feeds a `RunView` from the core's chunk callback: one delta per flush, at a bounded rate."""

    def __init__(
        self,
        view: RunView,
        clock: ChunkClock,
        now: Callable[[], float] = time.monotonic,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        plot: bool = True,
    ) -> None:
        self.view, self.clock, self.plot = view, clock, plot
        self._flush_due = Throttle(flush_interval_s, now).due
        self._pieces: list[str] = []
        self._restart = False
        self._reset_sent()

    def _reset_sent(self) -> None:
        self._pieces_sent = 0
        self._chars_sent = 0
        self._points_sent = 1  # gap k is the gap before chunk k; chunk 0 has none

    def on_token(self, token: PartialToken) -> None:
        """The per-chunk hot path: remember the piece, flush only when the throttle is due."""
        if token.index == 0 and self._pieces:  # a new attempt (a route fallback) starts over
            self._pieces.clear()
            self._reset_sent()
            self._restart = True
        self._pieces.append(token.token)
        if self._flush_due():
            self.view.update(self.delta())

    def delta(self) -> LiveDelta:
        """Everything new since the previous delta (and advance past it)."""
        n, first = len(self._pieces), self._pieces_sent
        pieces = self._pieces[first:]
        text = "".join(pieces)
        start = self._chars_sent
        self._pieces_sent, self._chars_sent = n, start + len(text)
        offsets, tokens = self._arrays()
        chunks = _chunk_rows(offsets, tokens, first)
        index, gaps, rates = self._new_points(offsets, tokens) if self.plot else (_NO_POINTS, _NO_POINTS, _NO_POINTS)
        restart, self._restart = self._restart, False
        figures = self._figures(offsets, tokens) if n else None
        return LiveDelta(text, start, index, gaps, rates, figures, restart, pieces, chunks, first)

    def _new_points(self, offsets: np.ndarray, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The gaps and running decode rates of chunks not sent yet (at most a flush's worth, spikes kept)."""
        n, k0 = offsets.size, self._points_sent
        if n <= k0:
            return _NO_POINTS, _NO_POINTS, _NO_POINTS
        gaps = np.diff(offsets)[k0 - 1 :]
        rates = running_decode_tps(offsets, tokens)[k0 - 1 :]
        self._points_sent = n
        keep = thin_points(gaps.size, LIVE_POINTS_PER_FLUSH, gaps)
        return (keep + k0).astype(np.float64), gaps[keep], rates[keep]

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self._pieces)
        offsets = np.frombuffer(self.clock.offsets_ns, dtype=np.int64)[:n] / NS_PER_MS
        tokens = np.frombuffer(self.clock.chunk_tokens, dtype=np.uint32)[:n].astype(np.float64)
        return offsets, tokens

    def figures(self) -> LiveFigures:
        """Running figures from the chunks so far, by the same definitions as the final ones."""
        return self._figures(*self._arrays())

    @staticmethod
    def _figures(offsets: np.ndarray, tokens: np.ndarray) -> LiveFigures:
        delivered = int(tokens.sum())
        timing = timing_figures(offsets, tokens, delivered)
        return LiveFigures(
            chunks=offsets.size,
            tokens=delivered,
            ttft_ms=timing.ttft_ms,
            mean_itl_ms=timing.mean_itl_ms,
            p50_itl_ms=timing.p50_itl_ms,
            p95_itl_ms=timing.p95_itl_ms,
            decode_tps=timing.decode_tps,
        )

    def finish(self, output: GenerationOutput) -> None:
        """The end: the view gets the finished run (full text, every figure, the capped plot)."""
        self.view.finish(output, output_plot_data(output))

    def abandon(self, reason: str) -> None:
        """The run ended without any output (stopped or failed before it began)."""
        self.view.abandon(reason)
