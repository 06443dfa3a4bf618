"""Where a load test's time went: each request split into queue, prefill, decode and transport; one line per level.

Computed in the kernel from what every record already carries (docs/metrics.md, "Load
tests: where the time goes"): the client's TTFT and end, and llama-server's final
`timings`. llama-server's first token comes from the prompt's last batch (its
`predicted_ms` starts there), so the first token's decode share is 0 and
- `server_prefill_ms` = `timings.prompt_ms`;
- `server_queue_ms` = TTFT − prefill: the wait before the slot started the prompt (the
  request's trip and tokenization included: they cannot be told apart from the final
  timings);
- `server_decode_ms` = `timings.predicted_ms`;
- `transport_ms` = the rest of the request's end-to-end time.
The four sum to `end_ms`; none is negative (a server that reports more than the client
saw is capped at what the client saw). Without timings, all four are None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np

from ..backends.remote import NO_SERVER_TIMINGS
from .figures import Record
from .server_metrics import LoadTimeline

#: The per-request phase columns of `LoadResult.requests()`, in time order.
PHASES = ("server_queue_ms", "server_prefill_ms", "server_decode_ms", "transport_ms")


def request_phases(record: Record) -> dict[str, Optional[float]]:
    """One finished request's split (ms, summing to its `end_ms`); None each where the server sent no timings."""
    nothing: dict[str, Optional[float]] = dict.fromkeys(PHASES)
    timings, offsets, e2e = record.get("timings"), record.get("offsets_ms"), record.get("end_ms")
    if record.get("outcome") != "ok" or not offsets or e2e is None or not isinstance(timings, dict):
        return nothing
    prompt_ms, predicted_ms = timings.get("prompt_ms"), timings.get("predicted_ms")
    if not isinstance(prompt_ms, (int, float)) or not isinstance(predicted_ms, (int, float)):
        return nothing
    ttft, e2e = float(offsets[0]), float(e2e)
    prefill = min(max(0.0, float(prompt_ms)), ttft)
    decode = min(max(0.0, float(predicted_ms)), max(0.0, e2e - ttft))
    return {
        "server_queue_ms": ttft - prefill,
        "server_prefill_ms": prefill,
        "server_decode_ms": decode,
        "transport_ms": max(0.0, e2e - ttft - decode),
    }


def _p(values: Sequence[float], q: float) -> Optional[float]:
    return float(np.percentile(values, q)) if len(values) else None


def phase_figures(ok: Sequence[Record]) -> dict[str, Optional[float]]:
    """A level's median of each phase over its measured `ok` requests (and the queue's p99)."""
    split = [p for p in map(request_phases, ok) if p["server_queue_ms"] is not None]
    row: dict[str, Optional[float]] = {}
    for name in PHASES:
        row[f"{name[:-3]}_p50_ms"] = _p([float(p[name] or 0.0) for p in split], 50)
    row["server_queue_p99_ms"] = _p([float(p["server_queue_ms"] or 0.0) for p in split], 99)
    return row


def server_figures(samples: Sequence[Mapping[str, float]], slots: Optional[int]) -> dict[str, Optional[float]]:
    """A level's server state from its scraped samples: the most running and waiting, and the time at the most."""
    running = [s["running"] for s in samples if s.get("running") is not None]
    waiting = [s["waiting"] for s in samples if s.get("waiting") is not None]
    kv = [s["kv_cache_used"] for s in samples if s.get("kv_cache_used") is not None]
    most = max(running) if running else None
    return {
        "server_slots": slots,
        "server_samples": len(samples),
        "server_running_max": most,
        "server_running_mean": float(np.mean(running)) if running else None,
        "server_at_most_fraction": (sum(1 for r in running if r >= most) / len(running)) if most else None,
        "server_waiting_max": max(waiting) if waiting else None,
        "server_kv_cache_used_max": max(kv) if kv else None,
    }


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms"


def split_line(load: str, ok: Sequence[Record]) -> Optional[str]:
    """`TTFT p50 2.10 s at c=8 = 1.40 s queued + 640 ms prefill; then 810 ms decode + 12 ms transport` (the median
    request: the lower median by TTFT among the requests the server timed); None if none was timed."""
    timed = [(r["offsets_ms"][0], p) for r in ok if (p := request_phases(r))["server_queue_ms"] is not None]
    if not timed:
        return None
    timed.sort(key=lambda pair: pair[0])
    ttft, p = timed[(len(timed) - 1) // 2]
    return (
        f"TTFT p50 {_seconds(ttft)} at {load} = {_seconds(p['server_queue_ms'] or 0.0)} queued + "
        f"{_seconds(p['server_prefill_ms'] or 0.0)} prefill; then {_seconds(p['server_decode_ms'] or 0.0)} decode + "
        f"{_seconds(p['transport_ms'] or 0.0)} transport"
    )


def busy_line(figures: Mapping[str, Any]) -> Optional[str]:
    """`4 of 4 slots busy 97 % of the time, up to 4 waiting` (vLLM: `up to 12 running …`); None without samples."""
    most = figures.get("server_running_max")
    if most is None:
        return None
    share = figures.get("server_at_most_fraction") or 0.0
    slots = figures.get("server_slots")
    head = f"{most:.0f} of {slots} slots busy" if slots else f"{most:.0f} running"
    waiting = figures.get("server_waiting_max")
    tail = f", up to {waiting:.0f} waiting" if waiting else ""
    return f"{head} {100 * share:.0f} % of the time{tail}" if most else f"no request running{tail}"


def add_level_split(row: dict[str, Any], records: Sequence[Record], timeline: LoadTimeline) -> None:
    """Add a finished level's phase medians, its server figures and its one line `where_time_went` to its row."""
    ok = [r for r in records if r.get("outcome") == "ok" and not r.get("warmup")]
    row.update(phase_figures(ok))
    row.update(server_figures(timeline.level_samples(int(row["level"])), timeline.slots))
    parts = [part for part in (split_line(str(row["load"]), ok), busy_line(row)) if part]
    row["where_time_went"] = "; ".join(parts) or None


def split_notes(records: Sequence[Record], timeline: LoadTimeline) -> list[str]:
    """One line each for what could not be split: no server timings, no `/metrics`."""
    ok = [r for r in records if r.get("outcome") == "ok"]
    notes = []
    if ok and not any(isinstance(r.get("timings"), dict) for r in ok):
        notes.append(NO_SERVER_TIMINGS)
    if timeline.metrics_note:
        notes.append(timeline.metrics_note)
    return notes
