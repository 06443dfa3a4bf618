"""The stats row's items (label, value) of a live or finished run, for the run view and its static form."""

from __future__ import annotations

from typing import Union

from ..format import fmt_ms, fmt_rate, fmt_value
from ..live import LiveFigures
from ..types import GenerationOutput

Figures = Union[LiveFigures, GenerationOutput]


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
    cached = fmt_value(figures.prompt_cached_tokens)
    return (
        items
        + [
            ("prefill", fmt_rate(figures.prefill_tps)),
            ("engine decode", fmt_rate(figures.engine_decode_tps)),
            ("engine prefill", fmt_rate(figures.engine_prefill_tps)),
            ("tokens", str(figures.tokens_generated)),
            ("chunks", str(figures.emitted_chunks)),
            ("prompt", str(figures.prompt_tokens)),
            ("cached", cached),
            ("finish", figures.finish_reason),
            ("backend", f"{figures.backend}/{figures.execution_provider}"),
        ]
        + ([("route", f"{figures.route} ({figures.route_reason})")] if figures.route else [])
    )
