"""Where one decoded token's time goes: llama.cpp's decode, its sampler, the binding, our loop, the views.

Five loops over the same loaded model, alternating round by round, each timing
the interval between its first and its last token (no prompt in it):

1. `decode`: llama_decode of one token at a time, no sampling (llama-bench's tg test).
2. `decode_sample`: the same plus llama.cpp's sampler chain our greedy runs use
   (penalties + greedy over the whole vocabulary) — llama.cpp's whole cost.
3. `binding`: llama-cpp-python's `Llama.generate`, which our backend drives.
4. `ours`: our backend with a no-op callback (timing core, text decoding, stops).
5. `ours_text_view`: the same feeding the live run and the text view.

Each step's share of a token is (step - previous step) / `ours`; the target is
that our loop (4 - 2) costs at most 3 % of a token.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from typing import Any

from xybrid_notebook import GenerationConfig, LlmConfig, create_backend, resolve_model
from xybrid_notebook.backends.llama_cpp import default_thread_count
from xybrid_notebook.live import LiveRun
from xybrid_notebook.metrics import ChunkClock
from xybrid_notebook.widgets.text_view import TextView

from .common import PROMPT

MODEL = "gemma3-270m"  # the figures are on Gemma 3 270M: a 262,144-token vocabulary
N_TOKENS = 128
ROUNDS = 5
GREEDY = GenerationConfig(max_tokens=N_TOKENS, temperature=0)


def _seconds_per_token(stamps: list[float]) -> float:
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1)


class _LowLevel:
    """llama.cpp's own decode loop and sampler through the C API, on the backend's context."""

    def __init__(self, backend: Any) -> None:
        import llama_cpp

        self.lib, self.backend, self.llama = llama_cpp, backend, backend._llama
        self.batch = llama_cpp.llama_batch_init(1, 0, 1)
        self.prompt = backend.tokenize(PROMPT)

    def _prefill(self) -> int:
        self.backend.reset_cache()
        self.llama.eval(self.prompt)
        return len(self.prompt)

    def _decode_one(self, token: int, position: int) -> None:
        batch = self.batch
        batch.n_tokens = 1
        batch.token[0], batch.pos[0], batch.n_seq_id[0] = token, position, 1
        batch.seq_id[0][0], batch.logits[0] = 0, True
        if self.lib.llama_decode(self.llama._ctx.ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")

    def run(self, sample: bool) -> float:
        position = self._prefill()
        sampler = self.llama._init_sampler(temp=0.0, repeat_penalty=1.0) if sample else None
        token, stamps = self.prompt[-1], []
        for _ in range(N_TOKENS):
            if sampler is not None:
                token = sampler.sample(self.llama._ctx, -1)
            stamps.append(time.perf_counter())
            self._decode_one(token, position)
            position += 1
        return _seconds_per_token(stamps)


def _binding(backend: Any) -> float:
    backend.reset_cache()
    stamps = []
    for _ in backend._llama.generate(backend.tokenize(PROMPT), temp=0.0, repeat_penalty=1.0, reset=False):
        stamps.append(time.perf_counter())
        if len(stamps) >= N_TOKENS:
            break
    return _seconds_per_token(stamps)


def _ours(backend: Any, with_view: bool) -> float:
    backend.reset_cache()
    clock = ChunkClock()
    callback: Callable[[Any], Any] = lambda token: None  # noqa: E731
    if with_view:
        callback = LiveRun(TextView(io.StringIO()), clock, plot=True).on_token
    out = backend.generate_raw_streaming(PROMPT, GREEDY, callback, clock=clock)
    return 1.0 / out.decode_tps


def token_budget() -> dict[str, Any]:
    """Median ms per token of each loop, and each step's share of our loop's token."""
    backend = create_backend("llama-cpp")
    backend.load(LlmConfig(resolve_model(MODEL), context_length=1024, n_threads=default_thread_count()))
    low = _LowLevel(backend)
    loops: dict[str, Callable[[], float]] = {
        "decode": lambda: low.run(sample=False),
        "decode_sample": lambda: low.run(sample=True),
        "binding": lambda: _binding(backend),
        "ours": lambda: _ours(backend, with_view=False),
        "ours_text_view": lambda: _ours(backend, with_view=True),
    }
    samples: dict[str, list[float]] = {name: [] for name in loops}
    for round_index in range(ROUNDS + 1):
        for name, loop in loops.items():
            seconds = loop()
            if round_index:  # the first round warms caches and is dropped
                samples[name].append(seconds * 1000)
    backend.unload()
    ms = {name: statistics.median(values) for name, values in samples.items()}
    ours = ms["ours"]
    return {
        "tokens": N_TOKENS,
        "rounds": ROUNDS,
        "ms_per_token": ms,
        "samples_ms": samples,
        "share_of_token": {
            "llama_decode": ms["decode"] / ours,
            "llama_sampler": (ms["decode_sample"] - ms["decode"]) / ours,
            "binding": (ms["binding"] - ms["decode_sample"]) / ours,
            "our_loop_beyond_binding": (ms["ours"] - ms["binding"]) / ours,
            "our_loop_beyond_llama_cpp": (ms["ours"] - ms["decode_sample"]) / ours,
            "text_view": (ms["ours_text_view"] - ms["ours"]) / ours,
        },
    }


if __name__ == "__main__":
    import json

    print(json.dumps(token_budget(), indent=1))
