"""Depth curves: decode time per token against the KV-cache position it was decoded at.

From one run (`depth_curve_from_output`: each chunk's gap per token, averaged over a
window) or from a sweep over `depth` (`depth_curve_from_results`: the mean tg time per
token at depth + n_gen / 2, with its CI95).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..types import GenerationOutput
from .measures import ConfigResult
from .params import config_label
from .render import depth_curve_svg
from .stats import summarize


@dataclass
class DepthCurve:
    """Decode time per token (ms) against the KV-cache position it was decoded at."""

    positions: list[float]
    ms_per_token: list[float]
    ms_ci95: list[Optional[float]]
    context_length: Optional[int]
    source: str

    def to_pandas(self) -> Any:
        """Columns `kv_position`, `ms_per_token`, `ms_ci95`."""
        import pandas as pd

        return pd.DataFrame({"kv_position": self.positions, "ms_per_token": self.ms_per_token, "ms_ci95": self.ms_ci95})

    def __repr__(self) -> str:
        if not self.positions:
            return f"depth curve ({self.source}): no points"
        return (
            f"depth curve ({self.source}): {len(self.positions)} point(s), KV position "
            f"{self.positions[0]:.0f}..{self.positions[-1]:.0f}, {self.ms_per_token[0]:.2f} -> "
            f"{self.ms_per_token[-1]:.2f} ms/token, context {self.context_length or '–'}"
        )

    def _repr_html_(self) -> str:
        points = list(zip(self.positions, self.ms_per_token, self.ms_ci95))
        return depth_curve_svg(points, self.context_length, self.source)


def depth_curve_from_output(
    output: GenerationOutput, context_length: Optional[int] = None, window: int = 8
) -> DepthCurve:
    """One run's decode time per token against its KV position, averaged over `window` chunks.

    Position of chunk k: prompt tokens + tokens generated up to it; its time per token
    is its gap (metrics.md `inter_chunk_ms`) divided by the tokens it carries.
    """
    gaps = np.asarray(output.inter_chunk_ms, dtype=float)
    tokens = np.asarray(output.chunk_tokens[1:], dtype=float)
    if gaps.size == 0:
        return DepthCurve([], [], [], context_length, "run")
    positions = output.prompt_tokens + np.cumsum(np.asarray(output.chunk_tokens, dtype=float))[1:]
    per_token = gaps / np.maximum(tokens, 1)
    width = max(1, min(window, per_token.size))
    keep = per_token.size // width * width
    pos = positions[:keep].reshape(-1, width).mean(axis=1)
    ms = per_token[:keep].reshape(-1, width).mean(axis=1)
    return DepthCurve(pos.tolist(), ms.tolist(), [None] * len(ms), context_length, "run")


def depth_curve_from_results(
    results: Sequence[ConfigResult], swept: Sequence[str], context_length: Optional[int]
) -> DepthCurve:
    """Mean tg time per token (CI95) at position depth + n_gen / 2, for each configuration.

    When the sweep varies more than `depth`, the curve keeps the configurations that share
    the first one's other settings (named in `source`), so one curve never mixes, say, threads.
    """
    others = [name for name in swept if name != "depth"]
    first = results[0].config if results else None
    points = []
    for r in results:
        if first is not None and any(r.config.key(n) != first.key(n) for n in others):
            continue
        s = summarize([1000.0 / v if v else None for v in r.figure("tg_tps")])
        if s.mean is not None:
            points.append((r.config.depth + r.config.n_gen / 2, s.mean, s.ci95))
    points.sort()
    source = "sweep" if not others or first is None else f"sweep, {config_label(first, None, others)}"
    return DepthCurve([p[0] for p in points], [p[1] for p in points], [p[2] for p in points], context_length, source)
