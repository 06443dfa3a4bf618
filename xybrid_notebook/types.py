"""Plain data types shared by the core, the backends and the notebook layer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

from .errors import InvalidInput
from .format import fmt_ms, fmt_rate, fmt_share, json_safe
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


def stall_excess_ms(stalls: Sequence[dict[str, Any]], gaps_ms: Sequence[float]) -> float:
    """The time stalls added: each stalled gap above the run's median gap, summed."""
    if not stalls or not gaps_ms:
        return 0.0
    usual = sorted(gaps_ms)[len(gaps_ms) // 2]
    return sum(max(stall["gap_ms"] - usual, 0.0) for stall in stalls)


def others_text(others: Sequence[dict[str, Any]], limit: int = 2) -> str:
    """Who else ran, e.g. "chromium 0.8 cores, python3 0.1"; "" when nobody was seen."""
    named = [f"{o['name']} {o['cores']:.1f}" for o in others[:limit]]
    return (", ".join(named) + " cores") if named else ""


def where_time_went(
    shares: dict[str, float], stalls: Sequence[dict[str, Any]], stall_share: Optional[float], note: Optional[str] = None
) -> Optional[str]:
    """ "decode 91 % · sample 4 % · … · stalls 3 % (7 gaps; chromium 0.6 cores)"; None without shares."""
    if not shares:
        return None
    parts = [f"{name.replace('_', ' ')} {fmt_share(share)}" for name, share in shares.items()]
    if stalls:
        share = stall_share or 0.0
        worst = max(stalls, key=lambda stall: stall["gap_ms"])
        who = others_text(worst["others"])
        count = f"{len(stalls)} gap{'s' if len(stalls) != 1 else ''}"
        parts.append(f"stalls {fmt_share(share)} ({count}{'; ' + who if who else ''})")
    line = " · ".join(parts)
    return f"{line} — {note}" if note else line


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
    phases_ms: dict[str, list[float]] = field(default_factory=dict)
    stalls: list[dict[str, Any]] = field(default_factory=list)
    phase_note: Optional[str] = None

    @property
    def interference_note(self) -> Optional[str]:
        """In words, when other processes took a noticeable share of the CPU during the run (and which gaps
        they stalled, where stalls were found); else None."""
        note = interference_note(self.other_cpu_cores_mean)
        if note is None or not self.stalls:
            return note
        chunks = ", ".join(str(stall["index"]) for stall in self.stalls[:5]) + (", …" if len(self.stalls) > 5 else "")
        return f"{note}; {len(self.stalls)} stalled (chunks {chunks})"

    def phase_totals_ms(self) -> dict[str, float]:
        """Each phase's time over the whole run (TTFT and every gap), in ms."""
        return {name: float(sum(values)) for name, values in self.phases_ms.items()}

    def breakdown(self) -> Any:
        """Where the time went: a pandas DataFrame, one row per phase (`phase`, `total_ms`, `share`, `p50_ms`,
        `p99_ms`; the percentiles over the chunks after the first, whose gaps the phase splits)."""
        import numpy as np
        import pandas as pd

        totals = self.phase_totals_ms()
        whole = sum(totals.values())
        rows = []
        for name, values in self.phases_ms.items():
            later = np.asarray(values[1:], dtype=np.float64)
            rows.append(
                {
                    "phase": name,
                    "total_ms": totals[name],
                    "share": totals[name] / whole if whole > 0 else None,
                    "p50_ms": float(np.percentile(later, 50)) if later.size else None,
                    "p99_ms": float(np.percentile(later, 99)) if later.size else None,
                }
            )
        return pd.DataFrame(rows, columns=["phase", "total_ms", "share", "p50_ms", "p99_ms"])

    def phase_shares(self) -> dict[str, float]:
        """Each phase's share of the run's time up to its last chunk (the shares sum to 1)."""
        totals = self.phase_totals_ms()
        whole = sum(totals.values())
        return {name: total / whole for name, total in totals.items()} if whole > 0 else {}

    def stall_share(self) -> Optional[float]:
        """The share of the run's time (up to its last chunk) that stalls added; None where no phases were kept."""
        whole = sum(self.phase_totals_ms().values())
        return stall_excess_ms(self.stalls, self.inter_chunk_ms) / whole if whole > 0 else None

    @property
    def where_time_went(self) -> Optional[str]:
        """One line: each phase's share, then the stalls with who ran then (None where no phases were kept)."""
        return where_time_went(self.phase_shares(), self.stalls, self.stall_share(), self.phase_note)

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
