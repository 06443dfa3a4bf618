"""What reading a server's `/metrics` costs, and what the timeline adds to a live redraw.

    python -m benchmarks.server_metrics_cost [--scrapes 200] [--requests 160] [--seconds 60]

Against llama-server with 4 slots (SmolLM2, idle), `--scrapes` scrapes one after another:
the CPU time of this process per scrape (urllib and prometheus_client's parser, as the
load controller does it) and of llama-server, and both in cores at the controller's rate
(`SCRAPE_INTERVAL_S`). Then one live redraw of the timeline (`--requests` split requests
over `--seconds` of samples at that rate): its size in bytes and the time to draw it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import psutil

from xybrid_notebook.load.server_metrics import SCRAPE_INTERVAL_S, LoadTimeline, Scraper
from xybrid_notebook.load.timeline import timeline_svg
from xybrid_notebook.models import resolve_model
from xybrid_notebook.servers import serve
from xybrid_notebook.widgets.load_view import LIVE_BARS


def scrape_cost(scrapes: int) -> dict[str, float]:
    """CPU per scrape (ms) of this process and of llama-server, and in cores at the controller's rate."""
    server = serve(str(resolve_model("smollm2-135m-instruct")), parallel=4)
    try:
        process = psutil.Process(server.pid)
        scraper = Scraper(server.url)
        scraper.sample()
        ours, theirs = time.process_time(), sum(process.cpu_times()[:2])
        for _ in range(scrapes):
            scraper.sample()
        ours, theirs = time.process_time() - ours, sum(process.cpu_times()[:2]) - theirs
    finally:
        server.stop()
    per_second = 1.0 / SCRAPE_INTERVAL_S
    return {
        "client_ms": 1000 * ours / scrapes,
        "server_ms": 1000 * theirs / scrapes,
        "client_cores": ours / scrapes * per_second,
        "server_cores": theirs / scrapes * per_second,
    }


def redraw_cost(requests: int, seconds: float) -> dict[str, float]:
    """One live timeline redraw of `requests` split requests over `seconds` of samples: bytes and ms."""
    timeline = LoadTimeline(slots=4)
    timeline.take("level_start", {"level": 0, "t": 0.0})
    for i in range(int(seconds / SCRAPE_INTERVAL_S)):
        values = {"running": 4.0, "waiting": float(i % 5), "prompt_tps": 300.0 + i % 7, "decode_tps": 60.0 + i % 3}
        timeline.samples.append({"t": i * SCRAPE_INTERVAL_S, "level": 0, "values": values})
    records: list[dict[str, Any]] = [
        {
            "outcome": "ok",
            "level": 0,
            "sent": seconds * i / requests,
            "offsets_ms": [900.0 + i % 50],
            "end_ms": 2400.0,
            "timings": {"prompt_ms": 300.0, "predicted_ms": 1480.0},
        }
        for i in range(requests)
    ]
    started = time.perf_counter()
    svg = timeline_svg(records, timeline, ["c=8"], max_bars=LIVE_BARS, hover=False)
    return {"bytes": float(len(svg)), "ms": 1000 * (time.perf_counter() - started)}


def main() -> None:
    """Print both."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--requests", type=int, default=LIVE_BARS)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    cost = scrape_cost(args.scrapes)
    print(
        f"per scrape: {cost['client_ms']:.2f} ms CPU here, {cost['server_ms']:.2f} ms in llama-server; "
        f"at {1 / SCRAPE_INTERVAL_S:.0f}/s: {cost['client_cores']:.4f} and {cost['server_cores']:.4f} cores"
    )
    redraw = redraw_cost(args.requests, args.seconds)
    print(
        f"one live timeline redraw ({args.requests} requests, {args.seconds:.0f} s): {redraw['bytes'] / 1000:.1f} kB, "
        f"{redraw['ms']:.1f} ms"
    )


if __name__ == "__main__":
    main()
