"""One place for how figures are written: the "–" placeholder, ms, tok/s, MiB, cores, and the summary line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .types import GenerationOutput

MISSING = "–"


def fmt_ms(value: Optional[float]) -> str:
    """Milliseconds, one decimal."""
    return MISSING if value is None else f"{value:.1f} ms"


def fmt_rate(value: Optional[float]) -> str:
    """Tokens per second, one decimal."""
    return MISSING if value is None else f"{value:.1f} tok/s"


def fmt_mib(value: Optional[int]) -> str:
    """Bytes as whole MiB."""
    return MISSING if value is None else f"{value / 2**20:.0f} MiB"


def fmt_cores(value: Optional[float]) -> str:
    """CPU use in cores, two decimals."""
    return MISSING if value is None else f"{value:.2f} cores"


def fmt_value(value: object) -> str:
    """Any table cell: None as the placeholder, everything else as text."""
    return MISSING if value is None else str(value)


def summary_line(out: GenerationOutput) -> str:
    """One line: tokens, TTFT, inter-chunk latency, throughput, prompt, finish reason, and any interference."""
    cached = "" if out.prompt_cached_tokens is None else f" ({out.prompt_cached_tokens} cached)"
    line = (
        f"{out.tokens_generated} tokens in {out.generation_time_ms / 1000:.2f}s"
        f" | TTFT {fmt_ms(out.ttft_ms)}"
        f" | ITL mean {fmt_ms(out.mean_itl_ms)} p95 {fmt_ms(out.p95_itl_ms)}"
        f" | decode {fmt_rate(out.decode_tps)}"
        f" | prefill {fmt_rate(out.prefill_tps)}"
        f" | prompt {out.prompt_tokens}{cached}"
        f" | {out.finish_reason} | {out.backend}/{out.execution_provider}"
    )
    note = out.interference_note
    return line if note is None else f"{line} | {note}"
