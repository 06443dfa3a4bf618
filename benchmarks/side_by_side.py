"""6: TTFT, decode and prefill of both engines at prompt lengths of 16, 256 and 1,024 tokens."""

from __future__ import annotations

from typing import Any

from xybrid_notebook import GenerationConfig, LlmConfig, create_backend, resolve_model

from .common import BENCH_MODEL

LENGTHS = (16, 256, 1024)
FILLER = (
    "The bicycle was invented in the nineteenth century and changed how people travelled in cities. "
    "Early designs had no pedals, and riders pushed themselves along with their feet. "
)


def prompt_of(tokens: int) -> str:
    """A raw prompt of exactly `tokens` llama.cpp tokens (BOS included), cut from plain prose."""
    llama = create_backend("llama-cpp")
    llama.load(LlmConfig(resolve_model(BENCH_MODEL), context_length=4096))
    ids = llama.tokenize(FILLER * (tokens // 10 + 2))[:tokens]
    text = llama._llama.detokenize(ids[1:]).decode("utf-8", errors="ignore")
    llama.unload()
    return text


def side_by_side(max_tokens: int = 32, repeats: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """One row per (backend, prompt length): medians over a few cold-cache runs."""
    repeats = repeats or {"llama-cpp": 3, "mistralrs": 1}
    prompts = {n: prompt_of(n) for n in LENGTHS}
    rows = []
    for name in ("llama-cpp", "mistralrs"):
        backend = create_backend(name)
        backend.load(LlmConfig(resolve_model(BENCH_MODEL), context_length=4096))
        backend.generate_raw("warm up", GenerationConfig(max_tokens=4, temperature=0))
        for n, prompt in prompts.items():
            outs = []
            for _ in range(repeats[name]):
                backend.reset_cache()
                outs.append(backend.generate_raw(prompt, GenerationConfig(max_tokens=max_tokens, temperature=0)))
            outs.sort(key=lambda o: o.ttft_ms or 0)
            mid = outs[len(outs) // 2]
            rows.append(
                {
                    "backend": name,
                    "prompt_tokens_llama": n,
                    "prompt_tokens_engine": mid.prompt_tokens,
                    "cached": mid.prompt_cached_tokens,
                    "ttft_ms": mid.ttft_ms,
                    "decode_tps": mid.decode_tps,
                    "prefill_tps": mid.prefill_tps,
                    "engine_decode_tps": mid.engine_decode_tps,
                    "engine_prefill_tps": mid.engine_prefill_tps,
                }
            )
        backend.unload()
    return rows
