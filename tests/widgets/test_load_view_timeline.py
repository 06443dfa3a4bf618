"""The live load view draws the timeline over the server's state, capped to the latest requests and without hovers."""

from __future__ import annotations

import re
import time

from xybrid_notebook.load import LoadProgress, build_spec
from xybrid_notebook.load.server_metrics import LoadTimeline
from xybrid_notebook.widgets.load_view import LIVE_BARS, LoadView


def test_the_live_view_draws_the_latest_requests_by_phase_over_the_server_state() -> None:
    spec = build_spec("http://127.0.0.1:9/v1", concurrency=[8])
    timeline = LoadTimeline(slots=4)
    timeline.take("level_start", {"level": 0, "t": 1000.0})
    for i in range(40):
        timeline.take(
            "server_metrics", {"level": 0, "t": 1000.0 + 0.25 * i, "values": {"running": 4.0, "waiting": 2.0}}
        )
    records = [
        {
            "level": 0,
            "outcome": "ok",
            "sent": 1000.0 + 0.05 * i,
            "offsets_ms": [400.0, 420.0],
            "end_ms": 900.0,
            "timings": {"prompt_ms": 150.0, "predicted_ms": 480.0},
        }
        for i in range(LIVE_BARS + 40)
    ]
    view = LoadView("test")
    try:
        view.on_progress(LoadProgress(spec, 0, time.monotonic(), len(records), 10.0, records, [], "", timeline))
        body = view.body.value
    finally:
        view.box.close()
    assert "xybrid-load-timeline" in body and "requests at the server" in body
    assert f"the last {LIVE_BARS} of {len(records)}" in body
    prefill = re.search(r'<path stroke="#9467bd" stroke-width="[0-9.]+" d="([^"]*)"', body)
    assert prefill is not None and prefill.group(1).count("M") == LIVE_BARS
    drawn = body[body.index("xybrid-load-timeline") :].split("</svg>")[0]
    assert drawn.count("<title>") == 1  # the slots' line only: no hover per bar in the live view
