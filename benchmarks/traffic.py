"""3: widget traffic during a run at the scripted backend's top rate, in a real kernel."""

from __future__ import annotations

from typing import Any

from .kernel import BenchKernel

SETUP = """
%load_ext xybrid_notebook
from xybrid_notebook.backends import register_backend
from xybrid_notebook.backends.scripted import Script, ScriptedBackend
"""
RUN = """
script = Script(chunks=['tok '] * {n}, delays_s=[{delay}] * {n} if {delay} else ())
register_backend('scripted', lambda: ScriptedBackend(script))
%xybrid load --backend scripted
"""
GENERATE = "get_ipython().run_cell_magic('generate', '-n {n}', 'go')"


def _one_run(kernel: BenchKernel, n: int, delay: float) -> dict[str, Any]:
    for code in (RUN.format(n=n, delay=delay), GENERATE.format(n=n)):
        run = kernel.run(code)
        if run.status != "ok":
            raise RuntimeError(run.error)
    figures = kernel.value("{'seconds': _xybrid_last.generation_time_ms / 1000, 'chunks': _xybrid_last.emitted_chunks}")
    messages = [m for m in run.comm_messages if m["type"] == "comm_msg"]
    flushes = [m["bytes"] for m in messages if m["method"] == "custom" and m["bytes"] < 1_000_000]  # not plotly.js
    seconds = max(figures["seconds"], 1e-9)
    return {
        "chunks": figures["chunks"],
        "seconds": seconds,
        "chunks_per_second": figures["chunks"] / seconds,
        "comm_messages": len(messages),
        "messages_per_second": len(messages) / seconds,
        "flush_messages": len(flushes),
        "max_bytes_per_flush": max(flushes) if flushes else 0,
        "total_bytes": sum(m["bytes"] for m in messages),
    }


def widget_traffic() -> dict[str, Any]:
    """Runs at the scripted backend's top rate (no delay), about 0.5 s and 5 s long: messages per
    second (every comm message of the cell, set-up and the end included) and the largest flush."""
    kernel = BenchKernel()
    try:
        setup = kernel.run(SETUP)
        if setup.status != "ok":
            raise RuntimeError(setup.error)
        short = _one_run(kernel, 200_000, 0.0)
        long = _one_run(kernel, 2_000_000, 0.0)
    finally:
        kernel.close()
    return {"short": short, "long": long, "target_messages_per_second": 20}
