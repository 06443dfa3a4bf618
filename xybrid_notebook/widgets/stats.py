"""The stats row's items, shared by the widget dashboard and the text fallback (no UI imports)."""

from __future__ import annotations

from typing import Optional, Union

from ..live import LiveFigures
from ..types import GenerationOutput

Figures = Union[LiveFigures, GenerationOutput]


def fmt_ms(value: Optional[float]) -> str:
    """Milliseconds as shown to the user: one decimal."""
    return "–" if value is None else f"{value:.1f} ms"


def fmt_rate(value: Optional[float]) -> str:
    """Tokens per second as shown to the user: one decimal."""
    return "–" if value is None else f"{value:.1f} tok/s"


def stats_items(figures: Figures) -> list[tuple[str, str]]:
    """(label, value) pairs in display order; live figures show what is known so far."""
    items = [
        ("TTFT", fmt_ms(figures.ttft_ms)),
        ("ITL mean", fmt_ms(figures.mean_itl_ms)),
        ("p50", fmt_ms(figures.p50_itl_ms)),
        ("p95", fmt_ms(figures.p95_itl_ms)),
        ("decode", fmt_rate(figures.decode_tps)),
    ]
    if isinstance(figures, LiveFigures):
        return items + [("tokens", str(figures.tokens)), ("chunks", str(figures.chunks)), ("status", "running")]
    cached = "–" if figures.prompt_cached_tokens is None else str(figures.prompt_cached_tokens)
    return items + [
        ("prefill", fmt_rate(figures.prefill_tps)),
        ("engine decode", fmt_rate(figures.engine_decode_tps)),
        ("engine prefill", fmt_rate(figures.engine_prefill_tps)),
        ("tokens", str(figures.tokens_generated)),
        ("chunks", str(figures.emitted_chunks)),
        ("prompt", str(figures.prompt_tokens)),
        ("cached", cached),
        ("finish", figures.finish_reason),
        ("backend", f"{figures.backend}/{figures.execution_provider}"),
    ] + ([("route", f"{figures.route} ({figures.route_reason})")] if figures.route else [])


def stats_line(figures: Figures) -> str:
    """The stats as one line of text."""
    return " | ".join(f"{label} {value}" for label, value in stats_items(figures))


def interference_note(output: GenerationOutput) -> Optional[str]:
    """The optional extra stats line a finished run may carry (`interference_note`), else None."""
    note = getattr(output, "interference_note", None)
    return note if isinstance(note, str) and note.strip() else None
