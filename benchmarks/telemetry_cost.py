"""What OpenTelemetry export costs a run: runs with export off, on (a receiver that accepts), and on (a dead receiver).

    python -m benchmarks.telemetry_cost [--rounds 7] [--tokens 64]

SmolLM2 on llama.cpp in this process, greedy, `--tokens` tokens. The three variants
alternate run by run after one warm-up round; medians of TTFT and decode tok/s, and the
ratios to "off". Apart: the kernel thread's cost of handing a finished run to the exporter
(`record_run`, median of 1,000 calls) and the export thread's time per run (span, attributes
and one metric sample per gap). The accepting receiver is a loopback HTTP server in this
process that answers 200; the dead one is a port nothing listens on.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.http_receiver import AnsweringReceiver
from xybrid_notebook import GenerationConfig
from xybrid_notebook.loopback import free_port
from xybrid_notebook.otel import Telemetry, TelemetrySettings
from xybrid_notebook.session import Session

PROMPT = "Write a short story about a lighthouse keeper."


def _hand_over_us(telemetry: Telemetry, output: Any, config: GenerationConfig) -> float:
    """Median µs of `record_run` on the kernel thread (the queue is drained between calls)."""
    samples = []
    for _ in range(1000):
        started = time.perf_counter()
        telemetry.record_run(output, config, time.time())
        samples.append((time.perf_counter() - started) * 1e6)
        if telemetry._queue.qsize() > 100:
            telemetry.flush()
    telemetry.flush()
    return statistics.median(samples)


def _export_ms(telemetry: Telemetry, output: Any, config: GenerationConfig) -> float:
    """Median ms the export thread spends on one run (span and metric samples)."""
    samples = []
    for _ in range(50):
        started = time.perf_counter()
        telemetry._run(output, config, time.time(), "chat", "", None)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def telemetry_cost(rounds: int = 7, tokens: int = 64) -> dict[str, Any]:
    """Alternate off / accepting / dead; medians per variant, and the hand-over and export costs."""
    receiver = AnsweringReceiver(200)
    variants = {
        "off": None,
        "on, receiver accepts": TelemetrySettings(receiver.url),
        "on, receiver dead": TelemetrySettings(f"http://127.0.0.1:{free_port()}"),
    }
    session = Session()
    session.load("smollm2-135m-instruct")
    config = GenerationConfig(max_tokens=tokens, temperature=0.0)
    runs: dict[str, list[Any]] = {name: [] for name in variants}
    try:
        for round_index in range(rounds + 1):
            for name, settings in variants.items():
                session.set_telemetry(settings)
                output = session.generate(PROMPT, config=config)
                if round_index > 0:
                    runs[name].append(output)
        session.set_telemetry(variants["on, receiver accepts"])
        assert session.telemetry is not None
        sample = runs["off"][0]
        hand_over = _hand_over_us(session.telemetry, sample, config)
        export = _export_ms(session.telemetry, sample, config)
        sent = session.telemetry.spans_sent
    finally:
        session.set_telemetry(None)
        session.unload()
        receiver.shutdown()
    medians = {
        name: {
            "ttft_ms": statistics.median(o.ttft_ms for o in outputs),
            "decode_tps": statistics.median(o.decode_tps for o in outputs),
        }
        for name, outputs in runs.items()
    }
    return {
        "rounds": rounds,
        "tokens": tokens,
        "medians": medians,
        "hand_over_us": hand_over,
        "export_ms": export,
        "spans_sent": sent,
    }


def rows(result: dict[str, Any]) -> list[str]:
    """The table and the two costs."""
    off = result["medians"]["off"]
    lines = [
        f"OpenTelemetry export, SmolLM2 on llama.cpp, {result['tokens']} tokens, medians of {result['rounds']} "
        "alternating rounds",
        "| variant | TTFT ms | decode tok/s | decode / off | TTFT − off |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, m in result["medians"].items():
        lines.append(
            f"| {name} | {m['ttft_ms']:.1f} | {m['decode_tps']:.1f} | {m['decode_tps'] / off['decode_tps']:.3f} | "
            f"{m['ttft_ms'] - off['ttft_ms']:+.1f} ms |"
        )
    lines.append(
        f"kernel thread, handing a finished run over: {result['hand_over_us']:.1f} µs; "
        f"export thread per run ({result['tokens']} gaps as metric samples, one span): {result['export_ms']:.2f} ms"
    )
    return lines


def main() -> None:
    """Run and print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    print("\n".join(rows(telemetry_cost(args.rounds, args.tokens))))


if __name__ == "__main__":
    main()
