"""1 and 5: streaming overhead against bare engine loops, and client figures against engine figures."""

from __future__ import annotations

from typing import Any

from xybrid_notebook import GenerationConfig, LlmConfig, create_backend, resolve_model
from xybrid_notebook.backends.llama_cpp import default_thread_count

from .common import BENCH_MODEL, PROMPT, StreamTiming, alternate, summarize, time_stream
from .kernel import BenchKernel

N_TOKENS = 128
GREEDY = GenerationConfig(max_tokens=N_TOKENS, temperature=0)


def _ours(backend: Any, outputs: list[Any]) -> StreamTiming:
    backend.reset_cache()
    out = backend.generate_raw_streaming(PROMPT, GREEDY, lambda token: None)
    outputs.append(out)
    return StreamTiming(out.ttft_ms, out.decode_tps, out.emitted_chunks, out.engine_decode_tps)


def _bare_llama(backend: Any) -> StreamTiming:
    backend.reset_cache()
    tokens = backend.tokenize(PROMPT)
    stream = backend._llama.create_completion(tokens, max_tokens=N_TOKENS, temperature=0, stream=True)
    return time_stream(stream, lambda chunk: 1 if chunk["choices"][0]["text"] else 0)


def _bare_mistral(backend: Any) -> StreamTiming:
    import mistralrs

    from xybrid_notebook.chat_format import RAW_ROLE

    request = mistralrs.ChatCompletionRequest(
        model="default",
        messages=[{"role": RAW_ROLE, "content": backend.format_prompt(PROMPT)}],
        max_tokens=N_TOKENS,
        temperature=0.0,
        stream=True,
    )
    usage: list[Any] = []

    def tokens(chunk: Any) -> int:
        if chunk.usage is not None:
            usage.append(chunk.usage)
        return 1 if chunk.choices and chunk.choices[0].delta.content else 0

    timing = time_stream(backend._runner.send_chat_completion_request(request), tokens)
    timing.engine_decode_tps = usage[-1].avg_compl_tok_per_sec if usage else None
    return timing


KERNEL_SETUP = """
%load_ext xybrid_notebook
%xybrid load {model} --threads {threads}
"""
KERNEL_RUN = """
_xybrid_backend = get_ipython().find_magic('xybrid').__self__.session.backend
_xybrid_backend.reset_cache()
get_ipython().run_cell_magic('generate', '-n {n} -t 0 --raw', {prompt!r})
"""
KERNEL_FIGURES = (
    "{'ttft': _xybrid_last.ttft_ms, 'decode': _xybrid_last.decode_tps, 'chunks': _xybrid_last.emitted_chunks}"
)


def _full_path(kernel: BenchKernel) -> StreamTiming:
    run = kernel.run(KERNEL_RUN.format(n=N_TOKENS, prompt=PROMPT))
    if run.status != "ok":
        raise RuntimeError(run.error)
    figures = kernel.value(KERNEL_FIGURES)
    return StreamTiming(figures["ttft"], figures["decode"], figures["chunks"])


def _truth(outputs: list[Any]) -> dict[str, Any]:
    ratios = [o.decode_tps / o.engine_decode_tps for o in outputs if o.decode_tps and o.engine_decode_tps]
    residue = [abs(o.ttft_ms + sum(o.inter_chunk_ms) - o.generation_time_ms) for o in outputs]
    return {
        "client_over_engine_decode": sorted(ratios)[len(ratios) // 2] if ratios else None,
        "max_gaps_plus_ttft_vs_generation_time_ms": max(residue) if residue else None,
    }


def llama_overhead(rounds: int = 5) -> dict[str, Any]:
    """(a) bare create_completion, (b) our backend, (c) %%generate in a real kernel with the dashboard."""
    threads = default_thread_count()
    backend = create_backend("llama-cpp")
    backend.load(LlmConfig(resolve_model(BENCH_MODEL), n_threads=threads))
    kernel = BenchKernel()
    try:
        setup = kernel.run(KERNEL_SETUP.format(model=BENCH_MODEL, threads=threads))
        if setup.status != "ok":
            raise RuntimeError(setup.error)
        outputs: list[Any] = []
        results = alternate(
            rounds,
            {
                "a_bare": lambda: _bare_llama(backend),
                "b_backend": lambda: _ours(backend, outputs),
                "c_full_kernel": lambda: _full_path(kernel),
            },
        )
    finally:
        kernel.close()
        backend.unload()
    return {"threads": threads, **summarize(results), "truth": _truth(outputs)}


def mistral_overhead(rounds: int = 5) -> dict[str, Any]:
    """(a) bare mistralrs streaming, (b) our backend."""
    backend = create_backend("mistralrs")
    backend.load(LlmConfig(resolve_model(BENCH_MODEL)))
    outputs: list[Any] = []
    try:
        results = alternate(
            rounds, {"a_bare": lambda: _bare_mistral(backend), "b_backend": lambda: _ours(backend, outputs)}
        )
    finally:
        backend.unload()
    return {**summarize(results), "truth": _truth(outputs)}
