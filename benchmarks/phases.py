"""Where the time goes, checked and costed: the phases against llama.cpp's own perf counters and
llama-server's `timings`, stalls on a quiet machine and under a CPU hog, and what phases cost.

`python -m benchmarks.phases` prints the table alone; `make bench` includes it.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xybrid_notebook import GenerationConfig, LlmConfig, resolve_model
from xybrid_notebook.backends.llama_cpp import LlamaCppBackend
from xybrid_notebook.backends.remote import RemoteBackend, RemoteSpec
from xybrid_notebook.backends.scripted import Script, ScriptedBackend
from xybrid_notebook.host import HOG_NAME, start_cpu_hog
from xybrid_notebook.metrics import ChunkClock, PhaseClock, PhasePlan
from xybrid_notebook.servers import serve
from xybrid_notebook.session import Session

from .common import PROMPT

CHAT_MODEL = "smollm2-135m-instruct"
N_TOKENS = 128
GREEDY = GenerationConfig(max_tokens=N_TOKENS, temperature=0)


class UnmarkedLlamaCpp(LlamaCppBackend):
    """llama.cpp with no phase marked: the baseline phases are costed against."""

    phase_plan = PhasePlan()


class UnmarkedScripted(ScriptedBackend):
    """The scripted engine with no phase marked."""

    phase_plan = PhasePlan()


def _llama(cls: type[LlamaCppBackend]) -> LlamaCppBackend:
    backend = cls()
    backend.load(LlmConfig(resolve_model(CHAT_MODEL), context_length=2048))
    return backend


def counter_agreement(rounds: int = 7) -> dict[str, Any]:
    """Our prefill and decode totals over llama.cpp's t_p_eval and t_eval, per run (medians and worst)."""
    import llama_cpp

    backend = _llama(LlamaCppBackend)
    prefill, decode = [], []
    for _ in range(rounds):
        backend.reset_cache()
        out = backend.generate_raw_streaming(PROMPT, GREEDY, None)
        perf = llama_cpp.llama_perf_context(backend._llama._ctx.ctx)
        prefill.append(sum(out.phases_ms["prefill"]) / perf.t_p_eval_ms)
        decode.append(sum(out.phases_ms["decode"]) / perf.t_eval_ms)
    backend.unload()
    return {
        "runs": rounds,
        "prefill_over_t_p_eval": statistics.median(prefill),
        "decode_over_t_eval": statistics.median(decode),
        "worst_prefill": max(prefill, key=lambda r: abs(r - 1)),
        "worst_decode": max(decode, key=lambda r: abs(r - 1)),
    }


def decode_cost(rounds: int = 7) -> dict[str, Any]:
    """Client decode rate with phases marked over without, alternating A, B, A, B (medians)."""
    marked, unmarked = _llama(LlamaCppBackend), _llama(UnmarkedLlamaCpp)
    rates: dict[str, list[float]] = {"marked": [], "unmarked": []}
    for round_index in range(rounds + 1):
        for name, backend in (("marked", marked), ("unmarked", unmarked)):
            backend.reset_cache()
            out = backend.generate_raw_streaming(PROMPT, GREEDY, None)
            if round_index and out.decode_tps:
                rates[name].append(out.decode_tps)
    marked.unload()
    unmarked.unload()
    m, u = statistics.median(rates["marked"]), statistics.median(rates["unmarked"])
    return {"rounds": rounds, "marked_tps": m, "unmarked_tps": u, "ratio": m / u}


def core_cost(n: int = 100_000) -> dict[str, Any]:
    """Microseconds per chunk the phases add to the core (the scripted engine, marked against not)."""

    def per_chunk(cls: type[ScriptedBackend]) -> float:
        backend = cls(Script(chunks=["tok "] * n))
        backend.load(LlmConfig("scripted.gguf"))
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            backend.generate_raw_streaming("go", GenerationConfig(max_tokens=n), None)
            best = min(best, time.perf_counter() - started)
        return best / n * 1e6

    unmarked_us, marked_us = per_chunk(UnmarkedScripted), per_chunk(ScriptedBackend)
    plan = LlamaCppBackend.phase_plan
    phases = PhaseClock(ChunkClock(), plan)
    phases.start()
    for _ in range(n):
        phases.stamp()
    held = sum(a.buffer_info()[1] * a.itemsize for a in (*phases.per_chunk_us, phases.cpu_us))
    return {
        "marked_us": marked_us,
        "unmarked_us": unmarked_us,
        "added_us": marked_us - unmarked_us,
        "bytes_per_chunk": held / n,
    }


def stall_rates(quiet_runs: int = 5) -> dict[str, Any]:
    """Stalls flagged per chunk on a quiet machine, and in runs with one hog per core started mid-run."""
    backend = _llama(LlamaCppBackend)
    session = Session()
    session.backends["local"] = backend
    config = GenerationConfig(max_tokens=400, temperature=0)
    prompt = "Tell me a long story about a dragon who rides a bicycle."
    quiet = []
    for _ in range(quiet_runs):
        backend.reset_cache()
        out = session.generate(prompt, config=config)
        quiet.append(len(out.stalls) / max(out.emitted_chunks - 1, 1))
    hog_runs = []
    for _ in range(3):
        backend.reset_cache()
        hogs = start_cpu_hog(1.5, delay_s=1.5)
        out = session.generate(prompt, config=config)
        for hog in hogs:
            hog.wait(timeout=10)
        named = sum(any(o["name"] == HOG_NAME for o in s["others"]) for s in out.stalls)
        hog_runs.append({"stalls": len(out.stalls), "named_hog": named, "line": out.where_time_went})
    backend.unload()
    return {"quiet_share_max": max(quiet), "quiet_shares": quiet, "hog_runs": hog_runs}


def server_agreement(runs: int = 5) -> dict[str, Any]:
    """server_prefill against llama-server's prompt_ms and the sum of server_decode against predicted_ms."""
    served = serve(CHAT_MODEL, parallel=1)
    try:
        backend = RemoteBackend()
        backend.load(RemoteSpec(served.url, served.model_id))
        timings: list[Any] = []
        original = backend._events

        def keep(response: Any, report: Any, chunk_timings: list[Any]) -> Any:
            yield from original(response, report, chunk_timings)
            timings.append(chunk_timings[-1])

        backend._events = keep  # type: ignore[method-assign]
        prefill_diff, decode_diff, transport = [], [], []
        for i in range(runs):
            out = backend.generate_raw_streaming(
                f"{PROMPT} ({i})", GenerationConfig(max_tokens=64, temperature=0), None
            )
            last = timings[-1]
            prefill_diff.append(abs(out.phases_ms["server_prefill"][0] - last.prompt_ms))
            decode_diff.append(abs(sum(out.phases_ms["server_decode"]) - last.predicted_ms))
            transport.append(out.phase_shares()["transport"])
        backend.unload()
    finally:
        served.stop()
    return {
        "runs": runs,
        "max_prefill_diff_ms": max(prefill_diff),
        "max_decode_sum_diff_ms": max(decode_diff),
        "median_transport_share": statistics.median(transport),
    }


def phases_benchmark() -> dict[str, Any]:
    """Every figure of this file (each measured alone, one after another)."""
    return {
        "core": core_cost(),
        "counters": counter_agreement(),
        "decode_cost": decode_cost(),
        "stalls": stall_rates(),
        "server": server_agreement(),
    }


def _verdict(ok: Optional[bool]) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def rows(result: dict[str, Any]) -> list[str]:
    """The benchmark's lines for the table."""
    core, counters, cost = result["core"], result["counters"], result["decode_cost"]
    stalls, server = result["stalls"], result["server"]
    within_3 = abs(counters["worst_prefill"] - 1) <= 0.03 and abs(counters["worst_decode"] - 1) <= 0.03
    hog_named = all(r["named_hog"] >= 1 for r in stalls["hog_runs"])
    lines = [
        "where the time goes (SmolLM2 on llama.cpp; llama-server with 1 slot)",
        f"   phases cost the core {core['added_us']:.2f} µs per chunk "
        f"(target <= 2: {_verdict(core['added_us'] <= 2)}); "
        f"the phase clock holds {core['bytes_per_chunk']:.1f} bytes per chunk (target <= 16: "
        f"{_verdict(core['bytes_per_chunk'] <= 16)})",
        f"   decode with phases / without: {cost['marked_tps']:.1f} / {cost['unmarked_tps']:.1f} tok/s = "
        f"{cost['ratio']:.3f} ({cost['rounds']} alternating rounds; "
        f"target >= 0.99: {_verdict(cost['ratio'] >= 0.99)})",
        f"   prefill / llama.cpp t_p_eval {counters['prefill_over_t_p_eval']:.4f} "
        f"(worst {counters['worst_prefill']:.4f}); "
        f"decode / t_eval {counters['decode_over_t_eval']:.4f} (worst {counters['worst_decode']:.4f}) over "
        f"{counters['runs']} runs (target within 3 %: {_verdict(within_3)})",
        f"   llama-server: |server_prefill - prompt_ms| <= {server['max_prefill_diff_ms']:.3f} ms, "
        f"|sum(server_decode) - predicted_ms| <= {server['max_decode_sum_diff_ms']:.3f} ms over {server['runs']} runs "
        f"(target <= 1 ms: {_verdict(server['max_decode_sum_diff_ms'] <= 1)}); transport "
        f"{100 * server['median_transport_share']:.1f} % of the time",
        f"   stalls on a quiet machine: at most {100 * stalls['quiet_share_max']:.2f} % of chunks "
        f"(target <= 1 %: {_verdict(stalls['quiet_share_max'] <= 0.01)}); with a hog per core mid-run: "
        + ", ".join(f"{r['stalls']} stalls ({r['named_hog']} naming {HOG_NAME})" for r in stalls["hog_runs"])
        + f" ({_verdict(hog_named)})",
    ]
    return lines + [f"   e.g. {stalls['hog_runs'][0]['line']}"]


if __name__ == "__main__":
    print("\n".join(rows(phases_benchmark())))
