"""The load generator's own error and cost, against a stub that streams at a known cadence.

    python -m benchmarks.load_cost [--streams 64] [--cadence-ms 20] [--tokens 64] [--rounds 3]

The stub (`benchmarks/cadence_server.py`, in this process, asyncio) sends every chunk
exactly `cadence_ms` after the one before, on an absolute schedule. A closed-loop level
of `streams` users on one Locust process, then the same on two local workers, alternate
round by round. Any spread in the gaps measured is the generator's (and the stub's) own
error: target, at 64 streams on one worker, gap p50 within 1 ms of the cadence. The CPU of
the load processes is reported per 1,000 chunks/s. The stub itself takes CPU in this
process (counted as "other"). The size of one live-view redraw of that level is printed too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.cadence_server import CadenceServer
from xybrid_notebook.load import load_test
from xybrid_notebook.load.render import curve_html, distributions_html, table_html


def one_level(url: str, streams: int, tokens: int, workers: int) -> dict[str, float]:
    """One closed-loop level of `streams` users (each request `tokens` chunks): gap p50/p99, chunks/s, CPU."""
    result = load_test(
        url, concurrency=[streams], requests=2 * streams, output_tokens=tokens, prompt_tokens=16, workers=workers
    )
    row = result.rows[0]
    labels = [level.label for level in result.spec.levels]
    redraw = curve_html(result.rows) + distributions_html(result.records, labels) + table_html(result.rows)
    chunks = sum(len(r["offsets_ms"]) for r in result.records if r["outcome"] == "ok" and not r.get("warmup"))
    chunks_per_s = chunks / row["window_s"]
    return {
        "itl_p50_ms": row["itl_p50_ms"],
        "itl_p99_ms": row["itl_p99_ms"],
        "ttft_p50_ms": row["ttft_p50_ms"],
        "chunks_per_s": chunks_per_s,
        "loadgen_cores": row["loadgen_cores"],
        "cores_per_1000_chunks_s": row["loadgen_cores"] / (chunks_per_s / 1000.0),
        "view_redraw_kb": len(redraw.encode()) / 1000.0,
    }


def generator_error(streams: int = 64, cadence_ms: float = 20.0, tokens: int = 64, rounds: int = 3) -> dict[str, Any]:
    """Medians over `rounds` of one process and of two workers, alternating, against one stub."""
    server = CadenceServer(cadence_ms)
    runs: dict[str, list[dict[str, float]]] = {"1 process": [], "2 workers": []}
    try:
        for _ in range(rounds):
            runs["1 process"].append(one_level(server.url, streams, tokens, workers=0))
            runs["2 workers"].append(one_level(server.url, streams, tokens, workers=2))
    finally:
        server.close()
    medians = {
        layout: {key: statistics.median(run[key] for run in values) for key in values[0]}
        for layout, values in runs.items()
    }
    return {"streams": streams, "cadence_ms": cadence_ms, "tokens": tokens, "rounds": rounds, "layouts": medians}


def rows(result: dict[str, Any]) -> list[str]:
    """Markdown rows: per layout, the gap error against the cadence and the CPU per 1,000 chunks/s."""
    cadence = result["cadence_ms"]
    lines = [
        f"Load generator against a stub streaming every {cadence:g} ms, {result['streams']} streams, "
        f"{result['tokens']} chunks per request, medians of {result['rounds']} rounds",
        "| layout | gap p50 − cadence | gap p99 − cadence | chunks/s | load-gen cores | cores per 1,000 chunks/s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for layout, m in result["layouts"].items():
        lines.append(
            f"| {layout} | {m['itl_p50_ms'] - cadence:+.2f} ms | {m['itl_p99_ms'] - cadence:+.2f} ms | "
            f"{m['chunks_per_s']:,.0f} | {m['loadgen_cores']:.2f} | {m['cores_per_1000_chunks_s']:.2f} |"
        )
    one = result["layouts"]["1 process"]
    met = abs(one["itl_p50_ms"] - cadence) <= 1.0
    lines.append(f"gap p50 within 1 ms of the cadence on one process: {'met' if met else 'MISSED'}")
    lines.append(
        f"live view: one redraw of the curve, distributions and table is {one['view_redraw_kb']:.1f} kB "
        "(at most one a second while requests end, plus one per level's end)"
    )
    return lines


def main() -> None:
    """Run and print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--cadence-ms", type=float, default=20.0)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("\n".join(rows(generator_error(args.streams, args.cadence_ms, args.tokens, args.rounds))))


if __name__ == "__main__":
    main()
