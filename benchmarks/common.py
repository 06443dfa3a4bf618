"""Shared helpers: timing of bare loops, alternating A/B rounds, medians, machine facts."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Optional

# The benchmarks measure the pretrained Gemma 3 270M (the README tables); named, not the default.
BENCH_MODEL = "gemma3-270m"
PROMPT = "The history of the bicycle began"


@dataclass
class StreamTiming:
    """TTFT and client decode rate of one streamed run, as metrics.md defines them."""

    ttft_ms: float
    decode_tps: Optional[float]
    chunks: int
    engine_decode_tps: Optional[float] = None


def time_stream(chunks: Sequence[object] | object, tokens_of: Callable[[object], int] = lambda c: 1) -> StreamTiming:
    """Consume an iterator of engine chunks, stamping each the way the core does."""
    start = time.perf_counter_ns()
    stamps: list[int] = []
    tokens: list[int] = []
    for chunk in chunks:  # type: ignore[union-attr]
        n = tokens_of(chunk)
        if n:
            stamps.append(time.perf_counter_ns())
            tokens.append(n)
    ttft = (stamps[0] - start) / 1e6
    decode = None
    if len(stamps) > 1 and stamps[-1] > stamps[0]:
        decode = (sum(tokens) - tokens[0]) / ((stamps[-1] - stamps[0]) / 1e9)
    return StreamTiming(ttft, decode, len(stamps))


def alternate(
    rounds: int, runs: dict[str, Callable[[], StreamTiming]], warmup: int = 1
) -> dict[str, list[StreamTiming]]:
    """Run each variant in turn (A, B, C, A, B, C, ...) after `warmup` rounds that are discarded."""
    results: dict[str, list[StreamTiming]] = {name: [] for name in runs}
    for round_index in range(warmup + rounds):
        for name, run in runs.items():
            timing = run()
            if round_index >= warmup:
                results[name].append(timing)
    return results


def median(values: Sequence[Optional[float]]) -> Optional[float]:
    """Median of the values that exist."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(results: dict[str, list[StreamTiming]]) -> dict[str, dict[str, Optional[float]]]:
    """Median TTFT and decode rate per variant."""
    return {
        name: {
            "ttft_ms": median([t.ttft_ms for t in runs]),
            "decode_tps": median([t.decode_tps for t in runs]),
            "engine_decode_tps": median([t.engine_decode_tps for t in runs]),
            "runs": len(runs),
        }
        for name, runs in results.items()
    }


def machine() -> dict[str, object]:
    """Cores, CPU model, memory, Python."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
