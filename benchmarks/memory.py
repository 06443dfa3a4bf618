"""4b: RSS growth over 200 consecutive short generations on the real model."""

from __future__ import annotations

from typing import Any

import psutil

from xybrid_notebook.backends.native_output import release_native_memory
from xybrid_notebook.session import Session

from .common import BENCH_MODEL


def rss_over_generations(runs: int = 200, tokens: int = 8) -> dict[str, Any]:
    """Load once, warm up, then measure RSS before and after `runs` generations recorded in history."""
    session = Session()
    session.load(BENCH_MODEL)
    process = psutil.Process()
    for _ in range(5):
        session.generate("Once upon a time", mode="raw", max_tokens=tokens, temperature=0)
    release_native_memory()  # read what the process holds, not what glibc caches for reuse
    before = process.memory_info().rss
    for i in range(runs):
        session.generate(f"Story number {i}: once upon a time", mode="raw", max_tokens=tokens, temperature=0)
    untrimmed = process.memory_info().rss
    release_native_memory()
    after = process.memory_info().rss
    session.unload()
    return {
        "runs": runs,
        "tokens_per_run": tokens,
        "rss_growth_mb": (after - before) / 2**20,
        "rss_growth_before_trim_mb": (untrimmed - before) / 2**20,
        "history_length": len(session.history),
        "target_mb": 50,
    }
