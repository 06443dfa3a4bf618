"""Runners: one repetition of one configuration, on llama-bench's tests or through a backend's stream.

`LlamaBenchRunner` runs llama-bench's pp and tg tests on llama.cpp's C API
(`backends/llama_cpp_bench.py`) and measures the sampler apart (`sample_ms_per_token`).
`StreamingRunner` measures any loaded backend through its streaming API and can vary
only `n_prompt` and `n_gen`. `Runners` creates one per (backend, model) and closes them.
Every figure comes from the core's clock (`metrics.ChunkClock`), passed in by the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Optional, Protocol, Union

import numpy as np

from ..backends import create_backend
from ..backends.base import LlmBackend
from ..backends.gguf_file import GgufFileBackend
from ..errors import InvalidInput
from ..metrics import NS_PER_MS, NS_PER_S, ChunkClock
from ..models import resolve_model
from ..types import GenerationConfig, GenerationOutput, LlmConfig
from .measures import Repetition
from .params import SweepConfig

ClockFactory = Callable[[], ChunkClock]


class Runner(Protocol):
    """Runs one repetition of a configuration; the loop owns the order, the clock and the statistics."""

    def run(self, config: SweepConfig, clock_factory: ClockFactory) -> Repetition: ...

    def threads_used(self, config: SweepConfig) -> Optional[int]: ...

    def close(self) -> None: ...


class LlamaBenchRunner:
    """llama-bench's pp and tg tests on llama.cpp's C API, plus the sampler's cost measured apart."""

    def __init__(
        self, model_path: Path, sampling: GenerationConfig, settings: Optional[dict[str, object]] = None
    ) -> None:
        from ..backends.llama_cpp_bench import LlamaBenchEngine

        self.engine = LlamaBenchEngine(model_path, settings)
        self.sampling = sampling

    def threads_used(self, config: SweepConfig) -> Optional[int]:
        """The sweep's threads, or every core this process may use."""
        from ..backends.llama_cpp import default_thread_count

        return config.threads or default_thread_count()

    def _prepare(self, config: SweepConfig) -> None:
        from ..backends.llama_cpp_bench import ContextShape

        shape = ContextShape(
            max(config.n_ctx(), 16), config.n_batch, config.n_ubatch, config.flash_attn, config.type_k, config.type_v
        )
        self.engine.use_context(shape, self.threads_used(config) or 1)
        self.engine.clear()
        if config.depth:
            self.engine.test_prompt(config.depth)

    def run(self, config: SweepConfig, clock_factory: ClockFactory) -> Repetition:
        """pp on a fresh cache after `depth` tokens, then tg the same way, then the sampler."""
        rep = Repetition()
        if config.n_prompt:
            self._prepare(config)
            clock = clock_factory()
            clock.start()
            self.engine.test_prompt(config.n_prompt)
            clock.stamp(config.n_prompt)
            clock.stop()
            rep.ttft_ms = clock.offsets_ns[0] / NS_PER_MS
            rep.pp_tps = config.n_prompt / (clock.offsets_ns[0] / NS_PER_S)
        if config.n_gen:
            self._prepare(config)
            clock = clock_factory()
            clock.start()
            self.engine.test_gen(config.n_gen, clock.stamp)
            clock.stop()
            offsets = np.array(clock.offsets_ns, dtype=np.int64)
            rep.tg_tps = config.n_gen / (offsets[-1] / NS_PER_S)
            rep.token_ms = (np.diff(offsets, prepend=0) / NS_PER_MS).tolist()
            clock = clock_factory()
            clock.start()
            self.engine.sample(self.sampling, config.n_gen, clock.stamp)
            clock.stop()
            rep.sample_ms_per_token = clock.offsets_ns[-1] / NS_PER_MS / config.n_gen
        return rep

    def close(self) -> None:
        """Free the engine's model and context."""
        self.engine.close()


class StreamingRunner:
    """Any loaded backend through its streaming API: pp from TTFT, tg from the chunk times.

    One greedy generation per repetition on a cleared cache: the prompt is `n_prompt`
    words ("the the ..."; its token count is the engine's), and up to `n_gen` tokens
    are generated. Unlike llama-bench's tests, tg here includes sampling.
    """

    def __init__(self, backend: LlmBackend) -> None:
        self.backend = backend

    def threads_used(self, config: SweepConfig) -> Optional[int]:
        """Unknown: the engine picks its own threads."""
        return None

    def run(self, config: SweepConfig, clock_factory: ClockFactory) -> Repetition:
        """One generation: pp = computed prompt tokens / TTFT, tg = decode rate after the first chunk."""
        self.backend.reset_cache()
        prompt = " ".join(["the"] * max(config.n_prompt, 1))
        settings = GenerationConfig(max_tokens=max(config.n_gen, 1), temperature=0)
        out: GenerationOutput = self.backend.generate_raw_streaming(prompt, settings, None, clock=clock_factory())
        rep = Repetition(ttft_ms=out.ttft_ms)
        if config.n_prompt:
            rep.pp_tps = out.prefill_tps
        if config.n_gen:
            rep.tg_tps, rep.token_ms = out.decode_tps, list(out.inter_chunk_ms)
        return rep

    def close(self) -> None:
        """The backend belongs to the caller: nothing to free."""


class Runners:
    """One runner per (backend, model), created on first use and closed at the end."""

    def __init__(self, sampling: GenerationConfig) -> None:
        self.sampling = sampling
        self._runners: dict[tuple[Union[int, str], Optional[Path]], Runner] = {}
        self._owned: list[LlmBackend] = []

    def for_config(self, config: SweepConfig) -> Runner:
        """The runner for this configuration's backend and model."""
        key = (config.key("backend") if isinstance(config.backend, LlmBackend) else config.backend_label, config.model)
        if key not in self._runners:
            self._runners[key] = self._create(config)
        return self._runners[key]

    def _create(self, config: SweepConfig) -> Runner:
        backend = config.backend
        if config.runs_llama_bench:
            return self._llama_bench(config)
        if isinstance(backend, LlmBackend):
            return StreamingRunner(backend)
        fresh = create_backend(str(backend))
        if fresh.target == "remote":
            raise InvalidInput(f"backend: load the {fresh.name} backend first and pass the loaded object")
        fresh.load(LlmConfig(config.model or resolve_model(), context_length=max(config.n_ctx() + 16, 256)))
        self._owned.append(fresh)
        return StreamingRunner(fresh)

    def _llama_bench(self, config: SweepConfig) -> Runner:
        """llama-bench's tests on the configuration's model, with the settings the engine probe chose."""
        from ..backends.llama_cpp_bench import probed_settings

        backend = config.backend
        if isinstance(backend, GgufFileBackend):  # loaded and probed already
            source = backend.source
            path = config.model or (Path(source.model_path) if source is not None else None)
            return LlamaBenchRunner(path or resolve_model(), self.sampling, backend.engine_settings())
        model = config.model or resolve_model()
        return LlamaBenchRunner(model, self.sampling, probed_settings(model))

    def close(self) -> None:
        """Close every runner and unload the backends the sweep loaded itself."""
        for runner in self._runners.values():
            runner.close()
        for backend in self._owned:
            backend.unload()
        self._runners.clear()
        self._owned.clear()
