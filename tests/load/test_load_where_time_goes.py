"""Where a load test's time went: against llama.cpp's real llama-server (4 slots), requests queue at c > slots and
hardly at c ≤ slots, and its /metrics shows the slots filling; a stub without timings or /metrics gets one line each
and the test goes on."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.cadence_server import CadenceServer
from xybrid_notebook.backends.remote import NO_SERVER_TIMINGS
from xybrid_notebook.load import load_test
from xybrid_notebook.load.phases import PHASES
from xybrid_notebook.servers import ServedModel

pytestmark = pytest.mark.slow


def test_queue_appears_above_the_slot_count_and_the_server_state_is_scraped(served_llama: ServedModel) -> None:
    assert served_llama.parallel == 4
    result = load_test(served_llama.url, concurrency=[2, 8], requests=4, prompt_tokens=32, output_tokens=16)
    assert [row["errors"] for row in result.rows] == [0, 0]
    requests = result.requests()
    measured = requests[(requests["outcome"] == "ok") & ~requests["warmup"]]
    assert measured[list(PHASES)].notna().all().all()
    # Every split adds up to the request's end-to-end time.
    assert np.allclose(measured[list(PHASES)].sum(axis=1), measured["e2e_ms"], atol=1e-6)
    by_level = {level: frame for level, frame in measured.groupby("level")}
    service = {level: (f["server_prefill_ms"] + f["server_decode_ms"]).median() for level, f in by_level.items()}
    decode = {level: f["server_decode_ms"].median() for level, f in by_level.items()}
    queue = {level: f["server_queue_ms"].median() for level, f in by_level.items()}
    # c=2 ≤ 4 slots: a request waits at most for the batch step in progress (another's decode or prefill), far less
    # than its own 15 decode steps. c=8: four requests wait for the four in the slots to finish: about a whole service.
    assert queue[0] < 0.5 * decode[0], (queue, decode)
    assert queue[1] > max(0.3 * service[1], 2 * queue[0]), (queue, service)

    frame = result.server_metrics()
    assert list(frame.columns) == ["t_s", "metric", "value", "level"]
    assert set(frame["level"]) == {0, 1}
    assert {"running", "waiting", "prompt_tps", "decode_tps"} <= set(frame["metric"])
    running = frame[frame["metric"] == "running"]
    assert running[running["level"] == 1]["value"].max() == 4  # all 4 slots busy at c=8
    assert running[running["level"] == 0]["value"].max() <= 2
    # At least twice a second through each level.
    for level, samples in running.groupby("level"):
        span = samples["t_s"].max() - samples["t_s"].min()
        assert len(samples) >= 2 * span, (level, len(samples), span)
    assert result.timeline.slots == 4 and result.timeline.metrics_note is None
    assert result.rows[1]["server_running_max"] == 4
    line = result.rows[1]["where_time_went"]
    assert line.startswith("TTFT p50 ") and " at c=8 = " in line and "4 of 4 slots busy" in line, line
    assert line in result.summary()
    html = result._repr_html_()
    assert "xybrid-load-timeline" in html and "requests at the server" in html
    assert not any(NO_SERVER_TIMINGS in note or "/metrics" in note for note in result.notes)


def test_a_server_without_timings_or_metrics_gets_one_line_each_and_the_test_goes_on(
    cadence_server: CadenceServer,
) -> None:
    result = load_test(cadence_server.url, concurrency=[2], requests=4, output_tokens=8)
    assert result.rows[0]["requests"] >= 4 and result.rows[0]["errors"] == 0
    # The stub answers /metrics with its model list (JSON): no series to read.
    assert NO_SERVER_TIMINGS in result.notes
    assert any(note.startswith("this server's /metrics has none of the series") for note in result.notes)
    assert result.server_metrics().empty
    assert result.requests()[list(PHASES)].isna().all().all()
    assert result.rows[0]["where_time_went"] is None
    html = result._repr_html_()
    assert NO_SERVER_TIMINGS in html and "xybrid-load-timeline" in html
