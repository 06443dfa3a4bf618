"""Experiment results: `SweepResult` (a grid of configurations) and `CompareResult` (a paired A/B with its verdict).

Both hold `ConfigResult`s (measures.py) and give `to_pandas()`, a text `repr` and a
static HTML form (render.py) that needs no kernel. A sweep also exports CSV, JSON,
llama-bench's JSON and markdown, and its depth curve.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from ..format import json_safe
from .depth import DepthCurve, depth_curve_from_results
from .llama_bench_format import llama_bench_json, llama_bench_markdown
from .measures import COLUMNS, ConfigResult
from .params import config_label
from .render import compare_result_html, sweep_result_html
from .stats import PairedDifference, paired_difference


def _maybe_write(text: str, path: Union[str, Path, None]) -> str:
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


@dataclass
class SweepResult:
    """Every finished configuration of a sweep; `stopped` when Stop or an interrupt ended it early."""

    results: list[ConfigResult] = field(default_factory=list)
    swept: list[str] = field(default_factory=list)
    planned: int = 0
    stopped: bool = False
    warmup: int = 1
    context_length: Optional[int] = None

    def rows(self) -> list[dict[str, Any]]:
        """One row per configuration (see `measures.COLUMNS`)."""
        return [r.row() for r in self.results]

    def to_pandas(self) -> Any:
        """One row per configuration (columns: see `COLUMNS` and docs/metrics.md)."""
        import pandas as pd

        return pd.DataFrame(self.rows(), columns=COLUMNS)

    def to_csv(self, path: Union[str, Path, None] = None) -> str:
        """CSV of `to_pandas()` (samples as JSON text); written to `path` when given."""
        frame = self.to_pandas()
        frame["samples"] = [json.dumps(s) for s in frame["samples"]]
        return _maybe_write(frame.to_csv(index=False), path)

    def to_json(self, path: Union[str, Path, None] = None) -> str:
        """JSON: one object per configuration with every column and the raw samples."""
        document = {"stopped": self.stopped, "planned": self.planned, "configurations": json_safe(self.rows())}
        return _maybe_write(json.dumps(document, indent=1), path)

    def to_llama_bench_json(self, path: Union[str, Path, None] = None) -> str:
        """`llama-bench -o json`'s shape: one object per test (pp, tg), its field names where one exists."""
        return _maybe_write(llama_bench_json(self.results), path)

    def to_llama_bench_markdown(self) -> str:
        """llama-bench's markdown table: one row per test, `t/s` as mean ± sd."""
        return llama_bench_markdown(self.results, self.swept)

    def depth_curve(self) -> DepthCurve:
        """Decode time per token against KV position, from this sweep's configurations."""
        return depth_curve_from_results(self.results, self.swept, self.context_length)

    def __len__(self) -> int:
        return len(self.results)

    def __repr__(self) -> str:
        status = " (stopped early)" if self.stopped else ""
        return f"{len(self.results)}/{self.planned} configuration(s){status}\n{self.to_llama_bench_markdown()}"

    def _repr_html_(self) -> str:
        return sweep_result_html(self.rows(), self.swept, self.planned, self.stopped)


#: (figure, label in the table, how B's change is worded: verb, word for up, word for down)
#: e.g. "B decodes 12 ± 3 % faster", "B's TTFT is 8 ± 2 % lower"
METRICS = (
    ("tg_tps", "decode rate (tok/s)", ("decodes", "faster", "slower")),
    ("ttft_ms", "TTFT (ms)", ("'s TTFT is", "higher", "lower")),
    ("itl_p95_ms", "p95 gap (ms)", ("'s p95 gap is", "higher", "lower")),
)


def verdict(figure: str, d: PairedDifference) -> str:
    """B relative to A in words; "no significant difference" when the CI95 contains zero."""
    _, label, (verb, up, down) = next(m for m in METRICS if m[0] == figure)
    name = label.split(" (")[0]
    if d.diff_pct is None:
        return f"{name}: not measured"
    if d.significant is None:
        return f"{name}: {d.diff_pct:+.0f} % (too few pairs for a CI)"
    spread = f"{abs(d.diff_pct):.0f} ± {d.diff_pct_ci95:.0f} %"
    if not d.significant:
        return f"{name}: no significant difference ({d.diff_pct:+.0f} ± {d.diff_pct_ci95:.0f} %)"
    subject = f"B{verb}" if verb.startswith("'") else f"B {verb}"
    return f"{subject} {spread} {up if d.diff_pct > 0 else down}"


@dataclass
class CompareResult:
    """A and B's paired repetitions, per-metric differences and the verdict."""

    a: ConfigResult
    b: ConfigResult
    stopped: bool = False
    differences: dict[str, PairedDifference] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.differences = {m[0]: paired_difference(self.a.figure(m[0]), self.b.figure(m[0])) for m in METRICS}

    @property
    def verdict(self) -> str:
        """E.g. "B decodes 12 ± 3 % faster; TTFT: no significant difference; p95 gap: ..."."""
        return "; ".join(verdict(figure, self.differences[figure]) for figure, *_ in METRICS)

    def rows(self) -> list[dict[str, Any]]:
        """One row per metric: each side's mean, SD and CV %, B - A with its CI95, in units and in %."""
        rows = []
        for figure, label, _ in METRICS:
            d = self.differences[figure]
            rows.append(
                {
                    "metric": label,
                    "a_mean": d.a.mean,
                    "a_sd": d.a.sd,
                    "a_cv_pct": d.a.cv_pct,
                    "b_mean": d.b.mean,
                    "b_sd": d.b.sd,
                    "b_cv_pct": d.b.cv_pct,
                    "diff": d.diff,
                    "diff_ci95": d.diff_ci95,
                    "diff_pct": d.diff_pct,
                    "diff_pct_ci95": d.diff_pct_ci95,
                    "significant": d.significant,
                    "pairs": d.n,
                    "verdict": verdict(figure, d),
                }
            )
        return rows

    def to_pandas(self) -> Any:
        """`rows()` as a DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.rows())

    @property
    def labels(self) -> tuple[str, str]:
        """What A and B are, in words."""
        return config_label(self.a.config, self.b.config), config_label(self.b.config, self.a.config)

    def __repr__(self) -> str:
        a, b = self.labels
        frame = self.to_pandas().drop(columns=["verdict"])
        stopped = " (stopped early)" if self.stopped else ""
        return f"A: {a}\nB: {b}{stopped}\n{self.verdict}\n{frame.to_string(index=False, float_format='%.3g')}"

    def _repr_html_(self) -> str:
        return compare_result_html(self.verdict, self.labels, self.rows(), self.stopped)
