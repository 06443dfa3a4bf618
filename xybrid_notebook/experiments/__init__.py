"""Experiments: sweeps and paired A/B comparisons, measured in one loop and summarized with their CIs.

- `params`: every parameter once, its checks, llama-bench's list and range syntax;
- `runners`: one repetition on llama-bench's tests or through a backend's stream;
- `loop`: the run order (grid or interleaved), warm-up, Stop and progress;
- `stats`, `measures`: mean, SD, CI95, paired differences; a configuration's row;
- `results`, `depth`, `llama_bench_format`, `render`: results, depth curves, exports, static HTML;
- `designs`: `sweep()` and `compare()`.

No public name here shadows a module of this package.
"""

from __future__ import annotations

from .depth import DepthCurve
from .designs import compare, depth_curve, sweep
from .loop import Progress
from .measures import COLUMNS, ConfigResult, Repetition
from .params import DEFAULTS, PARAMETERS, SweepConfig, expand, parse_flash_attn, parse_int_list
from .results import METRICS, CompareResult, SweepResult

__all__ = [
    "COLUMNS",
    "CompareResult",
    "ConfigResult",
    "DEFAULTS",
    "DepthCurve",
    "METRICS",
    "PARAMETERS",
    "Progress",
    "Repetition",
    "SweepConfig",
    "SweepResult",
    "compare",
    "depth_curve",
    "expand",
    "parse_flash_attn",
    "parse_int_list",
    "sweep",
]
