"""Bad input to a load test is one line and starts nothing; the figures' arithmetic on hand-made records."""

from __future__ import annotations

import pytest

from xybrid_notebook.errors import InvalidInput
from xybrid_notebook.load import build_spec, level_row, load_test
from xybrid_notebook.load.figures import knee_level, mark_warmup, percentile_ci
from xybrid_notebook.loopback import free_port

URL = "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": "0"}, "concurrency: each level must be a whole number ≥ 1, not 0"),
        ({"concurrency": [2, 1.5]}, "concurrency: each level must be a whole number ≥ 1, not 1.5"),
        ({"rate": "-1"}, "rate: each level must be a number of requests per second > 0, not -1"),
        ({"rate": "1", "concurrency": "1"}, "give either concurrency"),
        ({}, "give either concurrency"),
        ({"concurrency": "1", "duration_s": 0}, "duration_s: must be a number > 0, not 0"),
        ({"concurrency": "1", "slo": "ttft500ms"}, "slo: 'ttft500ms' is not KEY=DURATION"),
        ({"concurrency": "1", "slo": "ttft=fast"}, "slo ttft: 'fast' is not a duration"),
        ({"concurrency": "1", "slo": "latency=1s"}, "slo: unknown key 'latency'"),
        ({"concurrency": "1", "prompt_tokens": "10-5"}, "prompt_tokens: a count must be ≥ 1"),
        ({"concurrency": "1", "workers": -1}, "workers: must be a whole number ≥ 0"),
        ({"concurrency": "1", "master_bind": "nowhere"}, "master_bind: give HOST:PORT"),
        ({"concurrency": "a,b"}, "concurrency: 'a,b' is not a comma-separated list of numbers"),
    ],
)
def test_bad_options_are_one_line(options: dict, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        build_spec(URL, **options)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_url_that_is_not_one() -> None:
    with pytest.raises(InvalidInput, match="is not an http"):
        build_spec("localhost:8080", concurrency=1)


def test_an_unreachable_url_is_one_line_before_any_process_starts() -> None:
    import psutil

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(InvalidInput) as caught:
        load_test(f"http://127.0.0.1:{free_port()}/v1", concurrency=[1])
    assert "does not answer" in str(caught.value) and "\n" not in str(caught.value)
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before


def _record(level: int, sent: float, offsets: list[float], end: float, **extra: object) -> dict:
    return {"level": level, "sent": sent, "offsets_ms": offsets, "end_ms": end, "outcome": "ok", **extra}


def test_level_figures_from_hand_made_records() -> None:
    spec = build_spec(URL, concurrency=[2], slo="ttft=150ms,itl_p99=25ms", warmup=1)
    records = [
        _record(0, 100.0, [500.0, 600.0, 700.0], 700.0, output_tokens=3),  # first by send time: warm-up
        _record(0, 101.0, [100.0, 110.0, 120.0], 120.0, output_tokens=3),  # meets both bounds
        _record(0, 102.0, [200.0, 210.0, 220.0], 220.0, output_tokens=3),  # TTFT above 150 ms
        _record(0, 103.0, [100.0, 150.0], 150.0, output_tokens=2),  # its gap of 50 ms is above 25 ms
        {"level": 0, "sent": 104.0, "offsets_ms": [], "end_ms": 5.0, "outcome": "error", "error": "http_503"},
        {"level": 0, "sent": 104.5, "offsets_ms": [], "end_ms": 1.0, "outcome": "cut"},
    ]
    mark_warmup([r for r in records if r["outcome"] != "cut"], 1)
    row = level_row(0, spec.levels[0], spec, records, {"wall": 2.0, "load": 0.5, "server": 1.0, "busy": 3.0})
    assert (row["requests"], row["errors"], row["warmup"], row["cut"]) == (3, 1, 1, 1)
    assert row["ttft_p50_ms"] == 100.0
    assert row["tt2t_p50_ms"] == 10.0
    assert row["itl_p50_ms"] == 10.0  # gaps 10, 10, 10, 10, 50
    assert row["e2e_p50_ms"] == 150.0
    # TPOT: (e2e - TTFT) / (tokens - 1) = 10, 10, 50 ms
    assert row["tpot_p50_ms"] == 10.0
    # window: first measured send 101 s to last measured end 104.005 s
    assert row["window_s"] == pytest.approx(3.005)
    assert row["request_rate"] == pytest.approx(3 / 3.005)
    assert row["output_tps"] == pytest.approx(8 / 3.005)
    assert row["goodput_fraction"] == pytest.approx(1 / 4)  # one of four measured requests meets every bound
    assert row["errors_by_kind"] == {"http_503": 1}
    assert (row["loadgen_cores"], row["server_cores"], row["other_cores"]) == (0.25, 0.5, 0.75)


def test_percentile_ci_is_order_statistics_and_none_when_too_few() -> None:
    import numpy as np

    values = np.arange(1.0, 101.0)
    low, high = percentile_ci(values, 50)
    assert low is not None and high is not None and low < 50.5 < high
    assert (low, high) == (40.0, 61.0)  # the textbook ranks of a median CI95 at n = 100: 40th and 61st
    assert percentile_ci(np.arange(1.0, 11.0), 99)[1] is None  # ten values cannot bound a p99 from above


def test_the_knee_is_where_throughput_stops_growing() -> None:
    rows = [{"level": i, "output_tps": tps} for i, tps in enumerate([40.0, 70.0, 75.0, 76.0])]
    assert knee_level(rows) == 1
    assert knee_level(rows[:2]) is None
