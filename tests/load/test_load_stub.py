"""The load generator against a stub streaming at a known cadence: its error, workers, rate, stop, a dying server."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from benchmarks.cadence_server import CadenceServer

from .conftest import alive, run_load

pytestmark = pytest.mark.slow


def test_every_chunk_of_every_request_comes_home_at_the_cadence(cadence_server: CadenceServer) -> None:
    result, pids, _ = run_load(cadence_server.url, concurrency=[1, 4], requests=8)
    assert [row["load"] for row in result.rows] == ["c=1", "c=4"]
    ok = [r for r in result.records if r["outcome"] == "ok"]
    assert len(ok) >= 2 * (8 + 1) - 1
    assert all(len(r["offsets_ms"]) == r["max_tokens"] == 16 for r in ok)
    for row in result.rows:
        assert row["requests"] >= 8 and row["errors"] == 0
        assert row["itl_p50_ms"] == pytest.approx(20.0, abs=1.0)
        assert row["output_tokens_mean"] == 16
    assert result.rows[0]["warmup"] == 1 and result.rows[1]["warmup"] == 4
    assert alive(pids) == []


def test_two_local_workers_merge_into_one_result(cadence_server: CadenceServer) -> None:
    result, pids, _ = run_load(cadence_server.url, concurrency=[4], requests=12, workers=2)
    senders = {r["pid"] for r in result.records}
    assert len(senders) == 2, senders  # both workers' raw records arrived, by Locust's custom messages
    assert result.rows[0]["requests"] >= 12
    assert result.rows[0]["itl_p50_ms"] == pytest.approx(20.0, abs=1.0)
    assert alive(pids) == []


def test_a_rate_level_draws_poisson_arrivals(cadence_server: CadenceServer) -> None:
    result, _, _ = run_load(cadence_server.url, rate=[8.0], requests=24, max_in_flight=16, warmup=0)
    row = result.rows[0]
    assert row["kind"] == "rate" and row["requests"] >= 24
    sends = np.sort([r["sent"] for r in result.records if r["outcome"] == "ok"])
    gaps = np.diff(sends)
    assert 0.05 < float(np.mean(gaps)) < 0.3  # 8 req/s on average
    assert float(np.std(gaps)) > 0.3 * float(np.mean(gaps))  # exponential, not a metronome
    assert all(r["arrival"] is not None for r in result.records)
    assert row["queue_p50_ms"] is not None and row["queue_p50_ms"] < 20.0


def test_stop_ends_every_process_within_two_seconds(cadence_server: CadenceServer) -> None:
    result, pids, after_stop_s = run_load(cadence_server.url, concurrency=[8, 16], duration_s=30, stop_after_s=4.0)
    # stopped after 4 s: past each user's warm-up request (about 1.3 s) and a measured one
    assert result.stopped and after_stop_s < 2.0
    assert len(result.rows) == 1 and result.rows[0]["requests"] > 0  # the level measured so far is kept
    assert alive(pids) == []


def test_a_server_that_dies_mid_test_ends_it_and_keeps_what_was_measured() -> None:
    server = CadenceServer(20.0, close_after_stream=True)  # and it closes the connection after each stream
    # Levels of 4.5 s: a server dead 0.5 s into the second level is declared dead (DEAD_SERVER_S) within the third,
    # and the fourth never runs.

    killer = threading.Timer(0.5, server.close)

    def kill_after_the_first_level(progress: Any) -> None:
        if progress.rows and not killer.is_alive() and not killer.finished.is_set():
            killer.start()

    result, pids, _ = run_load(
        server.url, concurrency=[2, 2, 2, 2], duration_s=4.5, on_progress=kill_after_the_first_level
    )
    assert result.rows[0]["requests"] > 0 and result.rows[0]["errors"] == 0
    assert result.stopped and "stopped answering" in result.reason
    assert any(row["errors"] for row in result.rows)
    assert len(result.rows) < 4 or result.rows[-1]["requests"] == 0
    assert alive(pids) == []
