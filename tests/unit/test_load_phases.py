"""A load test's per-request split and the server's scraped state: exact arithmetic on records, Prometheus text read
by prometheus_client's parser, a scraper against a loopback stub, the per-level line and the timeline's SVG."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from xybrid_notebook.backends.remote import NO_SERVER_TIMINGS
from xybrid_notebook.load.phases import PHASES, add_level_split, request_phases, split_notes
from xybrid_notebook.load.server_metrics import (
    LoadTimeline,
    Scraper,
    gauges_and_counters,
    metrics_url,
    read_samples,
    server_kind,
)
from xybrid_notebook.load.timeline import timeline_svg

# The text llama-server writes (tools/server/server-task.cpp, to_metrics), abridged.
LLAMA_SERVER_TEXT = """# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed, excluding cached tokens
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total {prompt}
# HELP llamacpp:tokens_predicted_total Number of generation tokens processed
# TYPE llamacpp:tokens_predicted_total counter
llamacpp:tokens_predicted_total {predicted}
# HELP llamacpp:prompt_tokens_seconds Average prompt throughput in tokens/s
# TYPE llamacpp:prompt_tokens_seconds gauge
llamacpp:prompt_tokens_seconds 812.5
# HELP llamacpp:requests_processing Number of requests processing
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing {running}
# HELP llamacpp:requests_deferred Number of requests deferred
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred {deferred}
"""
VLLM_TEXT = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
vllm:num_requests_running{engine="1",model_name="m"} 2.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 7.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.5
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="m"} 1000.0
vllm:generation_tokens_created{engine="0",model_name="m"} 1.7e9
"""


def _record(ttft: float, e2e: float, **timings: float) -> dict[str, Any]:
    return {
        "outcome": "ok",
        "level": 0,
        "sent": 100.0,
        "offsets_ms": [ttft, ttft + 10.0],
        "end_ms": e2e,
        "timings": timings or None,
    }


def test_a_request_splits_into_queue_prefill_decode_and_transport_summing_to_its_end() -> None:
    split = request_phases(_record(300.0, 800.0, prompt_ms=120.0, predicted_ms=450.0))
    assert split == {
        "server_queue_ms": 180.0,
        "server_prefill_ms": 120.0,
        "server_decode_ms": 450.0,
        "transport_ms": 50.0,
    }
    assert sum(split.values()) == 800.0  # type: ignore[arg-type]


def test_a_server_reporting_more_than_the_client_saw_is_capped_and_nothing_is_negative() -> None:
    split = request_phases(_record(100.0, 300.0, prompt_ms=130.0, predicted_ms=250.0))
    assert split == {"server_queue_ms": 0.0, "server_prefill_ms": 100.0, "server_decode_ms": 200.0, "transport_ms": 0.0}


def test_no_timings_an_error_or_a_cut_request_is_not_split() -> None:
    assert request_phases(_record(100.0, 300.0)) == dict.fromkeys(PHASES)
    failed = {**_record(100.0, 300.0, prompt_ms=1.0, predicted_ms=1.0), "outcome": "error"}
    assert request_phases(failed) == dict.fromkeys(PHASES)


def test_llama_server_and_vllm_text_become_the_named_series() -> None:
    samples = read_samples(LLAMA_SERVER_TEXT.format(prompt=10, predicted=20, running=4, deferred=3))
    assert server_kind(samples) == "llama-server"
    assert gauges_and_counters(samples) == (
        {"running": 4.0, "waiting": 3.0},
        {"prompt_tps": 10.0, "decode_tps": 20.0},
    )
    samples = read_samples(VLLM_TEXT)
    assert server_kind(samples) == "vllm"
    # Label sets (here two engines) add up; the KV cache is the fullest engine's.
    assert gauges_and_counters(samples) == (
        {"running": 5.0, "waiting": 7.0, "kv_cache_used": 0.5},
        {"decode_tps": 1000.0},
    )


def test_the_metrics_url_is_beside_the_openai_base() -> None:
    assert metrics_url("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/metrics"
    assert metrics_url("https://host/api/v1/") == "https://host/api/metrics"


class _Stub(BaseHTTPRequestHandler):
    """`/metrics` as llama-server writes it, its counters growing by 100 and 300 per scrape; or what `mode` says."""

    mode = "prometheus"
    scrapes = 0

    def do_GET(self) -> None:
        if self.mode in ("404", "501") or (self.path == "/props" and self.mode == "prometheus"):
            status = 200 if self.mode == "prometheus" else int(self.mode)
            body, kind = b'{"total_slots": 4}', "application/json"
        elif self.mode == "json":
            body, status, kind = b'{"object": "list", "data": []}', 200, "application/json"
        else:
            type(self).scrapes += 1
            n = type(self).scrapes
            text = LLAMA_SERVER_TEXT.format(prompt=100 * n, predicted=300 * n, running=n % 5, deferred=0)
            body, status, kind = text.encode(), 200, "text/plain; version=0.0.4"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[tuple[str, type[_Stub]]]:
    handler = type("Handler", (_Stub,), {"scrapes": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", handler
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_the_scraper_reads_gauges_turns_counters_into_rates_and_learns_the_slots(stub: tuple[str, Any]) -> None:
    url, _ = stub
    scraper = Scraper(url)
    first, second = scraper.sample(), scraper.sample()
    assert scraper.note is None and scraper.kind == "llama-server" and scraper.slots == 4
    assert first is not None and second is not None
    assert first["values"] == {"running": 1.0, "waiting": 0.0}  # no rate before a second scrape
    dt = second["t"] - first["t"]
    assert second["values"]["running"] == 2.0
    assert second["values"]["prompt_tps"] == pytest.approx(100 / dt)
    assert second["values"]["decode_tps"] == pytest.approx(300 / dt)


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("404", "this server has no /metrics (HTTP 404)"),
        ("501", "this server has no /metrics (HTTP 501 (llama-server: start it with --metrics))"),
        ("json", "this server's /metrics has none of the series"),
    ],
)
def test_a_server_without_metrics_gets_one_note_and_no_samples(stub: tuple[str, Any], mode: str, words: str) -> None:
    url, handler = stub
    handler.mode = mode
    scraper = Scraper(url)
    assert scraper.sample() is None
    assert scraper.note is not None and scraper.note.startswith(words) and "\n" not in scraper.note


def test_nothing_listening_is_a_note_too() -> None:
    scraper = Scraper("http://127.0.0.1:9/v1")
    assert scraper.sample() is None
    assert scraper.note is not None and scraper.note.startswith("this server has no /metrics (")


def _timeline(running: list[float], slots: int = 4) -> LoadTimeline:
    timeline = LoadTimeline()
    timeline.take("level_start", {"level": 0, "t": 100.0})
    timeline.take("server_metrics_info", {"kind": "llama-server", "slots": slots})
    for i, value in enumerate(running):
        event = {"level": 0, "t": 100.0 + 0.25 * i, "values": {"running": value, "waiting": 4 - value}}
        assert timeline.take("server_metrics", event)
    timeline.take("level_end", {"level": 0, "t": 100.0 + 0.25 * len(running)})
    return timeline


def test_a_level_gets_its_phase_medians_its_server_state_and_one_line() -> None:
    records = [_record(ttft, ttft + 500.0, prompt_ms=100.0, predicted_ms=480.0) for ttft in (300.0, 1300.0, 2300.0)]
    row: dict[str, Any] = {"level": 0, "load": "c=8"}
    add_level_split(row, records, _timeline([2, 4, 4, 4]))
    assert row["server_queue_p50_ms"] == 1200.0 and row["server_prefill_p50_ms"] == 100.0
    assert row["server_decode_p50_ms"] == 480.0 and row["transport_p50_ms"] == pytest.approx(20.0)
    assert row["server_running_max"] == 4 and row["server_at_most_fraction"] == 0.75
    assert row["server_waiting_max"] == 2
    assert row["where_time_went"] == (
        "TTFT p50 1.30 s at c=8 = 1.20 s queued + 100 ms prefill; then 480 ms decode + 20 ms transport; "
        "4 of 4 slots busy 75 % of the time, up to 2 waiting"
    )


def test_the_notes_say_what_could_not_be_split() -> None:
    timeline = LoadTimeline(metrics_note="this server has no /metrics (HTTP 404): its state is not drawn")
    assert split_notes([_record(100.0, 200.0)], timeline) == [NO_SERVER_TIMINGS, timeline.metrics_note]
    assert split_notes([_record(100.0, 200.0, prompt_ms=1.0, predicted_ms=1.0)], LoadTimeline()) == []


def test_server_metrics_frame_has_one_row_per_sample_and_series() -> None:
    frame = _timeline([1, 2, 3]).frame()
    assert list(frame.columns) == ["t_s", "metric", "value", "level"]
    assert len(frame) == 6 and set(frame["metric"]) == {"running", "waiting"}
    assert frame["t_s"].min() == 0.0 and set(frame["level"]) == {0}


def test_the_timeline_draws_the_latest_bars_by_phase_over_the_server_state() -> None:
    records = [{**_record(50.0, 150.0, prompt_ms=20.0, predicted_ms=90.0), "sent": 100.0 + 0.01 * i} for i in range(30)]
    svg = timeline_svg(records, _timeline([1, 2, 3, 4]), ["c=8"], max_bars=12)
    assert "the last 12 of 30" in svg
    # One path per phase colour; each drawn request adds one segment to each of queued, prefill and decode.
    queued = re.search(r'<path stroke="#ff7f0e" stroke-width="[0-9.]+" d="([^"]*)"', svg)
    assert queued is not None and queued.group(1).count("M") == 12
    assert svg.count("<title>") == 12 + 1  # a hover per bar, and the slots' line
    assert "requests at the server" in svg and ">c=8</text>" in svg
    quiet = LoadTimeline(metrics_note="this server has no /metrics (HTTP 404): its state is not drawn")
    svg = timeline_svg([_record(50.0, 150.0)], quiet, ["c=1"], hover=False)
    assert "has no /metrics" in svg and "requests at the server" not in svg and "<title>" not in svg
    assert NO_SERVER_TIMINGS in svg and "first token (not split)" in svg


def test_a_load_request_span_carries_its_phases() -> None:
    from xybrid_notebook.load import LoadResult, build_spec
    from xybrid_notebook.otel_spans import record_load_test

    class Capture:
        def record_group(self, parent: Any, children: list[Any], trace_id: Any = None) -> bool:
            self.children = children
            return True

    record = {**_record(300.0, 800.0, prompt_ms=120.0, predicted_ms=450.0), "warmup": False}
    telemetry = Capture()
    assert record_load_test(telemetry, LoadResult(build_spec("http://127.0.0.1:9/v1", concurrency=1), [], [record]))  # type: ignore[arg-type]
    attributes = telemetry.children[0].attributes
    assert {k: v for k, v in attributes.items() if k.startswith("xybrid.phase.")} == {
        "xybrid.phase.server_queue_ms": 180.0,
        "xybrid.phase.server_prefill_ms": 120.0,
        "xybrid.phase.server_decode_ms": 450.0,
        "xybrid.phase.transport_ms": 50.0,
    }


def test_a_long_series_is_pooled_without_losing_its_peak() -> None:
    from xybrid_notebook.load.timeline import MAX_POINTS, _pooled

    points = [(56.0 + i * 0.5, 100.0 - (60.0 if i == 777 else i % 3)) for i in range(1300)]
    pooled = _pooled(points)
    assert len(pooled) <= MAX_POINTS + 1
    assert min(y for _, y in pooled) == 40.0  # the one spike (pixel y grows downwards)
    assert [x for x, _ in pooled] == sorted(x for x, _ in pooled)


def test_token_rates_are_taken_over_the_last_two_seconds() -> None:
    scraper = Scraper("http://127.0.0.1:9/v1")
    rates = [scraper._rates(float(t), {"decode_tps": total}) for t, total in enumerate([0.0, 10.0, 20.0, 60.0])]
    # At t=3 the reading of t=1 is the latest at least 2 s old: (60 - 10) / 2.
    assert rates == [{}, {"decode_tps": 10.0}, {"decode_tps": 10.0}, {"decode_tps": 25.0}]
