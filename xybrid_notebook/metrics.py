"""The one clock: chunk timestamps in, `GenerationOutput` figures out.

Definitions follow metrics.md exactly. Nothing here knows about UIs or engines.
Timestamps are kept as integer nanosecond offsets from `t_start` in an
`array('q')` and token counts in an `array('I')`: 12 bytes per chunk.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from .types import GenerationOutput

NS_PER_MS = 1_000_000.0
NS_PER_S = 1_000_000_000.0


@dataclass
class EngineReport:
    """What the engine itself says about a run; filled by a backend while it streams."""

    tokens_generated: int = 0
    prompt_tokens: int = 0
    prompt_cached_tokens: Optional[int] = None
    engine_decode_tps: Optional[float] = None
    engine_prefill_tps: Optional[float] = None
    finish_reason: str = "stop"


@dataclass(frozen=True)
class RunIdentity:
    """Which engine ran which model, and where."""

    backend: str
    model_id: str
    execution_provider: str
    engine_settings: Optional[str] = None


class ChunkClock:
    """Timestamps a stream of chunks: `start()`, `stamp()` per chunk, `stop()`."""

    __slots__ = ("_now", "t_start", "t_end", "offsets_ns", "chunk_tokens")

    def __init__(self, now: Callable[[], int] = time.perf_counter_ns) -> None:
        self._now = now
        self.t_start = 0
        self.t_end: Optional[int] = None
        self.offsets_ns = array("q")
        self.chunk_tokens = array("I")

    def reset(self) -> None:
        """Forget any earlier run: `finished` is False until a stream started with this clock has ended."""
        self.t_end = None

    @property
    def finished(self) -> bool:
        """True once a stream timed by this clock has ended (normally or not)."""
        return self.t_end is not None

    def start(self) -> None:
        """Take `t_start`: right before the backend is asked to generate (a new run: no chunks yet)."""
        del self.offsets_ns[:], self.chunk_tokens[:]
        self.t_end = None
        self.t_start = self._now()

    def stamp(self, n_tokens: int = 1) -> int:
        """Take `t_i` for a chunk that just arrived; return its offset in ns."""
        offset = self._now() - self.t_start
        self.offsets_ns.append(offset)
        self.chunk_tokens.append(n_tokens)
        return offset

    def stop(self) -> None:
        """Take `t_end`: the backend's stream has ended, for whatever reason."""
        self.t_end = self._now()

    @property
    def emitted_chunks(self) -> int:
        """Chunks stamped so far."""
        return len(self.offsets_ns)

    def build_output(
        self, pieces: Sequence[str], report: EngineReport, identity: RunIdentity, finish_reason: str
    ) -> GenerationOutput:
        """Turn the timestamps, the chunks' text and the engine's report into every figure of metrics.md."""
        if self.t_end is None:
            self.stop()
        assert self.t_end is not None
        offsets_ns = np.frombuffer(self.offsets_ns, dtype=np.int64) if self.offsets_ns else np.zeros(0, np.int64)
        return build_generation_output(
            offsets_ms=offsets_ns / NS_PER_MS,
            chunk_tokens=list(self.chunk_tokens),
            generation_time_ms=(self.t_end - self.t_start) / NS_PER_MS,
            chunk_texts=list(pieces),
            report=report,
            identity=identity,
            finish_reason=finish_reason,
        )


def itl_percentiles(gaps_ms: np.ndarray) -> tuple[Optional[float], ...]:
    """p50, p95, p99 of the gaps by linear interpolation; Nones if there are none."""
    if gaps_ms.size == 0:
        return (None, None, None)
    return tuple(float(v) for v in np.percentile(gaps_ms, [50, 95, 99]))


def _rate(amount: float, duration_ms: Optional[float]) -> Optional[float]:
    if duration_ms is None or duration_ms <= 0:
        return None
    return amount / (duration_ms / 1000.0)


@dataclass(frozen=True)
class TimingFigures:
    """The figures that come from chunk timestamps alone (see docs/metrics.md)."""

    ttft_ms: Optional[float]
    mean_itl_ms: Optional[float]
    p50_itl_ms: Optional[float]
    p95_itl_ms: Optional[float]
    p99_itl_ms: Optional[float]
    decode_tps: Optional[float]


def timing_figures(
    offsets_ms: np.ndarray, chunk_tokens: Union[Sequence[int], np.ndarray], tokens_generated: float
) -> TimingFigures:
    """TTFT, inter-chunk mean and percentiles, and `decode_tps = (tokens - chunk_tokens[0]) / (t_n - t_1)`.

    The one definition of each, for a finished run and for a run under way alike.
    """
    n = int(offsets_ms.size)
    gaps = np.diff(offsets_ms)
    p50, p95, p99 = itl_percentiles(gaps)
    decode = _rate(tokens_generated - chunk_tokens[0], float(offsets_ms[-1] - offsets_ms[0])) if n >= 2 else None
    return TimingFigures(
        ttft_ms=float(offsets_ms[0]) if n else None,
        mean_itl_ms=float(gaps.mean()) if n >= 2 else None,
        p50_itl_ms=p50,
        p95_itl_ms=p95,
        p99_itl_ms=p99,
        decode_tps=decode,
    )


def running_decode_tps(offsets_ms: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """`decode_tps` as it stood after each chunk k >= 2: tokens after the first chunk over t_k - t_1."""
    if offsets_ms.size < 2:
        return np.zeros(0)
    elapsed_s = (offsets_ms[1:] - offsets_ms[0]) / 1000.0
    decoded = np.cumsum(tokens[1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(elapsed_s > 0, decoded / elapsed_s, np.nan)
    return rate


def build_generation_output(
    *,
    offsets_ms: np.ndarray,
    chunk_tokens: Sequence[int],
    generation_time_ms: float,
    chunk_texts: list[str],
    report: EngineReport,
    identity: RunIdentity,
    finish_reason: str,
) -> GenerationOutput:
    """Compute the figures from chunk offsets (ms since `t_start`) and the engine report."""
    n = int(offsets_ms.size)
    gaps = np.diff(offsets_ms)
    timing = timing_figures(offsets_ms, chunk_tokens, report.tokens_generated)
    computed_prompt = report.prompt_tokens - (report.prompt_cached_tokens or 0)
    return GenerationOutput(
        text="".join(chunk_texts),
        tokens_generated=report.tokens_generated,
        prompt_tokens=report.prompt_tokens,
        prompt_cached_tokens=report.prompt_cached_tokens,
        generation_time_ms=generation_time_ms,
        tokens_per_second=_rate(report.tokens_generated, generation_time_ms) or 0.0,
        ttft_ms=timing.ttft_ms,
        emitted_chunks=n,
        inter_chunk_ms=gaps.tolist(),
        mean_itl_ms=timing.mean_itl_ms,
        p50_itl_ms=timing.p50_itl_ms,
        p95_itl_ms=timing.p95_itl_ms,
        p99_itl_ms=timing.p99_itl_ms,
        decode_tps=timing.decode_tps,
        prefill_tps=_rate(computed_prompt, timing.ttft_ms) if report.prompt_tokens else None,
        engine_decode_tps=report.engine_decode_tps,
        engine_prefill_tps=report.engine_prefill_tps,
        finish_reason=finish_reason,
        backend=identity.backend,
        model_id=identity.model_id,
        execution_provider=identity.execution_provider,
        engine_settings=identity.engine_settings,
        chunk_offsets_ms=offsets_ms.tolist(),
        chunk_tokens=list(chunk_tokens),
        chunk_texts=chunk_texts,
    )
