"""llama-bench-compatible exports of a sweep: `-o json` objects and the markdown table.

llama-bench reports pp and tg as separate tests (`pp512`, `tg128`, `@ d1024` for a
depth); each object carries `avg_ns`, `stddev_ns`, `avg_ts`, `stddev_ts`,
`samples_ns` and `samples_ts` under llama-bench's own field names. Fields
llama-bench has and a sweep does not know (build commit, GPU info) are left out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Optional

from ..backends.llama_cpp_bench import FLASH_ATTN_TYPES
from .measures import ConfigResult
from .params import flash_attn_label
from .stats import summarize


def _tests(result: ConfigResult) -> list[tuple[str, int, list[float]]]:
    """(name, tokens, rates) for the pp and the tg test of one configuration."""
    c, tests = result.config, []
    if c.n_prompt:
        tests.append(("pp", c.n_prompt, [v for v in result.figure("pp_tps") if v]))
    if c.n_gen:
        tests.append(("tg", c.n_gen, [v for v in result.figure("tg_tps") if v]))
    return tests


def llama_bench_json(results: Sequence[ConfigResult]) -> str:
    """A JSON array like `llama-bench -o json`'s, one object per pp or tg test."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    objects: list[dict[str, Any]] = []
    for r in results:
        c = r.config
        for kind, tokens, rates in _tests(r):
            samples_ns = [int(round(tokens / rate * 1e9)) for rate in rates]
            ns, ts = summarize(samples_ns), summarize(rates)
            objects.append(
                {
                    "model_filename": str(c.model) if c.model is not None else c.model_label,
                    "backends": "CPU" if c.runs_llama_bench else c.backend_label,
                    "n_batch": c.n_batch,
                    "n_ubatch": c.n_ubatch,
                    "n_threads": r.threads_used,
                    "type_k": c.type_k,
                    "type_v": c.type_v,
                    "flash_attn": FLASH_ATTN_TYPES[c.flash_attn],
                    "n_prompt": tokens if kind == "pp" else 0,
                    "n_gen": tokens if kind == "tg" else 0,
                    "n_depth": c.depth,
                    "test_time": now,
                    "avg_ns": int(ns.mean or 0),
                    "stddev_ns": int(ns.sd or 0),
                    "avg_ts": ts.mean or 0.0,
                    "stddev_ts": ts.sd or 0.0,
                    "samples_ns": samples_ns,
                    "samples_ts": rates,
                }
            )
    return json.dumps(objects, indent=2)


def _value(result: ConfigResult, name: str) -> Any:
    return flash_attn_label(result.config.flash_attn) if name == "flash_attn" else result.value(name)


def llama_bench_markdown(results: Sequence[ConfigResult], swept: Optional[Sequence[str]] = None) -> str:
    """llama-bench's table: model, backend, threads, the swept settings, test, `t/s` as mean ± sd."""
    shown = ["model", "backend", "threads"] + [
        name for name in (swept or ()) if name not in ("model", "backend", "threads", "n_prompt", "n_gen", "depth")
    ]
    header = shown + ["test", "t/s"]
    rule = " | ".join("---:" if h == "t/s" else "---" for h in header)
    lines = ["| " + " | ".join(header) + " |", f"| {rule} |"]
    for r in results:
        for kind, tokens, rates in _tests(r):
            depth = f" @ d{r.config.depth}" if r.config.depth else ""
            ts = summarize(rates)
            rate = f"{ts.mean:.2f} ± {ts.sd or 0.0:.2f}" if ts.mean is not None else "–"
            cells = [str(_value(r, name)) for name in shown] + [f"{kind}{tokens}{depth}", rate]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
