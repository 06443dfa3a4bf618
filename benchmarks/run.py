"""`make bench`: every benchmark, one table, and benchmarks/results/latest.json."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.browser import both_models
from benchmarks.browser import rows as browser_rows
from benchmarks.common import machine
from benchmarks.core_cost import bytes_per_chunk, per_chunk_cost
from benchmarks.engine_settings import engine_settings_cost
from benchmarks.first_run import first_run
from benchmarks.first_run import rows as first_run_rows
from benchmarks.load_cost import generator_error
from benchmarks.load_cost import rows as load_cost_rows
from benchmarks.load_peer import peer_agreement
from benchmarks.load_peer import rows as load_peer_rows
from benchmarks.load_view import load_view_cost
from benchmarks.load_view import rows as load_view_rows
from benchmarks.memory import rss_over_generations
from benchmarks.overhead import llama_overhead, mistral_overhead
from benchmarks.phases import phases_benchmark
from benchmarks.phases import rows as phases_rows
from benchmarks.side_by_side import side_by_side
from benchmarks.telemetry_cost import rows as telemetry_rows
from benchmarks.telemetry_cost import telemetry_cost
from benchmarks.token_budget import token_budget
from benchmarks.traffic import widget_traffic

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def _f(value: Optional[float], digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return a / b if a and b else None


def _step(name: str, func: Callable[[], Any]) -> Any:
    print(f"… {name}", flush=True)
    started = time.perf_counter()
    result = func()
    print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    return result


def _verdict(ok: Optional[bool]) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def overhead_rows(name: str, result: dict[str, Any]) -> list[str]:
    a = result["a_bare"]
    rows = []
    for key, label in (("b_backend", "b/a backend"), ("c_full_kernel", "c/a %%generate in a kernel")):
        if key not in result:
            continue
        variant = result[key]
        ratio = _ratio(variant["decode_tps"], a["decode_tps"])
        target = 0.99 if key == "b_backend" else 0.97
        ttft_diff = variant["ttft_ms"] - a["ttft_ms"]
        rows.append(
            f"{name:<10} {label:<28} decode {_f(variant['decode_tps'])} vs {_f(a['decode_tps'])} tok/s "
            f"= {_f(ratio, 3)} (target >= {target}: {_verdict(ratio and ratio >= target)}); "
            f"TTFT {_f(variant['ttft_ms'])} vs {_f(a['ttft_ms'])} ms, diff {_f(ttft_diff, 2)} ms "
            f"(target <= 2: {_verdict(ttft_diff <= 2)})"
            + (
                f"; engine's own decode {_f(variant['engine_decode_tps'])} vs {_f(a['engine_decode_tps'])}"
                if a.get("engine_decode_tps")
                else ""
            )
        )
    return rows


def table(results: dict[str, Any]) -> str:
    lines = ["", "=" * 100, "xybrid_notebook benchmarks", "=" * 100]
    m = results["machine"]
    lines.append(f"machine: {m['cores']} cores, {m['cpu']}, {m['memory_gib']} GiB, Python {m['python']}")
    lines.append("1. streaming overhead (medians, alternating runs, 128 greedy tokens)")
    lines += ["   " + r for r in overhead_rows("llama.cpp", results["llama_overhead"])]
    lines += ["   " + r for r in overhead_rows("mistral.rs", results["mistral_overhead"])]
    c = results["core_cost"]
    lines.append(
        f"2. per-chunk cost over {c['chunks']} chunks: core {_f(c['core_us'], 2)} µs (target <= 5: "
        f"{_verdict(c['core_us'] <= 5)}), core + dashboard {_f(c['core_and_dashboard_us'], 2)} µs "
        f"(target <= 20: {_verdict(c['core_and_dashboard_us'] <= 20)}); "
        f"engine loop itself {_f(c['engine_loop_us'], 2)} µs"
    )
    t = results["traffic"]
    for label in ("short", "long"):
        run = t[label]
        rate = (
            f"{_f(run['messages_per_second'])} comm messages/s over the run, set-up and final flush included "
            f"(target <= 20: {_verdict(run['messages_per_second'] <= 20)})"
            if label == "long"
            else f"{run['comm_messages']} comm messages in all (mostly set-up and the final flush)"
        )
        lines.append(
            f"3. widget traffic, {label} run: {run['chunks']} chunks at {_f(run['chunks_per_second'], 0)}/s "
            f"for {_f(run['seconds'], 2)} s: {rate}; largest flush (text + points) {run['max_bytes_per_flush']} bytes"
        )
    grew = t["long"]["max_bytes_per_flush"] <= 1.2 * t["short"]["max_bytes_per_flush"]
    lines.append(f"   bytes per flush bounded (10x longer run, <= 1.2x bytes): {_verdict(grew)}")
    b, r = results["bytes_per_chunk"], results["rss"]
    lines.append(
        f"4. memory: {_f(b['bytes_per_chunk'], 2)} bytes per chunk held ({_f(b['megabytes'], 1)} MB per million; "
        f"target <= 16: {_verdict(b['bytes_per_chunk'] <= 16)}); RSS growth over {r['runs']} generations "
        f"{_f(r['rss_growth_mb'])} MB (target < 50: {_verdict(r['rss_growth_mb'] < 50)})"
    )
    for name in ("llama_overhead", "mistral_overhead"):
        truth = results[name]["truth"]
        lines.append(
            f"5. metric truth, {name.split('_')[0]}: client/engine decode {_f(truth['client_over_engine_decode'], 3)}; "
            f"max |TTFT + sum(gaps) - generation_time| {_f(truth['max_gaps_plus_ttft_vs_generation_time_ms'], 3)} ms "
            f"(target <= 1: {_verdict(truth['max_gaps_plus_ttft_vs_generation_time_ms'] <= 1)})"
        )
    lines.append("6. backends side by side (cold cache, 32 greedy tokens)")
    lines.append(
        f"   {'backend':<10} {'prompt':>6} {'engine':>7} {'TTFT ms':>9} {'decode':>8} {'prefill':>8} "
        f"{'eng.dec':>8} {'eng.pre':>8}"
    )
    for row in results["side_by_side"]:
        lines.append(
            f"   {row['backend']:<10} {row['prompt_tokens_llama']:>6} {row['prompt_tokens_engine']:>7} "
            f"{_f(row['ttft_ms']):>9} {_f(row['decode_tps']):>8} {_f(row['prefill_tps']):>8} "
            f"{_f(row['engine_decode_tps']):>8} {_f(row['engine_prefill_tps']):>8}"
        )
    if "browser" in results:
        for result in results["browser"].values():
            lines += browser_rows(result)
    if "first_run" in results:
        lines += first_run_rows(results["first_run"])
    lines += token_budget_rows(results["token_budget"]) + engine_settings_rows(results["engine_settings"])
    if "load_cost" in results:
        lines += ["", *load_cost_rows(results["load_cost"])]
    if "load_peer" in results:
        lines += ["", *load_peer_rows(results["load_peer"])]
    if "load_view" in results:
        lines += ["", *load_view_rows(results["load_view"])]
    if "telemetry" in results:
        lines += ["", *telemetry_rows(results["telemetry"])]
    if "phases" in results:
        lines += ["", *phases_rows(results["phases"])]
    return "\n".join(lines)


def token_budget_rows(budget: dict[str, Any]) -> list[str]:
    """Where one decoded token's time goes, llama.cpp's share first (item 8 of the table)."""
    ms, share = budget["ms_per_token"], budget["share_of_token"]
    ours = share["our_loop_beyond_llama_cpp"]
    return [
        f"8. one decoded token ({budget['tokens']} greedy tokens, {budget['rounds']} alternating rounds, medians): "
        f"{_f(ms['ours'], 2)} ms through our backend",
        f"   llama.cpp decode {_f(ms['decode'], 2)} ms ({share['llama_decode']:.1%}), its sampler "
        f"+{_f(ms['decode_sample'] - ms['decode'], 2)} ms ({share['llama_sampler']:.1%}), "
        f"llama-cpp-python's generate() +{_f(ms['binding'] - ms['decode_sample'], 2)} ms ({share['binding']:.1%}), "
        f"our loop +{_f(ms['ours'] - ms['binding'], 2)} ms ({share['our_loop_beyond_binding']:.1%})",
        f"   our loop's share beyond llama.cpp's decode + sampling {ours:.1%} "
        f"(target <= 3 %: {_verdict(ours <= 0.03)}); "
        f"the live text view adds {share['text_view']:.1%}",
    ]


def engine_settings_rows(cost: dict[str, Any]) -> list[str]:
    """llama.cpp with its default CPU buffer types against the safe setting the probe falls back to."""
    return [
        f"9. llama.cpp safe setting (no extra buffer types) / defaults: decode "
        f"{_f(cost['safe']['decode_tps'])} / {_f(cost['default']['decode_tps'])} tok/s = "
        f"{cost['decode_safe_over_default']:.3f}; prefill {_f(cost['safe']['prefill_tps'])} / "
        f"{_f(cost['default']['prefill_tps'])} tok/s = {cost['prefill_safe_over_default']:.3f}"
    ]


def main() -> int:
    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": {
            p: version(p) for p in ("xybrid_notebook", "llama-cpp-python", "mistralrs", "ipywidgets", "plotly")
        },
    }
    results["core_cost"] = _step("per-chunk cost of the core", per_chunk_cost)
    results["bytes_per_chunk"] = _step("bytes per chunk", bytes_per_chunk)
    results["traffic"] = _step("widget traffic in a kernel", widget_traffic)
    results["llama_overhead"] = _step("llama.cpp streaming overhead", llama_overhead)
    results["mistral_overhead"] = _step("mistral.rs streaming overhead", mistral_overhead)
    results["rss"] = _step("RSS over 200 generations", rss_over_generations)
    results["side_by_side"] = _step("backends side by side", side_by_side)
    results["browser"] = _step("real browser: JupyterLab + headless Chromium, both models", both_models)
    results["first_run"] = _step("the first run in a fresh JupyterLab page", first_run)
    results["token_budget"] = _step("where a decoded token's time goes", token_budget)
    results["engine_settings"] = _step("llama.cpp defaults vs the safe setting", engine_settings_cost)
    results["load_cost"] = _step("the load generator's own error against a cadence stub", generator_error)
    results["load_peer"] = _step("load test figures against AIPerf on llama-server", peer_agreement)
    results["load_view"] = _step("the load test's live view in a real browser, with and without", load_view_cost)
    results["telemetry"] = _step("what OpenTelemetry export costs a run", telemetry_cost)
    results["phases"] = _step(
        "where the time goes: truth against llama.cpp and llama-server, stalls, cost", phases_benchmark
    )
    results["seconds"] = time.perf_counter() - started
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, default=str))
    print(table(results))
    print(f"\nwrote {RESULTS} in {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
