"""Exact arithmetic of every figure in metrics.md, with a fake clock."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from xybrid_notebook.metrics import ChunkClock, EngineReport, RunIdentity

IDENTITY = RunIdentity("scripted", "m", "cpu")


class FakeClock:
    """Returns the given nanosecond readings in order."""

    def __init__(self, readings_ms: list[float]) -> None:
        self.readings = [int(ms * 1_000_000) for ms in readings_ms]

    def __call__(self) -> int:
        return self.readings.pop(0)


def run(readings_ms: list[float], tokens: list[int], report: EngineReport, finish: str = "stop"):
    """start, one stamp per chunk, stop: readings are t_start, t_1..t_n, t_end."""
    clock = ChunkClock(FakeClock(readings_ms))
    clock.start()
    for n in tokens:
        clock.stamp(n)
    clock.stop()
    return clock.build_output(["x"] * len(tokens), report, IDENTITY, finish)


def test_every_figure_matches_its_definition() -> None:
    # t_start=1000, chunks at 1100, 1110, 1130.5, 1160.5, t_end=1200 (ms)
    report = EngineReport(
        tokens_generated=6, prompt_tokens=50, prompt_cached_tokens=10, engine_decode_tps=99.0, engine_prefill_tps=500.0
    )
    out = run([1000, 1100, 1110, 1130.5, 1160.5, 1200], [1, 2, 1, 1], report)
    assert out.ttft_ms == pytest.approx(100.0)
    assert out.generation_time_ms == pytest.approx(200.0)
    assert out.emitted_chunks == 4
    assert out.chunk_offsets_ms == pytest.approx([100.0, 110.0, 130.5, 160.5])
    assert out.inter_chunk_ms == pytest.approx([10.0, 20.5, 30.0])
    assert out.mean_itl_ms == pytest.approx(60.5 / 3)
    gaps = np.array([10.0, 20.5, 30.0])
    assert out.p50_itl_ms == pytest.approx(20.5)
    assert out.p95_itl_ms == pytest.approx(20.5 + 0.9 * 9.5)  # linear interpolation
    assert out.p99_itl_ms == pytest.approx(float(np.percentile(gaps, 99)))
    # decode: (6 - chunk_tokens[1]=1) tokens over t_n - t_1 = 60.5 ms
    assert out.decode_tps == pytest.approx(5 / 0.0605)
    # prefill: (50 - 10) computed prompt tokens over TTFT 100 ms
    assert out.prefill_tps == pytest.approx(400.0)
    assert out.tokens_per_second == pytest.approx(6 / 0.2)
    assert out.engine_decode_tps == 99.0 and out.engine_prefill_tps == 500.0
    assert out.chunk_tokens == [1, 2, 1, 1]
    assert out.finish_reason == "stop"


def test_sub_millisecond_precision_is_kept() -> None:
    out = run([0, 4.25, 8.5, 12.75, 13.0], [1, 1, 1], EngineReport(tokens_generated=3))
    assert out.inter_chunk_ms == pytest.approx([4.25, 4.25])
    assert out.decode_tps == pytest.approx(2 / 0.0085)


def test_single_chunk_has_no_gap_figures() -> None:
    out = run([0, 5, 7], [3], EngineReport(tokens_generated=3, prompt_tokens=4))
    assert out.ttft_ms == pytest.approx(5.0)
    assert out.inter_chunk_ms == []
    assert out.mean_itl_ms is None and out.p95_itl_ms is None and out.decode_tps is None
    assert out.prefill_tps == pytest.approx(4 / 0.005)  # cached None counts as nothing reused


def test_no_chunk_has_no_ttft() -> None:
    out = run([0, 9], [], EngineReport(tokens_generated=0, prompt_tokens=4), finish="cancelled")
    assert out.ttft_ms is None and out.prefill_tps is None and out.emitted_chunks == 0
    assert out.finish_reason == "cancelled"
    assert out.tokens_per_second == 0.0


def test_gaps_plus_ttft_sum_to_the_last_offset() -> None:
    readings = [0.0] + list(np.cumsum(np.random.default_rng(1).uniform(1, 30, 200))) + [7000.0]
    out = run(readings, [1] * 200, EngineReport(tokens_generated=200))
    assert out.ttft_ms + sum(out.inter_chunk_ms) == pytest.approx(out.chunk_offsets_ms[-1])


def test_to_dict_is_json_safe() -> None:
    report = EngineReport(tokens_generated=2, engine_decode_tps=math.nan)
    out = run([0, 1, 2, 3], [1, 1], report)
    data = json.loads(json.dumps(out.to_dict(), allow_nan=False))
    assert data["engine_decode_tps"] is None
    assert data["inter_chunk_ms"] == pytest.approx([1.0])


def test_storage_is_twelve_bytes_per_chunk() -> None:
    clock = ChunkClock()
    clock.start()
    for _ in range(10_000):
        clock.stamp(1)
    held = clock.offsets_ns.itemsize + clock.chunk_tokens.itemsize
    assert held == 12
