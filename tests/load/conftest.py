"""Servers for load tests on loopback: llama.cpp's real llama-server, and a stub streaming at a fixed cadence."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from benchmarks.cadence_server import CadenceServer
from xybrid_notebook.load import build_spec, prepare, run_load_test
from xybrid_notebook.load.process import LoadProcess


@pytest.fixture
def cadence_server() -> Iterator[CadenceServer]:
    """A stub streaming every 20 ms."""
    server = CadenceServer(20.0)
    yield server
    try:
        server.close()
    except RuntimeError:
        pass


def alive(pids: list[int]) -> list[int]:
    """The pids among `pids` still running (zombies count as gone)."""
    left = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            continue
    return left


def run_load(url: str, **options: Any) -> tuple[Any, list[int], float]:
    """A load test; the pids of its process tree (seen while it ran); the seconds from a stop to the end, if stopped.

    `on_process`: also called with the running `LoadProcess`; `stop_after_s`: Stop after that long; `stop_when`:
    Stop once it says so (called with the records so far)."""
    stop_after = options.pop("stop_after_s", None)
    stop_when = options.pop("stop_when", None)
    on_progress = options.pop("on_progress", None)
    also = options.pop("on_process", None)
    spec, workload = prepare(build_spec(url, output_tokens=options.pop("output_tokens", 16), **options))
    pids: list[int] = []
    started, stop_at = time.monotonic(), [0.0]

    def keep(process: LoadProcess) -> None:
        def watch() -> None:
            while process.process.poll() is None:
                pids.extend(p for p in process.pids if p not in pids)
                time.sleep(0.2)

        threading.Thread(target=watch, daemon=True).start()
        if also is not None:
            also(process)

    records: list[Any] = []

    def should_stop() -> bool:
        if stop_when is not None and stop_when(records):
            return True
        if stop_after is not None and time.monotonic() - started > stop_after:
            stop_at[0] = stop_at[0] or time.monotonic()
            return True
        return False

    def progress(state: Any) -> None:
        records[:] = state.records
        if on_progress is not None:
            on_progress(state)

    result = run_load_test(spec, workload, on_process=keep, should_stop=should_stop, on_progress=progress)
    return result, pids, (time.monotonic() - stop_at[0]) if stop_at[0] else 0.0
