"""2 and 4a: per-chunk cost of the core (timing + dispatch), with and without the run view; bytes per chunk."""

from __future__ import annotations

import time
from typing import Any

from xybrid_notebook import GenerationConfig, LlmConfig
from xybrid_notebook.backends.scripted import Script, ScriptedBackend
from xybrid_notebook.live import LiveRun
from xybrid_notebook.metrics import ChunkClock

N_CHUNKS = 100_000


def _scripted(n: int) -> ScriptedBackend:
    backend = ScriptedBackend(Script(chunks=["tok "] * n))
    backend.load(LlmConfig("scripted.gguf"))
    return backend


def _per_chunk_us(run: Any, n: int, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def per_chunk_cost(n: int = N_CHUNKS) -> dict[str, Any]:
    """Microseconds per chunk: the engine loop alone, + the core, + the core and the dashboard."""
    from xybrid_notebook.widgets.run_view import WidgetView

    backend = _scripted(n)
    config = GenerationConfig(max_tokens=n)

    def engine_only() -> None:
        from xybrid_notebook.metrics import EngineReport

        for _ in backend._stream("go", config, EngineReport()):
            pass

    def core() -> None:
        backend.generate_raw_streaming("go", config, lambda token: None)

    def with_dashboard() -> None:
        clock = ChunkClock()
        live = LiveRun(WidgetView(), clock)
        out = backend.generate_raw_streaming("go", config, live.on_token, clock=clock)
        live.finish(out)

    engine = _per_chunk_us(engine_only, n)
    core_us = _per_chunk_us(core, n)
    dash_us = _per_chunk_us(with_dashboard, n)
    return {
        "chunks": n,
        "engine_loop_us": engine,
        "core_us": core_us - engine,
        "core_and_dashboard_us": dash_us - engine,
        "target_core_us": 5.0,
        "target_dashboard_us": 20.0,
    }


def bytes_per_chunk(n: int = 1_000_000) -> dict[str, Any]:
    """Bytes the clock holds per chunk after a million chunks (array storage, over-allocation included)."""
    clock = ChunkClock()
    clock.start()
    for _ in range(n):
        clock.stamp(1)
    held = sum(a.buffer_info()[1] * a.itemsize for a in (clock.offsets_ns, clock.chunk_tokens))
    return {"chunks": n, "bytes_per_chunk": held / n, "megabytes": held / 1e6, "target_bytes_per_chunk": 16}
