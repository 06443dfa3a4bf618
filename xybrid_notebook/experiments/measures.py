"""What one experiment measures: a repetition's figures, and a configuration's repetitions as one table row.

`ConfigResult.row()` is the row every result shares (a sweep's DataFrame, its CSV
and JSON, the live table): the configuration's parameters, then the figures of
docs/metrics.md, "Sweep and comparison figures".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .params import PARAMETERS, SweepConfig
from .stats import Summary, summarize

#: The figures a repetition may carry, as `ConfigResult.row()["samples"]` lists them.
SAMPLED = ("pp_tps", "tg_tps", "ttft_ms", "itl_p95_ms", "sample_ms_per_token")
COLUMNS = [
    *PARAMETERS,
    "pp_tps_mean",
    "pp_tps_sd",
    "pp_tps_ci95",
    "tg_tps_mean",
    "tg_tps_sd",
    "tg_tps_ci95",
    "ttft_ms_mean",
    "itl_p50_ms",
    "itl_p95_ms",
    "sample_ms_per_token",
    "repetitions",
    "samples",
]


@dataclass
class Repetition:
    """The figures of one recorded repetition of one configuration."""

    pp_tps: Optional[float] = None
    tg_tps: Optional[float] = None
    ttft_ms: Optional[float] = None
    token_ms: list[float] = field(default_factory=list)
    sample_ms_per_token: Optional[float] = None
    #: Wall-clock start and end of the repetition (epoch s), for telemetry spans.
    started_s: Optional[float] = None
    ended_s: Optional[float] = None

    @property
    def itl_p95_ms(self) -> Optional[float]:
        """p95 of this repetition's per-token decode times."""
        return float(np.percentile(self.token_ms, 95)) if self.token_ms else None


@dataclass
class ConfigResult:
    """One configuration's recorded repetitions and their summaries."""

    config: SweepConfig
    threads_used: Optional[int]
    repetitions: list[Repetition]

    def figure(self, name: str) -> list[Optional[float]]:
        """One figure per repetition (None where a repetition has none)."""
        return [getattr(r, name) for r in self.repetitions]

    def summary(self, name: str) -> Summary:
        """Mean, SD and CI95 of one figure over the repetitions."""
        return summarize(self.figure(name))

    def value(self, name: str) -> Any:
        """A parameter as tables show it; `threads` is the count actually used."""
        return self.threads_used if name == "threads" else self.config.value(name)

    def row(self) -> dict[str, Any]:
        """The table row: configuration columns, then the figures (see `COLUMNS` and docs/metrics.md)."""
        row: dict[str, Any] = {name: self.value(name) for name in PARAMETERS}
        for name in ("pp_tps", "tg_tps"):
            s = self.summary(name)
            row.update({f"{name}_mean": s.mean, f"{name}_sd": s.sd, f"{name}_ci95": s.ci95})
        row["ttft_ms_mean"] = self.summary("ttft_ms").mean
        tokens = [ms for r in self.repetitions for ms in r.token_ms]
        p50, p95 = np.percentile(tokens, [50, 95]).tolist() if tokens else (None, None)
        row.update(itl_p50_ms=p50, itl_p95_ms=p95)
        row["sample_ms_per_token"] = self.summary("sample_ms_per_token").mean
        row["repetitions"] = len(self.repetitions)
        row["samples"] = {name: self.figure(name) for name in SAMPLED}
        return row
