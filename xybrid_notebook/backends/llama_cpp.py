"""LlamaCppBackend: llama.cpp through llama-cpp-python, token by token.

The loop sits on `Llama.generate` (a generator of sampled token ids) rather than
`create_completion(stream=True)`, so each chunk knows how many tokens it holds,
the KV-cache prefix reuse is known exactly, and a cancel stops between tokens.
Text is decoded with an incremental UTF-8 decoder: a chunk never splits a
character, and text that could begin a stop sequence is held back.

Every chunk's gap is split into phases (`PHASES`): the loaded `Llama`'s `eval` is
wrapped for the run, so the prompt's `llama_decode` is `prefill`, each later one
`decode`; from its end until the token
reaches this loop is `sample`; detokenization with the hold-back is `text`.
"""

from __future__ import annotations

import codecs
import ctypes
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..errors import InvalidModelFile, PromptTooLong
from ..gguf_header import GgufHeader
from ..metrics import EngineReport, PhaseClock, PhasePlan
from ..types import GenerationConfig, LlmConfig
from . import engine_log
from .base import EngineChunk, Prompt, Requirement, import_engine
from .gguf_file import GgufFileBackend
from .native_output import captured_native_output, release_native_memory
from .probe import ProbePlan, ProbeStep, cpu_flags

SAFE_SETTINGS = {"use_extra_bufts": False}
PHASES = PhasePlan(first=("prepare", "prefill"), repeating=("decode", "sample", "text"), cpu=True)
_PREFILL, _DECODE, _SAMPLE, _TEXT = (PHASES.names.index(name) for name in ("prefill", "decode", "sample", "text"))
_log_callback: Any = None


def import_llama_cpp() -> Any:
    """Import llama_cpp with its log routed to the engine log (never into a cell), or say how to install it."""
    llama_cpp = import_engine("llama_cpp", "llama-cpp-python")
    _route_native_log(llama_cpp)
    return llama_cpp


def _route_native_log(llama_cpp: Any) -> None:
    """Replace llama-cpp-python's log callback (which prints to sys.stderr) with one that keeps the lines."""
    global _log_callback
    if _log_callback is not None:
        return

    @llama_cpp.llama_log_callback
    def keep_line(level: int, text: bytes, user_data: Any) -> None:
        engine_log.record("llama.cpp", text.decode("utf-8", "replace").splitlines())

    _log_callback = keep_line  # ctypes needs the callback object alive as long as llama.cpp may call it
    llama_cpp.llama_log_set(keep_line, ctypes.c_void_p(0))


@contextmanager
def model_params_overridden(llama_cpp: Any, settings: dict[str, Any]) -> Iterator[None]:
    """Make `Llama(...)` build its `llama_model_params` with `settings` applied (fields it has no argument for)."""
    if not settings:
        yield
        return
    lowlevel = llama_cpp.llama_cpp
    original = lowlevel.llama_model_default_params

    def with_settings() -> Any:
        params = original()
        for name, value in settings.items():
            setattr(params, name, value)
        return params

    lowlevel.llama_model_default_params = with_settings
    try:
        yield
    finally:
        lowlevel.llama_model_default_params = original


def llama_cpp_probe_plan() -> ProbePlan:
    """llama.cpp's defaults first, then without extra CPU buffer types (AMX, weight repacking)."""
    cause = "AMX faults on this machine" if "amx" in cpu_flags() else "llama.cpp's extra CPU buffer types fault here"
    return ProbePlan(
        engine="llama.cpp",
        package="llama_cpp_python",
        target=f"{__name__}:probe_in_child",
        steps=(
            ProbeStep("default settings"),
            ProbeStep("no extra buffer types", SAFE_SETTINGS, f"{cause}: llama.cpp runs without extra buffer types"),
        ),
    )


def probe_in_child(model_path: str, settings: dict[str, Any]) -> None:
    """The child's test: load the model as the backend does and decode a few tokens."""
    llama_cpp = import_llama_cpp()
    with model_params_overridden(llama_cpp, settings):
        llama = llama_cpp.Llama(model_path=model_path, n_ctx=128, n_threads=default_thread_count(), verbose=False)
    tokens = llama.tokenize(b"The quick brown fox", add_bos=True)
    for count, _ in enumerate(llama.generate(tokens, top_k=1, temp=0.0), start=1):
        if count >= 4:
            break
    llama.close()


def default_thread_count() -> int:
    """Every core this process may use (llama-cpp-python's own default is half of them)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class _Request:
    tokens: list[int]
    stops: tuple[str, ...]


def split_at_stop(pending: str, stops: Sequence[str]) -> tuple[str, str, bool]:
    """Split pending text into (safe to emit, held back, stop found).

    On a stop sequence, everything before it is emitted and the rest dropped.
    Otherwise the longest tail that could begin a stop sequence is held back.
    """
    cut = min((i for i in (pending.find(s) for s in stops) if i >= 0), default=-1)
    if cut >= 0:
        return pending[:cut], "", True
    hold = 0
    for stop in stops:
        for length in range(min(len(stop) - 1, len(pending)), hold, -1):
            if pending.endswith(stop[:length]):
                hold = length
                break
    return pending[: len(pending) - hold], pending[len(pending) - hold :], False


class _PieceTable:
    """Token id -> UTF-8 bytes of its piece, cached; special tokens render as nothing."""

    def __init__(self, llama_cpp: Any, vocab: Any) -> None:
        self._lib, self._vocab = llama_cpp, vocab
        self._buffer = ctypes.create_string_buffer(256)
        self._cache: dict[int, bytes] = {}

    def __getitem__(self, token: int) -> bytes:
        piece = self._cache.get(token)
        if piece is None:
            n = self._lib.llama_token_to_piece(self._vocab, token, self._buffer, 256, 0, False)
            piece = self._buffer.raw[: max(n, 0)]
            self._cache[token] = piece
        return piece


def mark_phases(llama: Any, phases: PhaseClock) -> Callable[[], None]:
    """Make `llama.eval` mark `prefill` (its first call) or `decode`, then `sample`; returns what undoes it."""
    original_eval = llama.eval
    evals = 0

    def eval_marked(tokens: Sequence[int]) -> None:
        nonlocal evals
        phases.enter(_PREFILL if evals == 0 else _DECODE)
        evals += 1
        try:
            original_eval(tokens)
        finally:
            phases.enter(_SAMPLE)

    def unmark() -> None:
        del llama.eval

    llama.eval = eval_marked  # an instance attribute: `generate` calls it; the sampler runs right after it
    return unmark


def _no_phase(phase: int) -> None:
    pass


def _no_unmark() -> None:
    pass


class LlamaCppBackend(GgufFileBackend):
    """llama.cpp through llama-cpp-python."""

    name = "llama-cpp"
    requires = (Requirement("llama_cpp", "pip install llama-cpp-python"),)
    phase_plan = PHASES

    def __init__(self) -> None:
        super().__init__()
        self._llama: Any = None
        self._pieces: Optional[_PieceTable] = None
        self._last_cached: Optional[int] = None

    # -- lifecycle ---------------------------------------------------------------------------
    def _load_model(self, config: LlmConfig, header: GgufHeader) -> None:
        llama_cpp = import_llama_cpp()
        try:
            with (
                captured_native_output("llama.cpp") as native_log,
                model_params_overridden(llama_cpp, self.engine_settings()),
            ):
                self._llama = llama_cpp.Llama(
                    model_path=str(Path(config.model_path)),
                    n_ctx=config.context_length,
                    n_threads=config.n_threads or default_thread_count(),
                    n_gpu_layers=config.n_gpu_layers,
                    verbose=False,
                )
        except ValueError as exc:
            detail = native_log[-1] if native_log else str(exc)
            raise InvalidModelFile(f"llama.cpp could not load {config.model_path}: {detail}") from None
        model = self._llama._model
        self._pieces = _PieceTable(llama_cpp, model.vocab)
        self._last_cached = None

    def _unload(self) -> None:
        if self._llama is not None:
            self._llama.close()
        self._llama = self._pieces = None
        release_native_memory()

    def probe_plan(self) -> ProbePlan:
        """Defaults first, then without extra CPU buffer types."""
        return llama_cpp_probe_plan()

    def phase_threads(self) -> int:
        """The threads llama.cpp decodes with."""
        return (self._source.n_threads if self._source is not None else None) or default_thread_count()

    # -- introspection -----------------------------------------------------------------------
    def memory_usage(self) -> Optional[int]:
        """Model weights plus the context's state (KV cache), in bytes."""
        if self._llama is None:
            return None
        llama_cpp = import_llama_cpp()
        weights = int(llama_cpp.llama_model_size(self._llama._model.model))
        return weights + int(llama_cpp.llama_state_get_size(self._llama._ctx.ctx))

    def context_length(self) -> Optional[int]:
        """The usable context: llama.cpp may pad its own, but llama-cpp-python sizes its buffers as asked."""
        if self._llama is None or self._source is None:
            return None
        return min(int(self._llama.n_ctx()), self._source.context_length)

    def last_cached_prefix_len(self) -> Optional[int]:
        """Prompt tokens reused from the KV cache on the last call."""
        return self._last_cached

    def execution_provider(self) -> str:
        """ "cpu" unless layers are offloaded on a GPU build ("cuda", "metal" or "gpu")."""
        if self._source is None or self._source.n_gpu_layers == 0:
            return "cpu"
        llama_cpp = import_llama_cpp()
        if not llama_cpp.llama_supports_gpu_offload():
            return "cpu"
        info = llama_cpp.llama_print_system_info().decode(errors="replace").upper()
        return next((name.lower() for name in ("CUDA", "METAL", "VULKAN") if name in info), "gpu")

    # -- generation --------------------------------------------------------------------------
    def format_prompt(self, prompt: Prompt) -> str:
        """The exact text sent to the engine: the raw prompt, or the rendered chat."""
        if isinstance(prompt, str):
            return prompt
        return self.chat.render(prompt)

    def tokenize(self, text: str, add_bos: Optional[bool] = None) -> list[int]:
        """Tokens of `text` as the engine will see them.

        `add_bos=None` follows the GGUF: BOS in front if the file asks for one and the text lacks it.
        """
        if add_bos is None:
            add_bos = self.chat.needs_bos(text)
        return self._llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        """The tokens a run sends: a raw prompt gets the GGUF's BOS; a rendered chat is taken as the
        template wrote it (a template writes its own BOS, as llama.cpp's server and mistral.rs take it)."""
        text = self.format_prompt(prompt)
        return self.tokenize(text, add_bos=None if isinstance(prompt, str) else False)

    def _count_prompt_tokens(self, prompt: Prompt) -> int:
        """How many tokens llama.cpp makes of `prompt` once formatted (nothing is generated)."""
        return len(self.prompt_tokens(prompt))

    def _prepare(self, prompt: Prompt, config: GenerationConfig) -> _Request:
        tokens = self.prompt_tokens(prompt)
        n_ctx = self.context_length() or 0
        if len(tokens) >= n_ctx:
            raise PromptTooLong(
                f"the prompt is {len(tokens)} tokens but the context holds {n_ctx}: "
                f"shorten it or load the model with a larger context (--ctx {2 * len(tokens)})"
            )
        return _Request(tokens, tuple(config.stop))

    def reset_cache(self) -> None:
        """Clear the KV cache: the next prompt is evaluated in full."""
        if self._llama is not None:
            self._llama.reset()
            self._llama._ctx.kv_cache_clear()

    def _reuse_kv_prefix(self, tokens: list[int]) -> int:
        """Keep the longest cached prefix (leaving one token to evaluate); return its length."""
        llama = self._llama
        cached = llama._input_ids[: llama.n_tokens]
        reuse = 0
        for a, b in zip(cached, tokens[:-1]):
            if a != b:
                break
            reuse += 1
        if reuse and llama._ctx.kv_cache_seq_rm(-1, reuse, -1):
            llama.n_tokens = reuse
            return reuse
        llama.reset()  # the next eval drops every cached cell from position 0; no need to zero them
        return 0

    def _stream(self, prepared: _Request, config: GenerationConfig, report: EngineReport) -> Iterator[EngineChunk]:
        llama_cpp = import_llama_cpp()
        llama, pieces = self._llama, self._pieces
        assert pieces is not None
        tokens = prepared.tokens
        report.prompt_tokens = len(tokens)
        reuse = self._last_cached = report.prompt_cached_tokens = self._reuse_kv_prefix(tokens)
        llama.set_seed(config.seed if config.seed is not None else llama_cpp.LLAMA_DEFAULT_SEED)
        llama_cpp.llama_perf_context_reset(llama._ctx.ctx)
        vocab, is_eog = llama._model.vocab, llama_cpp.llama_vocab_is_eog
        n_ctx, stops = self.context_length() or 0, prepared.stops
        decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        sampled = llama.generate(
            tokens[reuse:],
            top_k=config.top_k,
            top_p=config.top_p,
            min_p=config.min_p,
            temp=config.temperature,
            repeat_penalty=config.repeat_penalty,
            reset=False,
        )
        pending, pending_tokens, generated = "", 0, 0
        report.finish_reason = "length"
        marking = self.phase_plan is PHASES  # a subclass may mark nothing (the benchmark's baseline)
        enter, text_phase = (self.phases.enter if marking else _no_phase), _TEXT
        unmark = mark_phases(llama, self.phases) if marking else _no_unmark
        try:
            for token in sampled:
                enter(text_phase)
                if is_eog(vocab, token):
                    report.finish_reason = "stop"
                    break
                generated += 1
                report.tokens_generated = generated
                pending += decoder.decode(pieces[token])
                pending_tokens += 1
                emit, held, stopped = split_at_stop(pending, stops) if stops else (pending, "", False)
                at_limit = generated >= config.max_tokens or llama.n_tokens + 1 >= n_ctx
                if emit:
                    yield EngineChunk(emit, pending_tokens, token, "length" if at_limit and not stopped else None)
                    pending, pending_tokens = held, 0
                if stopped:
                    report.finish_reason = "stop"
                    pending = ""
                    break
                if at_limit:
                    break
            tail = pending + decoder.decode(b"", final=True)
            if tail:
                yield EngineChunk(tail, pending_tokens)
        finally:
            sampled.close()
            unmark()
            self._read_perf_counters(llama_cpp, report)

    def _read_perf_counters(self, llama_cpp: Any, report: EngineReport) -> None:
        perf = llama_cpp.llama_perf_context(self._llama._ctx.ctx)
        if perf.n_eval > 0 and perf.t_eval_ms > 0:
            report.engine_decode_tps = perf.n_eval / (perf.t_eval_ms / 1000.0)
        if perf.n_p_eval > 0 and perf.t_p_eval_ms > 0:
            report.engine_prefill_tps = perf.n_p_eval / (perf.t_p_eval_ms / 1000.0)
