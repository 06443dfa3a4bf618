"""The figures of a load test, from raw request records: per request, then per level (docs/metrics.md, "Load tests").

A record is what one virtual user saw of one request: when it was sent, every
content chunk's offset from the send (ms, `ChunkClock`), the end, the server's usage
and `timings`, and its outcome (`ok`, `error`, `cut` at a level's end). Warm-up
requests (the first of each level by send time) and cut ones are kept but never
enter a figure. Percentiles are linear-interpolated; their CI95 is the
distribution-free order-statistic interval (binomial), None where the sample is too
small to bound it.

An open-loop level is `overloaded` when it finishes requests slower than they arrive
(under `OVERLOAD_SERVED` of the offered rate) and its backlog, the requests waiting for a
user plus those in flight, still grows through the level's second half. Its output
throughput then counts every token delivered in its window, the cut requests' included
(`delivered_tps`), since which requests finish depends on when the level ends.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np

from .spec import Level, LoadSpec

Record = dict[str, Any]
QUANTILES = (50, 90, 99)
#: The latency figures of a level, each with p50/p90/p99 and their CI95 bounds.
LATENCIES = ("ttft", "tt2t", "itl", "tpot", "e2e")
#: A level whose next adds less than this fraction of output throughput is the knee.
KNEE_GAIN = 0.10
#: An open-loop level that finishes fewer requests per second than this fraction of its rate ...
OVERLOAD_SERVED = 0.9
#: ... and whose backlog grows by at least this many requests through its second half is overloaded.
OVERLOAD_GROWTH = 2
Span = tuple[float, float]


def mark_warmup(records: Sequence[Record], warmup: int) -> None:
    """Flag the first `warmup` requests of one level by send time (`warmup: True`); the rest False."""
    ordered = sorted(records, key=lambda r: r.get("sent") or 0.0)
    for position, record in enumerate(ordered):
        record["warmup"] = position < warmup


def request_figures(record: Record) -> dict[str, Optional[float]]:
    """TTFT, time to second token, TPOT, end-to-end and the request's own p99 gap (ms); output tokens."""
    offsets = np.asarray(record.get("offsets_ms") or [], dtype=float)
    e2e = float(record["end_ms"]) if record.get("end_ms") is not None else None
    tokens = record.get("output_tokens") or int(offsets.size)
    ttft = float(offsets[0]) if offsets.size else None
    gaps = np.diff(offsets)
    tpot = (e2e - ttft) / (tokens - 1) if ttft is not None and e2e is not None and tokens > 1 else None
    return {
        "ttft": ttft,
        "tt2t": float(gaps[0]) if gaps.size else None,
        "tpot": tpot,
        "e2e": e2e,
        "itl_p99": float(np.percentile(gaps, 99)) if gaps.size else None,
        "output_tokens": float(tokens),
    }


def meets_slo(figures: Mapping[str, Optional[float]], slo: Mapping[str, float]) -> bool:
    """True if every bounded figure exists and is within its bound."""
    for key, bound in slo.items():
        value = figures.get(key)
        if value is None or value > bound:
            return False
    return True


def percentile_ci(sorted_values: np.ndarray, q: float) -> tuple[Optional[float], Optional[float]]:
    """The 95 % order-statistic interval of the q-th percentile (binomial); None bounds where n is too small."""
    from scipy.stats import binom

    n = int(sorted_values.size)
    if n == 0:
        return None, None
    p = q / 100.0
    low_rank = int(binom.ppf(0.025, n, p))  # x_(low_rank) with 1-based ranks
    high_rank = int(binom.ppf(0.975, n, p)) + 1
    low = float(sorted_values[low_rank - 1]) if low_rank >= 1 else None
    high = float(sorted_values[high_rank - 1]) if high_rank <= n else None
    return low, high


def _distribution(name: str, values: Sequence[float]) -> dict[str, Optional[float]]:
    array = np.sort(np.asarray([v for v in values if v is not None], dtype=float))
    row: dict[str, Optional[float]] = {}
    for q in QUANTILES:
        key = f"{name}_p{q}_ms"
        row[key] = float(np.percentile(array, q)) if array.size else None
        row[f"{key}_ci_low"], row[f"{key}_ci_high"] = percentile_ci(array, q) if array.size else (None, None)
    return row


def _window_s(measured: Sequence[Record]) -> Optional[float]:
    """From the first measured send to the last measured end (s)."""
    if not measured:
        return None
    start = min(r["sent"] for r in measured)
    end = max(r["sent"] + r["end_ms"] / 1000.0 for r in measured)
    return end - start if end > start else None


def _median(values: Sequence[Optional[float]]) -> Optional[float]:
    kept = [float(v) for v in values if v is not None]
    return float(np.median(kept)) if kept else None


def _server_figures(ok: Sequence[Record]) -> dict[str, Optional[float]]:
    timings = [r["timings"] for r in ok if isinstance(r.get("timings"), dict)]
    return {
        "server_prompt_ms_p50": _median([t.get("prompt_ms") for t in timings]),
        "server_decode_tps_p50": _median([t.get("predicted_per_second") for t in timings]),
        "server_cached_tokens_mean": (
            float(np.mean([t["cache_n"] for t in timings if t.get("cache_n") is not None]))
            if any(t.get("cache_n") is not None for t in timings)
            else None
        ),
    }


def _cpu_figures(cpu: Optional[Mapping[str, float]]) -> dict[str, Optional[float]]:
    if not cpu or not cpu.get("wall"):
        return {"loadgen_cores": None, "server_cores": None, "other_cores": None}
    wall = cpu["wall"]
    load, server, busy = cpu.get("load", 0.0) / wall, cpu.get("server", 0.0) / wall, cpu.get("busy", 0.0) / wall
    return {
        "loadgen_cores": load,
        "server_cores": server if cpu.get("server") else None,
        "other_cores": max(0.0, busy - load - server),
    }


def _end_s(record: Record) -> float:
    return float(record["sent"]) + float(record.get("end_ms") or 0.0) / 1000.0


def backlog_at(records: Sequence[Record], t: float) -> int:
    """Requests of a level that arrived by `t` and had not finished: in flight (sent, not ended or cut) plus
    waiting for a user (the queue each process last reported behind a request it sent)."""
    sent = [r for r in records if r.get("sent") is not None and r["sent"] <= t]
    in_flight = sum(1 for r in sent if r.get("outcome") == "cut" or _end_s(r) > t)
    queued: dict[Any, tuple[float, int]] = {}
    for r in sent:
        if r.get("queued") is not None and r["sent"] >= queued.get(r.get("pid"), (-1.0, 0))[0]:
            queued[r.get("pid")] = (r["sent"], int(r["queued"]))
    return in_flight + sum(count for _, count in queued.values())


def overload_line(level: Level, records: Sequence[Record], span: Optional[Span] = None) -> Optional[str]:
    """One line saying how an open-loop level was overloaded, or None (see the module's docstring)."""
    arrived = sorted(float(r["arrival"]) for r in records if r.get("arrival") is not None and r.get("sent"))
    if level.kind != "rate" or len(arrived) < 4:
        return None
    start = arrived[0]
    end = span[1] if span is not None else max(_end_s(r) for r in records if r.get("sent"))
    if end - start <= 0:
        return None
    finished = sum(1 for r in records if r.get("outcome") in ("ok", "error") and start <= _end_s(r) <= end)
    served = finished / (end - start)
    middle = start + (end - start) / 2.0
    growth = backlog_at(records, end) - backlog_at(records, middle)
    if served >= OVERLOAD_SERVED * level.value or growth < OVERLOAD_GROWTH:
        return None
    return (
        f"{level.label} overloaded: {served:.2f} req/s finished against {level.value:g} offered; "
        f"{backlog_at(records, end)} waiting or in flight at its end (+{growth} in its second half)"
    )


def delivered_tokens(records: Sequence[Record], start: float, end: float) -> float:
    """Output tokens whose chunks arrived within [start, end], from every request (cut ones too).

    A chunk is one token unless the server's usage says a finished request had more tokens than chunks;
    then each of its chunks counts for its share.
    """
    total = 0.0
    for record in records:
        offsets = np.asarray(record.get("offsets_ms") or [], dtype=float)
        if not offsets.size or record.get("sent") is None:
            continue
        times = float(record["sent"]) + offsets / 1000.0
        used = record.get("output_tokens") if record.get("outcome") == "ok" else None
        weight = used / offsets.size if used and used > offsets.size else 1.0
        total += weight * int(np.count_nonzero((times >= start) & (times <= end)))
    return total


def level_row(
    index: int,
    level: Level,
    spec: LoadSpec,
    records: Sequence[Record],
    cpu: Optional[Mapping[str, float]],
    span: Optional[Span] = None,
) -> dict[str, Any]:
    """Every figure of one level (see docs/metrics.md): rates, latency percentiles with CI95, goodput, CPU, errors,
    and whether it was overloaded. `span`: the level's start and end (wall clock, s), when known."""
    measured = [r for r in records if not r.get("warmup") and r.get("outcome") in ("ok", "error")]
    ok = [r for r in measured if r["outcome"] == "ok"]
    per_request = [request_figures(r) for r in ok]
    window = _window_s(measured)
    output_tokens = sum(f["output_tokens"] or 0.0 for f in per_request)
    overload = overload_line(level, records, span)
    delivered_window = _delivered_window([r for r in records if not r.get("warmup")], span)
    meeting = sum(1 for f in per_request if meets_slo(f, spec.slo)) if spec.slo else None
    gaps = [g for r in ok for g in np.diff(np.asarray(r.get("offsets_ms") or [], dtype=float)).tolist()]
    queue = [(r["sent"] - r["arrival"]) * 1000.0 for r in measured if r.get("arrival") is not None]
    row: dict[str, Any] = {
        "level": index,
        "load": level.label,
        "kind": level.kind,
        "value": level.value,
        "users": level.users,
        "requests": len(ok),
        "errors": len(measured) - len(ok),
        "warmup": sum(1 for r in records if r.get("warmup")),
        "cut": sum(1 for r in records if r.get("outcome") == "cut"),
        "window_s": window,
        "request_rate": len(ok) / window if window else None,
        "output_tps": None,  # below: completed_tps, or delivered_tps for an overloaded level
        "completed_tps": output_tokens / window if window else None,
        "delivered_tps": (
            delivered_tokens(records, *delivered_window) / (delivered_window[1] - delivered_window[0])
            if delivered_window
            else None
        ),
        "delivered_window_s": delivered_window[1] - delivered_window[0] if delivered_window else None,
        "overloaded": overload is not None,
        "overload": overload,
        "prompt_tokens_mean": _mean([r.get("prompt_tokens") for r in ok]),
        "output_tokens_mean": _mean([f["output_tokens"] for f in per_request]),
    }
    for name in LATENCIES:
        row.update(_distribution(name, gaps if name == "itl" else [f[name] for f in per_request]))  # type: ignore[misc]
    row["queue_p50_ms"] = float(np.percentile(queue, 50)) if queue else None
    row["queue_p99_ms"] = float(np.percentile(queue, 99)) if queue else None
    row["goodput_fraction"] = meeting / len(measured) if meeting is not None and measured else None
    row["goodput_rps"] = meeting / window if meeting is not None and window else None
    row.update(_server_figures(ok))
    row["errors_by_kind"] = dict(Counter(r.get("error") or "unknown" for r in measured if r["outcome"] == "error"))
    row.update(_cpu_figures(cpu))
    row["output_tps"] = row["delivered_tps"] if overload is not None else row["completed_tps"]
    return row


def _delivered_window(sent: Sequence[Record], span: Optional[Span]) -> Optional[Span]:
    """From the first non-warm-up send (cut requests' too) to the level's end (else the last of their ends)."""
    sent = [r for r in sent if r.get("sent") is not None]
    if not sent:
        return None
    start = min(float(r["sent"]) for r in sent)
    end = span[1] if span is not None else max(_end_s(r) for r in sent)
    return (start, end) if end > start else None


def _mean(values: Sequence[Optional[float]]) -> Optional[float]:
    kept = [float(v) for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def knee_level(rows: Sequence[Mapping[str, Any]]) -> Optional[int]:
    """The last level before throughput stops growing: the next adds < 10 % output tok/s (None: no such level)."""
    rates = [row.get("output_tps") for row in rows]
    for position in range(len(rates) - 1):
        here, after = rates[position], rates[position + 1]
        if here and after is not None and (after - here) / here < KNEE_GAIN:
            return int(rows[position]["level"])
    return None
