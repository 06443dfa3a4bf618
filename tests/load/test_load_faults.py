"""Faults from the server under load, on loopback: refusals (429/503), a server that stalls, one restarted mid-test,
and one that cannot keep up (overload)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest

from xybrid_notebook.load.figures import delivered_tokens

from .conftest import alive, run_load
from .fault_server import FaultServer

pytestmark = pytest.mark.slow


def test_refusals_part_way_through_are_counted_by_kind_and_are_goodput_misses() -> None:
    server = FaultServer(refuse_every=3)
    try:
        result, pids, _ = run_load(server.url, concurrency=[2], requests=12, slo="ttft=5s", warmup=0)
    finally:
        server.close()
    row = result.rows[0]
    assert not result.stopped and row["requests"] + row["errors"] >= 12  # the level went on to its count
    kinds = Counter(r["error"] for r in result.records if r["outcome"] == "error")
    assert set(kinds) == {"http_429", "http_503"}
    assert row["errors_by_kind"] == dict(kinds)
    assert {f"http_{status}": n for status, n in server.refused.items()} == dict(kinds)
    assert row["goodput_fraction"] == pytest.approx(row["requests"] / (row["requests"] + row["errors"]))
    assert "http_429" in result.summary() and "http_503" in result.summary()
    assert alive(pids) == []


def test_a_stalled_server_times_every_request_out_and_stop_still_ends_it_within_two_seconds() -> None:
    servers = [FaultServer(stall=True, spare_first=1) for _ in range(2)]  # the /tokenize probe is answered
    try:
        timed, _, _ = run_load(servers[0].url, concurrency=[2], requests=4, timeout_s=0.5, warmup=0)
        stopped, pids, after_stop_s = run_load(servers[1].url, concurrency=[4], duration_s=30, stop_after_s=1.5)
    finally:
        for server in servers:
            server.close()
    errors = [r for r in timed.records if r["outcome"] == "error"]
    assert len(errors) >= 4 and {r["error"] for r in errors} == {"timeout"}
    assert all(r["end_ms"] >= 500.0 and not r["offsets_ms"] for r in errors)
    assert stopped.stopped and after_stop_s < 2.0
    assert {r["outcome"] for r in stopped.records} == {"cut"}  # nothing had answered when Stop came
    assert alive(pids) == []


def test_after_a_restart_requests_succeed_on_new_connections() -> None:
    first = FaultServer()
    port, restarted_at, servers = first.port, [0.0], [first]

    def restart() -> None:
        time.sleep(1.0)
        first.close()
        time.sleep(0.5)
        servers.append(FaultServer(port=port))
        restarted_at[0] = time.time()

    thread = threading.Thread(target=restart)
    thread.start()
    try:
        result, pids, _ = run_load(first.url, concurrency=[2], duration_s=3.5)
    finally:
        thread.join()
        for server in servers:
            server.close()
    assert not result.stopped
    after = [r for r in result.records if r["sent"] > restarted_at[0]]
    assert [r for r in after if r["outcome"] == "ok"]
    assert servers[1].requests > 0
    assert {r["error"] for r in result.records if r["outcome"] == "error"} <= {"connect", "cut"}
    assert alive(pids) == []


def test_an_open_loop_above_capacity_is_marked_overloaded_and_counts_every_delivered_token() -> None:
    cadence_ms, slots = 20.0, 2
    server = FaultServer(cadence_ms, slots=slots)  # serves 2 streams at once: 1 / (16 × 20 ms) × 2 = 6.25 req/s
    try:
        result, _, _ = run_load(server.url, rate=[2.0, 20.0], duration_s=2.5, warmup=0, max_in_flight=64)
    finally:
        server.close()
    calm, busy = result.rows
    assert not calm["overloaded"] and calm["overload"] is None
    assert busy["overloaded"] and "20 req/s overloaded" in busy["overload"]
    assert busy["overload"] in result.summary() and "overloaded" in result._repr_html_()
    assert busy["output_tps"] == busy["delivered_tps"] and calm["output_tps"] == calm["completed_tps"]
    # Every token the server wrote in the busy level's window, cut requests' too, and no more than its slots stream.
    records = [r for r in result.records if r["level"] == 1]
    start = min(r["sent"] for r in records)  # warmup=0: every request of the level
    end = start + busy["delivered_window_s"]
    ours = delivered_tokens(records, start, end)
    written = sum(1 for t in server.token_times if start <= t <= end)
    assert abs(ours - written) <= 2 * slots  # chunks on the wire at either edge of the window
    assert any(r["outcome"] == "cut" and r["offsets_ms"] for r in records)  # cut requests' tokens count
    assert busy["delivered_tps"] <= slots * 1000.0 / cadence_ms * 1.05


def test_a_real_server_restarted_mid_test_serves_the_requests_after_it(smollm2_path: Any, tmp_path: Any) -> None:
    from xybrid_notebook.llama_tools import find
    from xybrid_notebook.loopback import free_port, start_server, stop_group
    from xybrid_notebook.servers import llama_server_argv

    port = free_port()
    argv = llama_server_argv(find("llama-server"), smollm2_path, 2, 1024, port, 1, False)
    health = f"http://127.0.0.1:{port}/health"
    processes = [start_server(argv, health, tmp_path / "one.log", name="llama-server")]
    restarted_at, measuring, done = [0.0], threading.Event(), threading.Event()

    def restart() -> None:
        measuring.wait(60)
        stop_group(processes[0], grace_s=0.5)  # a crash: llama-server under load may hang 5 s on SIGTERM
        processes.append(start_server(argv, health, tmp_path / "two.log", name="llama-server"))
        restarted_at[0] = time.time()
        done.wait(60)  # a child started from a thread dies with the thread (PR_SET_PDEATHSIG): keep it alive

    def when_requests_came(progress: Any) -> None:
        if any(r["outcome"] == "ok" for r in progress.records):
            measuring.set()

    thread = threading.Thread(target=restart)
    thread.start()
    try:
        result, pids, _ = run_load(
            f"http://127.0.0.1:{port}/v1",
            concurrency=[2],
            duration_s=60.0,
            prompt_tokens=16,
            output_tokens=8,
            on_progress=when_requests_came,
            stop_when=lambda records: (
                sum(1 for r in records if restarted_at[0] and r["sent"] > restarted_at[0] and r["outcome"] == "ok") >= 4
            ),
        )
    finally:
        measuring.set()
        done.set()
        thread.join()
        for process in processes:
            stop_group(process, grace_s=5.0)
    assert restarted_at[0] and result.reason == "stopped"  # by us, once served again: the test never gave up
    after = [r for r in result.records if r["sent"] > restarted_at[0]]
    assert after and all(r["outcome"] in ("ok", "cut") for r in after)
    assert [r for r in after if r["outcome"] == "ok"]
    # Between the stop and the restart: refused or broken connections, and 503 while the model loads.
    errors = {r.get("error") for r in result.records if restarted_at[0] > r["sent"] and r["outcome"] == "error"}
    assert errors and errors <= {"connect", "cut", "http_503"}
    before = [r for r in result.records if r["sent"] < restarted_at[0] and r["outcome"] == "ok"]
    assert before  # it served before the restart too
    assert alive(pids) == []


@pytest.mark.parametrize(
    ("options", "line"),
    [
        ({"api_key_env": "XYBRID_FAULT_KEY"}, "the server refused the key in $XYBRID_FAULT_KEY (HTTP 401)"),
        ({}, "the server refused the request: it wants a key (HTTP 401); give api_key_env=VAR (--api-key-env VAR)"),
    ],
)
def test_a_key_refused_mid_test_ends_it_in_one_line_naming_the_variable(
    options: dict, line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xybrid_notebook.errors import InvalidInput

    monkeypatch.setenv("XYBRID_FAULT_KEY", "sk-fault-0123456789")
    server = FaultServer(refuse_every=1, statuses=(401,), spare_first=1)  # only completions are refused
    try:
        with pytest.raises(InvalidInput) as caught:
            run_load(server.url, concurrency=[2], requests=4, **options)
    finally:
        server.close()
    assert str(caught.value) == line
    assert server.refused[401] <= 4  # it stopped at the first refusals, not after every request


def test_llama_server_far_above_its_capacity_is_overloaded(served_llama: Any) -> None:
    # 4 slots of a 135M model cannot finish 30 requests of 16 tokens a second on this machine's two cores.
    result, pids, _ = run_load(
        served_llama.url, rate=[30.0], duration_s=3.0, warmup=0, prompt_tokens=16, output_tokens=16, max_in_flight=64
    )
    row = result.rows[0]
    assert row["overloaded"] and row["overload"].startswith("30 req/s overloaded:")
    records = [r for r in result.records if r["level"] == 0]
    cut_tokens = sum(len(r["offsets_ms"]) for r in records if r["outcome"] == "cut")
    assert cut_tokens > 0  # requests still streaming at the level's end delivered tokens too ...
    # ... and the overloaded level's throughput counts them (rates over different windows: compare the tokens)
    assert row["delivered_tps"] * row["delivered_window_s"] > (row["completed_tps"] or 0.0) * row["window_s"]
    assert row["output_tps"] == row["delivered_tps"]
    assert alive(pids) == []
