"""The one clock: chunk timestamps in, `GenerationOutput` figures out.

Definitions follow metrics.md exactly. Nothing here knows about UIs or engines.
Timestamps are kept as integer nanosecond offsets from `t_start` in an
`array('q')` and token counts in an `array('I')`: 12 bytes per chunk.

`PhaseClock` splits each gap into phases on the same clock: a backend names the
phase it enters (`enter`), and the stamp that closes a chunk closes the open phase
with the same reading, so a chunk's phases sum to its gap by construction. What no
phase claims is `client`. It keeps 16 bytes per chunk at most (three phases and the
process's CPU time over the gap, in whole microseconds).
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, TypeVar, Union

import numpy as np

from .types import GenerationOutput

NS_PER_MS = 1_000_000.0
NS_PER_S = 1_000_000_000.0
NS_PER_US = 1_000
CLIENT = "client"  # what no phase claims: our loop, the core, the listeners, the hand-off to the view
STALL_SHARE = 0.6  # a decode whose CPU share is below this fraction of the run's median share ...
STALL_GAP = 1.5  # ... and whose gap is above this multiple of the run's median gap is a stall
MIN_USUAL_SHARE = 0.25  # below it the engine does not compute in this process (a GPU, a stand-in): no stalls
ItemT = TypeVar("ItemT")


@dataclass
class EngineReport:
    """What the engine itself says about a run; filled by a backend while it streams."""

    tokens_generated: int = 0
    prompt_tokens: int = 0
    prompt_cached_tokens: Optional[int] = None
    engine_decode_tps: Optional[float] = None
    engine_prefill_tps: Optional[float] = None
    finish_reason: str = "stop"
    #: One line on what the phases could not split (e.g. a server that reports no per-token timings).
    phase_note: Optional[str] = None
    #: A backend whose server times itself splits our phases further once the run ends (see `refine_phases`).
    phase_refiner: Optional[Callable[[dict[str, list[float]]], dict[str, list[float]]]] = field(
        default=None, repr=False
    )

    def refine_phases(self, phases_ms: dict[str, list[float]]) -> dict[str, list[float]]:
        """The phases as measured, split further by what the engine or server reported about itself."""
        return self.phase_refiner(phases_ms) if self.phase_refiner is not None and phases_ms else phases_ms


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
        self,
        pieces: Sequence[str],
        report: EngineReport,
        identity: RunIdentity,
        finish_reason: str,
        phases: Optional[PhaseClock] = None,
    ) -> GenerationOutput:
        """Turn the timestamps, the chunks' text, the phases and the engine's report into every figure of metrics.md."""
        if self.t_end is None:
            self.stop()
        assert self.t_end is not None
        offsets_ns = np.frombuffer(self.offsets_ns, dtype=np.int64) if self.offsets_ns else np.zeros(0, np.int64)
        offsets_ms = offsets_ns / NS_PER_MS
        phases_ms: dict[str, list[float]] = {}
        stalls: list[dict[str, Any]] = []
        if phases is not None and offsets_ms.size:
            gaps_ms = np.diff(offsets_ms, prepend=0.0)
            phases_ms = report.refine_phases(phases.phases_ms(gaps_ms))
            stalls = find_stalls(gaps_ms, phases.cpu_shares(gaps_ms))
        return build_generation_output(
            phases_ms=phases_ms,
            stalls=stalls,
            offsets_ms=offsets_ms,
            chunk_tokens=list(self.chunk_tokens),
            generation_time_ms=(self.t_end - self.t_start) / NS_PER_MS,
            chunk_texts=list(pieces),
            report=report,
            identity=identity,
            finish_reason=finish_reason,
        )


@dataclass(frozen=True)
class PhasePlan:
    """The phases a backend marks, in order: `first` only before the first chunk, `repeating` in every chunk.

    `cpu`: read the process's CPU time at every chunk (the engine computes in this process,
    so its CPU share over each gap can tell a stall). At most three repeating phases, to keep
    16 bytes per chunk.
    """

    first: tuple[str, ...] = ("prepare",)
    repeating: tuple[str, ...] = ()
    cpu: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """Every marked phase, in order (`client` is not marked: it is what none of them claims)."""
        return self.first + self.repeating


_U32_MAX = 2**32 - 1


class PhaseClock:
    """Splits every chunk's gap into named phases, read from the `ChunkClock` it wraps.

    `start()` starts the chunk clock and opens the first phase; a backend calls
    `enter(index)` at each boundary; `stamp()` stamps the chunk, closes the open phase
    with the same reading, keeps the chunk's phases (whole microseconds) and, with
    `plan.cpu`, the process's CPU time since the previous chunk, then opens `client`.
    """

    __slots__ = (
        "plan",
        "threads",
        "_clock",
        "_now",
        "_cpu_now",
        "_acc",
        "_zeros",
        "_open",
        "_since",
        "_cpu_last",
        "_keep",
        "first_ns",
        "per_chunk_us",
        "cpu_us",
    )

    def __init__(
        self,
        clock: ChunkClock,
        plan: PhasePlan = PhasePlan(),
        threads: int = 1,
        cpu_now: Callable[[], int] = time.process_time_ns,
    ) -> None:
        self.plan, self.threads = plan, threads
        self._clock, self._now, self._cpu_now = clock, clock._now, cpu_now
        self._zeros = [0] * (len(plan.names) + 1)  # the last slot is `client`
        self._acc = self._zeros.copy()
        self._open, self._since, self._cpu_last = 0, 0, 0
        self.first_ns: Optional[list[int]] = None
        self.per_chunk_us = [array("I") for _ in plan.repeating]
        self.cpu_us = array("I")
        offset = len(plan.first)
        self._keep = tuple((values.append, offset + k) for k, values in enumerate(self.per_chunk_us))

    @property
    def clock(self) -> ChunkClock:
        """The chunk clock whose readings the phases share."""
        return self._clock

    def index(self, name: str) -> int:
        """The index `enter` takes for a phase of the plan (`client` is the last)."""
        return len(self.plan.names) if name == CLIENT else self.plan.names.index(name)

    def start(self) -> None:
        """Start the chunk clock (a new run) and open the first phase."""
        clock = self._clock
        clock.start()
        self._acc = self._zeros.copy()
        self._open, self._since = 0, clock.t_start
        self._cpu_last = self._cpu_now() if self.plan.cpu else 0
        self.first_ns = None
        for values in (*self.per_chunk_us, self.cpu_us):
            del values[:]

    def enter(self, phase: int) -> None:
        """Close the open phase now and open `phase`."""
        now = self._now()
        self._acc[self._open] += now - self._since
        self._open, self._since = phase, now

    def timed(self, items: Iterable[ItemT], phase: int, after: int) -> Iterator[ItemT]:
        """Yield from `items`, each wait for the next one timed as `phase`, then `after` entered."""
        iterator, enter = iter(items), self.enter
        while True:
            enter(phase)
            try:
                item = next(iterator)
            except StopIteration:
                enter(after)
                return
            enter(after)
            yield item

    def stamp(self, n_tokens: int = 1) -> int:
        """Stamp a chunk on the chunk clock and close its phases with that same reading; open `client`."""
        clock = self._clock
        offset = clock.stamp(n_tokens)
        now = clock.t_start + offset
        acc = self._acc
        acc[self._open] += now - self._since
        if self.first_ns is None:
            self.first_ns = acc
        try:
            for keep, j in self._keep:
                keep(acc[j] // NS_PER_US)
            if self.plan.cpu:
                cpu = self._cpu_now()
                self.cpu_us.append((cpu - self._cpu_last) // NS_PER_US)
                self._cpu_last = cpu
        except OverflowError:  # a chunk over 71 minutes (a suspended machine): its phases are lost, not the run
            self._pad()
        self._acc = self._zeros.copy()
        self._open, self._since = len(acc) - 1, now
        return offset

    def _pad(self) -> None:
        n = self._clock.emitted_chunks
        for values in self.per_chunk_us:
            values.extend([_U32_MAX] * (n - len(values)))
        if self.plan.cpu:
            self.cpu_us.extend([0] * (n - len(self.cpu_us)))

    def phases_ms(self, gaps_ms: np.ndarray) -> dict[str, list[float]]:
        """Phase name -> one value per chunk in ms (0.0 where it does not apply); `client` takes the rest."""
        n = gaps_ms.size
        if n == 0 or self.first_ns is None:
            return {}
        phases: dict[str, np.ndarray] = {}
        for j, name in enumerate(self.plan.first):
            values = np.zeros(n)
            values[0] = self.first_ns[j] / NS_PER_MS
            phases[name] = values
        for values_us, name in zip(self.per_chunk_us, self.plan.repeating):
            phases[name] = np.frombuffer(values_us, dtype=np.uint32)[:n] / 1000.0
        claimed = np.sum(list(phases.values()), axis=0)
        phases[CLIENT] = gaps_ms - claimed
        return {name: values.tolist() for name, values in phases.items()}

    def cpu_shares(self, gaps_ms: np.ndarray) -> Optional[np.ndarray]:
        """Per chunk, the process's CPU time over its gap x the engine's threads (NaN: no gap); None without CPU."""
        n = gaps_ms.size
        if not self.plan.cpu or n == 0 or len(self.cpu_us) < n:
            return None
        cpu_ms = np.frombuffer(self.cpu_us, dtype=np.uint32)[:n] / 1000.0
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(gaps_ms > 0, cpu_ms / (gaps_ms * max(self.threads, 1)), np.nan)


def find_stalls(gaps_ms: np.ndarray, shares: Optional[np.ndarray]) -> list[dict[str, Any]]:
    """The chunks (after the first) whose engine got well under its usual CPU share while their gap grew.

    A stall: CPU share below `STALL_SHARE` x the run's median share, and a gap above
    `STALL_GAP` x the run's median gap; none where the median share is below
    `MIN_USUAL_SHARE` (the engine does not compute on this process's CPU). `others` is
    filled later by whoever knows what else ran.
    """
    if shares is None or gaps_ms.size < 3:
        return []
    later_shares, later_gaps = shares[1:], gaps_ms[1:]
    known = np.isfinite(later_shares)
    if known.sum() < 2:
        return []
    usual_share = float(np.median(later_shares[known]))
    if usual_share < MIN_USUAL_SHARE:
        return []
    usual_gap = float(np.median(later_gaps))
    with np.errstate(invalid="ignore"):
        flagged = known & (later_shares < STALL_SHARE * usual_share) & (later_gaps > STALL_GAP * usual_gap)
    return [
        {"index": int(k + 1), "gap_ms": float(later_gaps[k]), "cpu_share": float(later_shares[k]), "others": []}
        for k in np.flatnonzero(flagged)
    ]


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
    phases_ms: Optional[dict[str, list[float]]] = None,
    stalls: Optional[list[dict[str, Any]]] = None,
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
        phase_note=report.phase_note,
        backend=identity.backend,
        model_id=identity.model_id,
        execution_provider=identity.execution_provider,
        engine_settings=identity.engine_settings,
        chunk_offsets_ms=offsets_ms.tolist(),
        chunk_tokens=list(chunk_tokens),
        chunk_texts=chunk_texts,
        phases_ms=phases_ms or {},
        stalls=stalls or [],
    )
