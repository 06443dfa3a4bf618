"""llama-bench's pp and tg tests through llama.cpp's C API (llama-cpp-python's low-level binding), with their checks.

The loops follow llama.cpp's `tools/llama-bench/llama-bench.cpp` of the version
llama-cpp-python vendors:

- the context is sized `n_prompt + n_gen + depth` with the sweep's `n_batch`,
  `n_ubatch`, flash attention and KV-cache types, and `swa_full` off (a model with
  sliding-window attention, such as Gemma 3, keeps only each window in its cache);
- `depth` synthetic tokens are decoded into the KV cache before a test, untimed;
- pp (`test_prompt`) decodes `n_prompt` synthetic tokens in batches of `n_batch`
  (BOS first when the vocabulary adds one) and synchronizes;
- tg (`test_gen`) decodes `n_gen` tokens one at a time, each fed back without a
  sampler (a random token), synchronizing after each.

Nothing here reads a clock: the caller passes `stamp`, the core clock's hook
(`metrics.ChunkClock.stamp`), which is called the moment each step finishes.
`check_kv_type` checks a KV-cache type before anything loads, and `probed_settings`
asks the engine probe which settings are safe on this machine.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..errors import InvalidInput, InvalidModelFile
from ..run_errors import GenerationError
from ..types import GenerationConfig
from .llama_cpp import import_llama_cpp, llama_cpp_probe_plan
from .native_output import captured_native_output
from .probe import prove_engine

#: KV-cache types llama-bench accepts (`-ctk` / `-ctv`), by their ggml names.
KV_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")
#: Flash attention: None lets llama.cpp choose (llama-bench's default `auto`).
FlashAttn = Optional[bool]
#: llama.h's `llama_flash_attn_type` (what llama-bench's JSON reports too): auto -1, disabled 0, enabled 1.
FLASH_ATTN_TYPES: dict[FlashAttn, int] = {None: -1, False: 0, True: 1}


def check_kv_type(name: object, parameter: str = "type_k") -> str:
    """`name` if llama-bench accepts it as a KV-cache type, else one line naming `parameter` and the choices."""
    if name not in KV_TYPES:
        raise InvalidInput(f"{parameter}: unknown KV cache type {name!r}: choose one of {', '.join(KV_TYPES)}")
    return str(name)


def probed_settings(model_path: Path) -> dict[str, Any]:
    """The llama.cpp settings the engine probe proved safe on this machine for this model (cached per machine)."""
    return dict(prove_engine(llama_cpp_probe_plan(), model_path).settings)


@dataclass(frozen=True)
class ContextShape:
    """What a llama.cpp context is created with; a change needs a new context."""

    n_ctx: int
    n_batch: int
    n_ubatch: int
    flash_attn: FlashAttn
    type_k: str
    type_v: str


def ggml_type(llama_cpp: Any, name: str) -> int:
    """`GGML_TYPE_<NAME>` for a KV-cache type name, or `InvalidInput` listing the known ones."""
    return int(getattr(llama_cpp, f"GGML_TYPE_{check_kv_type(name).upper()}"))


class LlamaBenchEngine:
    """One model loaded through the C API, and one context shaped like llama-bench's at a time."""

    def __init__(self, model_path: Path, settings: Optional[dict[str, Any]] = None, seed: int = 0) -> None:
        self.lib = import_llama_cpp()
        self.model_path = Path(model_path)
        params = self.lib.llama_model_default_params()
        for name, value in (settings or {}).items():  # what the engine probe chose for this machine
            setattr(params, name, value)
        with captured_native_output("llama.cpp"):
            self.model = self.lib.llama_model_load_from_file(str(self.model_path).encode(), params)
        if not self.model:
            raise InvalidModelFile(f"llama.cpp could not load {self.model_path}")
        self.vocab = self.lib.llama_model_get_vocab(self.model)
        self.n_vocab = int(self.lib.llama_vocab_n_tokens(self.vocab))
        self.bos: Optional[int] = (
            int(self.lib.llama_vocab_bos(self.vocab)) if self.lib.llama_vocab_get_add_bos(self.vocab) else None
        )
        self.ctx: Any = None
        self.shape: Optional[ContextShape] = None
        self._rand = random.Random(seed)
        self._tokens: Any = None

    # -- context -----------------------------------------------------------------------------
    def use_context(self, shape: ContextShape, threads: int) -> None:
        """Create the context for `shape` (kept while the shape stays the same) and set the threads."""
        if shape != self.shape:
            self._free_context()
            params = self.lib.llama_context_default_params()
            params.n_ctx, params.n_batch, params.n_ubatch = shape.n_ctx, shape.n_batch, shape.n_ubatch
            params.n_threads = params.n_threads_batch = threads
            params.type_k = ggml_type(self.lib, shape.type_k)
            params.type_v = ggml_type(self.lib, shape.type_v)
            params.flash_attn_type = FLASH_ATTN_TYPES[shape.flash_attn]
            params.swa_full = False  # as llama-bench: sliding-window layers keep only their window (Gemma 3)
            params.no_perf = True
            with captured_native_output("llama.cpp") as log:
                ctx = self.lib.llama_init_from_model(self.model, params)
            if not ctx:
                detail = log[-1] if log else "no detail"
                raise InvalidInput(f"llama.cpp cannot create a context with {shape} on this model ({detail})")
            self.ctx, self.shape = ctx, shape
            self._tokens = (self.lib.llama_token * shape.n_batch)()
        self.lib.llama_set_n_threads(self.ctx, threads, threads)

    def clear(self) -> None:
        """Empty the KV cache (llama-bench does it before every repetition)."""
        self.lib.llama_memory_clear(self.lib.llama_get_memory(self.ctx), False)

    # -- the tests ---------------------------------------------------------------------------
    def test_prompt(self, n_tokens: int) -> None:
        """llama-bench's `test_prompt`: decode `n_tokens` synthetic tokens in batches of `n_batch`."""
        assert self.shape is not None
        lib, tokens, n_batch, done = self.lib, self._tokens, self.shape.n_batch, 0
        while done < n_tokens:
            count = min(n_tokens - done, n_batch)
            tokens[0] = self.bos if done == 0 and self.bos is not None else self._random_token()
            for i in range(1, count):
                tokens[i] = self._random_token()
            self._decode(lib.llama_batch_get_one(tokens, count))
            done += count
        lib.llama_synchronize(self.ctx)

    def test_gen(self, n_gen: int, stamp: Callable[[int], Any]) -> None:
        """llama-bench's `test_gen`: decode `n_gen` tokens one by one, no sampler; `stamp(1)` after each."""
        lib, token = self.lib, (self.lib.llama_token * 1)()
        token[0] = self.bos if self.bos is not None else self._random_token()
        for _ in range(n_gen):
            self._decode(lib.llama_batch_get_one(token, 1))
            lib.llama_synchronize(self.ctx)
            stamp(1)
            token[0] = self._random_token()

    def sample(self, config: GenerationConfig, n_tokens: int, stamp: Callable[[int], Any]) -> None:
        """Run the sampler chain of `config` `n_tokens` times on the last logits; `stamp(1)` after each.

        The chain is llama-cpp-python's for the same settings (penalties, then greedy,
        or top-k, typical, top-p, min-p, temperature and a seeded draw), over the whole vocabulary.
        """
        chain = self._sampler_chain(config)
        try:
            for _ in range(n_tokens):
                token = self.lib.llama_sampler_sample(chain, self.ctx, -1)
                self.lib.llama_sampler_accept(chain, token)
                stamp(1)
        finally:
            self.lib.llama_sampler_free(chain)

    def _sampler_chain(self, config: GenerationConfig) -> Any:
        lib = self.lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        add = lambda sampler: lib.llama_sampler_chain_add(chain, sampler)  # noqa: E731
        add(lib.llama_sampler_init_penalties(self.n_vocab, 64, config.repeat_penalty, 0.0, 0.0))
        if config.temperature == 0:
            add(lib.llama_sampler_init_greedy())
            return chain
        add(lib.llama_sampler_init_top_k(config.top_k))
        add(lib.llama_sampler_init_typical(1.0, 1))
        add(lib.llama_sampler_init_top_p(config.top_p, 1))
        add(lib.llama_sampler_init_min_p(config.min_p, 1))
        add(lib.llama_sampler_init_temp(config.temperature))
        seed = config.seed if config.seed is not None else lib.LLAMA_DEFAULT_SEED
        add(lib.llama_sampler_init_dist(seed))
        return chain

    def _random_token(self) -> int:
        return self._rand.randrange(self.n_vocab)

    def _decode(self, batch: Any) -> None:
        status = self.lib.llama_decode(self.ctx, batch)
        if status != 0:
            raise GenerationError(f"llama_decode failed with status {status} (context full or out of memory)")

    # -- lifecycle ---------------------------------------------------------------------------
    def _free_context(self) -> None:
        if self.ctx is not None:
            self.lib.llama_free(self.ctx)
        self.ctx = self.shape = None

    def close(self) -> None:
        """Free the context and the model."""
        self._free_context()
        if self.model is not None:
            self.lib.llama_model_free(self.model)
            self.model = None
