"""Load tests on Locust against an OpenAI-compatible server: levels of concurrency or request rate, every token timed.

`load_test(url, concurrency=[1, 2, 4])` (or `rate=[0.5, 1]`) checks its input, makes
the prompts, runs the levels in a Locust process tree outside the kernel, and returns
a `LoadResult`. The Locust side (`engine`) is imported only in that process tree.
"""

from __future__ import annotations

from .figures import LATENCIES, knee_level, level_row, request_figures
from .result import LoadResult
from .run import LoadProgress, build_spec, load_test, prepare, run_load_test
from .spec import SLO_KEYS, Level, LoadSpec, TokenCount, parse_slo

#: Modules only the Locust process tree imports (Locust patches the process with gevent on import).
LOCUST_ONLY = ("xybrid_notebook.load.engine", "xybrid_notebook.load.__main__")

__all__ = [
    "LOCUST_ONLY",
    "LATENCIES",
    "Level",
    "LoadProgress",
    "LoadResult",
    "LoadSpec",
    "SLO_KEYS",
    "TokenCount",
    "build_spec",
    "knee_level",
    "level_row",
    "load_test",
    "parse_slo",
    "prepare",
    "request_figures",
    "run_load_test",
]
