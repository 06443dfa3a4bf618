"""Plain data types shared by the core, the backends and the notebook layer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

from .errors import InvalidInput
from .format import fmt_ms, fmt_rate, json_safe
from .host import interference_note

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    """One turn of a conversation."""

    role: Role
    content: str

    @classmethod
    def system(cls, content: str) -> ChatMessage:
        """A system prompt."""
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> ChatMessage:
        """A user turn."""
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str) -> ChatMessage:
        """A model turn."""
        return cls("assistant", content)


def _require_finite(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InvalidInput(f"{name} must be a finite number, got {value!r}")


def _require_int(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise InvalidInput(f"{name} must be >= {minimum}, got {value}")


@dataclass(frozen=True)
class GenerationConfig:
    """Sampling settings of one generation, checked when made. `temperature=0` means greedy.

    An out-of-range value raises `InvalidInput` naming the field, whether the config is
    built or derived with `dataclasses.replace`: no invalid config exists to be checked later.
    """

    max_tokens: int = 256
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    seed: Optional[int] = None
    stop: Sequence[str] = ()

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> GenerationConfig:
        """Raise `InvalidInput` naming the first out-of-range field; return self."""
        _require_int("max_tokens", self.max_tokens, 1)
        for name in ("temperature", "top_p", "min_p", "repeat_penalty"):
            _require_finite(name, getattr(self, name))
        if self.temperature < 0:
            raise InvalidInput(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise InvalidInput(f"top_p must be in (0, 1], got {self.top_p}")
        _require_int("top_k", self.top_k, 0)
        if not 0 <= self.min_p <= 1:
            raise InvalidInput(f"min_p must be in [0, 1], got {self.min_p}")
        if self.repeat_penalty <= 0:
            raise InvalidInput(f"repeat_penalty must be > 0, got {self.repeat_penalty}")
        if self.seed is not None:
            _require_int("seed", self.seed, 0)
        if isinstance(self.stop, str) or not all(isinstance(s, str) and s for s in self.stop):
            raise InvalidInput("stop must be a list of non-empty strings")
        return self


@dataclass(frozen=True)
class LlmConfig:
    """How to load a model: its file, context size, threads and GPU offload."""

    model_path: Path | str
    context_length: int = 4096
    n_threads: Optional[int] = None
    n_gpu_layers: int = 0
    chat_template: Optional[str] = None

    def validate(self) -> LlmConfig:
        """Raise `InvalidInput` naming the first out-of-range field; return self."""
        _require_int("context_length", self.context_length, 16)
        if self.n_threads is not None:
            _require_int("n_threads", self.n_threads, 1)
        _require_int("n_gpu_layers", self.n_gpu_layers, -1)
        return self


class PartialToken:
    """One streamed chunk, as the `on_token` callback receives it.

    `cumulative_text` is all text up to and including this chunk. The core
    builds it lazily from the shared list of pieces, so a stream of n chunks
    costs O(n), not O(n^2), unless a listener reads it on every chunk.
    """

    __slots__ = ("token", "token_id", "index", "finish_reason", "_cumulative", "_pieces")

    def __init__(
        self,
        token: str,
        token_id: Optional[int],
        index: int,
        cumulative_text: Optional[str] = None,
        finish_reason: Optional[str] = None,
        *,
        pieces: Optional[list[str]] = None,
    ) -> None:
        self.token = token
        self.token_id = token_id
        self.index = index
        self.finish_reason = finish_reason
        self._cumulative = cumulative_text
        self._pieces = pieces

    @property
    def cumulative_text(self) -> str:
        """All streamed text up to and including this chunk."""
        if self._cumulative is None:
            pieces = self._pieces or [self.token]
            self._cumulative = "".join(pieces[: self.index + 1])
        return self._cumulative

    def is_final(self) -> bool:
        """True for the last chunk of a stream (it carries the finish reason)."""
        return self.finish_reason is not None

    def __repr__(self) -> str:
        return (
            f"PartialToken(token={self.token!r}, token_id={self.token_id}, "
            f"index={self.index}, finish_reason={self.finish_reason!r})"
        )


@dataclass
class GenerationOutput:
    """Every figure of one generation; times in milliseconds, rates per second.

    Client-side figures come from the core's one clock (see metrics.md); the
    `engine_*` figures are what the engine itself reported, kept beside them.
    """

    text: str
    tokens_generated: int
    prompt_tokens: int
    prompt_cached_tokens: Optional[int]
    generation_time_ms: float
    tokens_per_second: float
    ttft_ms: Optional[float]
    emitted_chunks: int
    inter_chunk_ms: list[float]
    mean_itl_ms: Optional[float]
    p50_itl_ms: Optional[float]
    p95_itl_ms: Optional[float]
    p99_itl_ms: Optional[float]
    decode_tps: Optional[float]
    prefill_tps: Optional[float]
    engine_decode_tps: Optional[float]
    engine_prefill_tps: Optional[float]
    finish_reason: str
    backend: str
    model_id: str
    execution_provider: str
    chunk_offsets_ms: list[float] = field(default_factory=list)
    chunk_tokens: list[int] = field(default_factory=list)
    chunk_texts: list[str] = field(default_factory=list)
    error: Optional[str] = None
    route: Optional[str] = None
    route_reason: Optional[str] = None
    engine_settings: Optional[str] = None
    other_cpu_cores_mean: Optional[float] = None
    other_cpu_cores_peak: Optional[float] = None
    engine_cpu_cores_mean: Optional[float] = None

    @property
    def interference_note(self) -> Optional[str]:
        """In words, when other processes took a noticeable share of the CPU during the run; else None."""
        return interference_note(self.other_cpu_cores_mean)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN and infinity become None)."""
        return json_safe(asdict(self))

    def summary(self) -> str:
        """One line: tokens, TTFT, inter-chunk latency, throughput, prompt, finish reason, and any interference."""
        cached = "" if self.prompt_cached_tokens is None else f" ({self.prompt_cached_tokens} cached)"
        line = (
            f"{self.tokens_generated} tokens in {self.generation_time_ms / 1000:.2f}s"
            f" | TTFT {fmt_ms(self.ttft_ms)}"
            f" | ITL mean {fmt_ms(self.mean_itl_ms)} p95 {fmt_ms(self.p95_itl_ms)}"
            f" | decode {fmt_rate(self.decode_tps)}"
            f" | prefill {fmt_rate(self.prefill_tps)}"
            f" | prompt {self.prompt_tokens}{cached}"
            f" | {self.finish_reason} | {self.backend}/{self.execution_provider}"
        )
        note = self.interference_note
        return line if note is None else f"{line} | {note}"
