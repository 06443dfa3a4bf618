"""One place for how figures are written: the "–" placeholder, ms, tok/s, MiB, cores, shares, any table cell, JSON."""

from __future__ import annotations

import math
from typing import Any, Optional

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


def fmt_share(value: Optional[float]) -> str:
    """A share as a percentage: one decimal below 10 %, whole above."""
    if value is None:
        return MISSING
    percent = 100.0 * value
    return f"{percent:.1f} %" if abs(percent) < 10 else f"{percent:.0f} %"


def fmt_value(value: object) -> str:
    """Any table cell: None as the placeholder, everything else as text."""
    return MISSING if value is None else str(value)


def json_safe(value: Any) -> Any:
    """`value` for JSON at any depth: NaN and infinity as None, tuples as lists, numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
