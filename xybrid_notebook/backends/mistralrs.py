"""MistralRsBackend: mistral.rs through its Python binding, streamed by chat completion.

mistral.rs applies its chat template to every chat request, so the Runner gets
our template explicitly (the GGUF's own, else the built-in fallback: the same
one llama.cpp renders), wrapped so that a raw prompt passes through verbatim.
The model is loaded strictly offline: `HF_HUB_OFFLINE=1`, `token_source="none"`.
"""

from __future__ import annotations

import hashlib
import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

from ..chat_format import RAW_ROLE, chat_template_for, with_raw_passthrough
from ..errors import InvalidInput, InvalidModelFile, PromptTooLong
from ..gguf_header import GgufHeader
from ..metrics import EngineReport, PhasePlan
from ..models import cache_dir, split_names, validate_model_file
from ..types import GenerationConfig, LlmConfig
from .base import EngineChunk, Prompt, Requirement, import_engine
from .gguf_file import GgufFileBackend
from .llama_cpp import default_thread_count
from .native_output import captured_native_output, release_native_memory
from .probe import ProbePlan, ProbeStep

REPLACEMENT_CHARACTER = "\ufffd"
# mistral.rs's stream allows one split: the wait on it (its prefill, decode, sampling and detokenization
# together, in its own threads) is `engine`; our hold-back of U+FFFD is `text`.
PHASES = PhasePlan(first=("prepare",), repeating=("engine", "text"), cpu=True)
_ENGINE, _TEXT = PHASES.names.index("engine"), PHASES.names.index("text")
_FINISH_REASONS = {"stop": "stop", "length": "length", "eos": "stop", "canceled": "cancelled"}


def import_mistralrs() -> Any:
    """Import mistralrs, or say how to install it."""
    return import_engine("mistralrs", "mistralrs")


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except OSError:  # pragma: no cover - not Linux
        return 0


@contextmanager
def _hub_offline() -> Iterator[None]:
    """`HF_HUB_OFFLINE=1` while mistral.rs opens the file, then as it was (the kernel may still download)."""
    before = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = before


def _new_runner(mistralrs: Any, path: Path, template_file: Optional[Path]) -> Any:
    """A Runner for the GGUF at `path` (every part of a split, by the names in its folder), strictly offline."""
    names = split_names(path.name)
    with _hub_offline():
        return mistralrs.Runner(
            which=mistralrs.Which.GGUF(
                quantized_model_id=str(path.parent), quantized_filename=names if len(names) > 1 else path.name
            ),
            token_source="none",
            jinja_explicit=None if template_file is None else str(template_file),
        )


def probe_in_child(model_path: str, settings: dict[str, Any]) -> None:
    """The child's test: build a Runner for the model and stream a few tokens."""
    mistralrs = import_mistralrs()
    path = Path(model_path).absolute()
    template = _write_template_file(with_raw_passthrough(chat_template_for(None, validate_model_file(path))))
    with captured_native_output("mistral.rs"):
        runner = _new_runner(mistralrs, path, template)
    request = mistralrs.ChatCompletionRequest(
        model="default",
        messages=[{"role": RAW_ROLE, "content": "The quick brown fox"}],
        max_tokens=3,
        temperature=0.0,
        stream=True,
    )
    for _ in runner.send_chat_completion_request(request):
        pass


def _write_template_file(template: str) -> Path:
    folder = cache_dir() / "templates"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(template.encode()).hexdigest()[:16]}.jinja"
    if not path.exists():
        path.write_text(template, encoding="utf-8")
    return path


#: GGUF architectures mistral.rs loads: the plain GGUF ones its docs list, and gemma3 (the catalog's Gemma 3,
#: loaded by this project's tests). Others may load too (its GGUF support grows); none is refused for it.
GGUF_ARCHITECTURES = frozenset({"llama", "phi2", "phi3", "starcoder2", "qwen2", "qwen3", "gemma3"})


class MistralRsBackend(GgufFileBackend):
    """mistral.rs through the `mistralrs` package (CPU build)."""

    name = "mistralrs"
    requires = (Requirement("mistralrs", "pip install mistralrs"),)
    phase_plan = PHASES

    @classmethod
    def supports_architecture(cls, architecture: str) -> Optional[bool]:
        """True for the GGUF architectures mistral.rs is known to load; None (not known) for the others."""
        return True if architecture in GGUF_ARCHITECTURES else None

    def __init__(self) -> None:
        super().__init__()
        self._runner: Any = None
        self._lib: Any = None
        self._rss_growth: Optional[int] = None

    # -- lifecycle ---------------------------------------------------------------------------
    def _load_model(self, config: LlmConfig, header: GgufHeader) -> None:
        if config.n_threads is not None:
            raise InvalidInput("n_threads: mistral.rs picks its thread count at start-up; leave it unset")
        if config.n_gpu_layers != 0:
            raise InvalidInput("n_gpu_layers: this mistralrs build runs on the CPU only; use 0")
        mistralrs = import_mistralrs()
        path = Path(config.model_path).absolute()
        before = _rss_bytes()
        try:
            with captured_native_output("mistral.rs"):
                self._runner = _new_runner(
                    mistralrs, path, _write_template_file(with_raw_passthrough(self.chat.template))
                )
        except BaseException as exc:  # the binding raises pyo3 PanicException, a BaseException
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise InvalidModelFile(f"mistral.rs could not load {path}: {str(exc).splitlines()[0]}") from None
        self._lib = mistralrs
        self._rss_growth = max(_rss_bytes() - before, 0)

    def _unload(self) -> None:
        self._runner = None
        self._rss_growth = None
        release_native_memory()

    def probe_plan(self) -> ProbePlan:
        """One step: mistral.rs has no safer setting to fall back on."""
        return ProbePlan("mistral.rs", "mistralrs", f"{__name__}:probe_in_child", (ProbeStep("default settings"),))

    # -- introspection -----------------------------------------------------------------------
    def memory_usage(self) -> Optional[int]:
        """Resident memory the process gained while loading the model (an estimate)."""
        return self._rss_growth

    def context_length(self) -> Optional[int]:
        """The smaller of the requested context and the engine's maximum sequence length."""
        if self._runner is None or self._source is None:
            return None
        engine_max = self._runner.max_sequence_length()
        return min(self._source.context_length, engine_max) if engine_max else self._source.context_length

    # -- generation --------------------------------------------------------------------------
    def format_prompt(self, prompt: Prompt) -> str:
        """The exact text sent: the raw prompt (with the GGUF's BOS text in front if it asks for one),
        or the rendered chat. mistral.rs adds no special tokens itself, so BOS is written out here."""
        if isinstance(prompt, str):
            return self.chat.bos_text + prompt if self.chat.needs_bos(prompt) else prompt
        return self.chat.render(prompt)

    def _count_prompt_tokens(self, prompt: Prompt) -> int:
        """How many tokens mistral.rs makes of `prompt` once formatted (nothing is generated)."""
        return len(self._runner.tokenize_text(self.format_prompt(prompt), False, None))

    def _check_sampling(self, config: GenerationConfig) -> None:
        if config.seed is not None and config.temperature > 0:
            raise InvalidInput(
                "seed: mistral.rs takes no per-request seed; unset it, or use temperature 0 for repeatable output"
            )

    def _prepare(self, prompt: Prompt, config: GenerationConfig) -> Any:
        self._check_sampling(config)
        text = self.format_prompt(prompt)
        n_prompt = len(self._runner.tokenize_text(text, False, None))
        if isinstance(prompt, str):
            messages = [{"role": RAW_ROLE, "content": text}]
        else:
            messages = [{"role": m.role, "content": m.content} for m in prompt]
        n_ctx = self.context_length() or 0
        if n_prompt >= n_ctx:
            raise PromptTooLong(f"the prompt is {n_prompt} tokens but the context holds {n_ctx}: shorten it")
        request = self._lib.ChatCompletionRequest(
            model="default",
            messages=messages,
            max_tokens=min(config.max_tokens, n_ctx - n_prompt),
            temperature=config.temperature,
            top_p=config.top_p,
            top_k=config.top_k or None,
            min_p=config.min_p or None,
            repetition_penalty=None if config.repeat_penalty == 1.0 else config.repeat_penalty,
            stop_seqs=list(config.stop) or None,
            stream=True,
        )
        return request, n_prompt

    def phase_threads(self) -> int:
        """mistral.rs computes on every core this process may use."""
        return default_thread_count()

    def _stream(self, prepared: Any, config: GenerationConfig, report: EngineReport) -> Iterator[EngineChunk]:
        request, report.prompt_tokens = prepared
        phases = self.phases
        phases.enter(_ENGINE)
        chunks = self._runner.send_chat_completion_request(request)
        held, held_tokens = "", 0  # trailing U+FFFD, kept back until text follows it
        try:
            for response in phases.timed(chunks, _ENGINE, _TEXT):
                if response.usage is not None:
                    self._read_usage(response.usage, report)
                if not response.choices:
                    continue
                choice = response.choices[0]
                if choice.finish_reason:
                    report.finish_reason = _FINISH_REASONS.get(choice.finish_reason, "stop")
                text = choice.delta.content
                if text:
                    if response.usage is None:
                        report.tokens_generated += 1
                    # mistral.rs writes a character that max_tokens cut in two as U+FFFD; llama.cpp holds the
                    # partial bytes back. So a trailing U+FFFD waits: text after it shows it, the end drops it.
                    text, held_tokens = held + text, held_tokens + 1
                    shown = text.rstrip(REPLACEMENT_CHARACTER)
                    held = text[len(shown) :]
                    if shown:
                        finish = report.finish_reason if choice.finish_reason else None
                        yield EngineChunk(shown, held_tokens, None, finish)
                        held_tokens = 0
        finally:
            del chunks  # dropping the stream closes its channel: the engine stops the sequence

    @staticmethod
    def _read_usage(usage: Any, report: EngineReport) -> None:
        report.tokens_generated = int(usage.completion_tokens)
        report.prompt_tokens = int(usage.prompt_tokens)
        details = getattr(usage, "prompt_tokens_details", None)
        cached = getattr(details, "cached_tokens", None) if details is not None else 0
        report.prompt_cached_tokens = int(cached or 0)
        report.engine_decode_tps = float(usage.avg_compl_tok_per_sec) or None
        report.engine_prefill_tps = float(usage.avg_prompt_tok_per_sec) or None
