"""Paired A/B: two configurations in interleaved repetitions, the difference with its 95 % CI, a verdict in words.

`compare({"threads": 1}, {"threads": 2}, n_prompt=64, n_gen=32)` runs A, B, A, B...
(after `warmup` unrecorded runs of each), pairs the i-th runs of A and B, and
reports B relative to A for decode rate, TTFT and p95 gap: the mean paired
difference, its Student's t CI95, and "no significant difference" when that
interval contains zero. Each side's run-to-run noise (SD, CV %) is shown too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from .backends.base import LlmBackend
from .errors import InvalidInput
from .metrics import ChunkClock
from .sweep import (
    ClockFactory,
    ConfigResult,
    Repetition,
    Runners,
    SweepConfig,
    SweepProgress,
    _require_count,
    config_label,
    expand,
)
from .sweep_stats import PairedDifference, paired_difference
from .types import GenerationConfig

#: (figure, label in the table, how B's change is worded: verb, word for up, word for down)
#: e.g. "B decodes 12 ± 3 % faster", "B's TTFT is 8 ± 2 % lower"
METRICS = (
    ("tg_tps", "decode rate (tok/s)", ("decodes", "faster", "slower")),
    ("ttft_ms", "TTFT (ms)", ("'s TTFT is", "higher", "lower")),
    ("itl_p95_ms", "p95 gap (ms)", ("'s p95 gap is", "higher", "lower")),
)
Side = Union[dict[str, Any], LlmBackend]


def _verdict(figure: str, d: PairedDifference) -> str:
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
        return "; ".join(_verdict(figure, self.differences[figure]) for figure, *_ in METRICS)

    def to_pandas(self) -> Any:
        """One row per metric: each side's mean, SD and CV %, B - A with its CI95, in units and in %."""
        import pandas as pd

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
                    "verdict": _verdict(figure, d),
                }
            )
        return pd.DataFrame(rows)

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
        from .widgets.sweep_view import compare_result_html

        return compare_result_html(self)


def _one_config(side: Side, common: dict[str, Any], which: str) -> SweepConfig:
    params = {"backend": side} if isinstance(side, LlmBackend) else {**common, **side}
    if isinstance(side, LlmBackend):
        params = {**common, **params}
    configs = expand(params)
    if len(configs) != 1:
        raise InvalidInput(f"{which} must be one configuration (one value per parameter), got {len(configs)}")
    return configs[0]


def compare(
    a: Side,
    b: Side,
    *,
    repetitions: int = 5,
    warmup: int = 1,
    sampling: Optional[GenerationConfig] = None,
    on_progress: Optional[Callable[[SweepProgress], None]] = None,
    should_stop: Optional[Callable[[], bool]] = None,
    clock_factory: ClockFactory = ChunkClock,
    **common: Any,
) -> CompareResult:
    """Run A and B (dicts of sweep parameters over `common`, or loaded backends) in interleaved repetitions.

    Stop or a KeyboardInterrupt ends the comparison and keeps the pairs finished so far.
    """
    _require_count("repetitions", repetitions, 2)
    _require_count("warmup", warmup, 0)
    configs = _one_config(a, common, "A"), _one_config(b, common, "B")
    runners = Runners((sampling or GenerationConfig()).validate())
    recorded: tuple[list[Repetition], list[Repetition]] = ([], [])
    total, done, started, stopped = 2 * (warmup + repetitions), 0, time.monotonic(), False
    threads: list[Optional[int]] = [None, None]
    try:
        pair = [runners.for_config(c) for c in configs]
        threads = [runner.threads_used(c) for runner, c in zip(pair, configs)]
        for index in range(warmup + repetitions):
            for side in (0, 1):
                if should_stop is not None and should_stop():
                    raise KeyboardInterrupt
                rep = pair[side].run(configs[side], clock_factory)
                if index >= warmup:
                    recorded[side].append(rep)
                done += 1
                if on_progress is not None:
                    on_progress(SweepProgress(done, total, time.monotonic() - started, configs[side]))
    except KeyboardInterrupt:
        stopped = True
    finally:
        runners.close()
    pairs = min(len(recorded[0]), len(recorded[1]))
    return CompareResult(
        ConfigResult(configs[0], threads[0], recorded[0][:pairs]),
        ConfigResult(configs[1], threads[1], recorded[1][:pairs]),
        stopped=stopped,
    )


__all__ = ["CompareResult", "METRICS", "compare"]
