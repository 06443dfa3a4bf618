"""A server's own state through a load test: its Prometheus `/metrics`, scraped a few times a second, as named series.

The load controller (`engine.py`) runs `watch` in a greenlet during every level (Locust
patches its sockets, so the plain `urllib` request here yields to the users) and sends
each sample home as one JSON event; the kernel keeps them in a `LoadTimeline`, beside
the levels' start and end times. Prometheus text is read with `prometheus_client`'s
parser. Whatever the server kind, the samples become a few named series (`SERIES`):
- `running`: requests being processed (llama-server: busy slots);
- `waiting`: requests accepted but not started (llama-server: deferred);
- `kv_cache_used`: the KV cache's used fraction, 0–1, where the server says;
- `prompt_tps`, `decode_tps`: prompt and generated tokens per second of wall time, from
  the growth of the server's token counters over the last `RATE_WINDOW_S`.
A server without `/metrics` (or with none of these series) gets one note and the test
goes on; a scrape that fails later is skipped.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import urlparse

#: Seconds between two scrapes (at least twice a second, as docs/metrics.md says).
SCRAPE_INTERVAL_S = 0.25
SCRAPE_TIMEOUT_S = 2.0
#: Token rates are the counters' growth over about this many seconds (llama-server counts a request's generated
#: tokens when it ends, so a rate between two scrapes 0.25 s apart would be mostly zeros and spikes).
RATE_WINDOW_S = 2.0
#: Gauges: a named series and the Prometheus samples it is read from (llama-server, vLLM, SGLang); the first found wins.
GAUGES: dict[str, tuple[str, ...]] = {
    "running": ("llamacpp:requests_processing", "vllm:num_requests_running", "sglang:num_running_reqs"),
    "waiting": ("llamacpp:requests_deferred", "vllm:num_requests_waiting", "sglang:num_queue_reqs"),
    "kv_cache_used": (
        "llamacpp:kv_cache_usage_ratio",
        "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc",
        "sglang:token_usage",
    ),
}
#: Counters whose growth per second between two scrapes is a named series.
COUNTERS: dict[str, tuple[str, ...]] = {
    "prompt_tps": ("llamacpp:prompt_tokens_total", "vllm:prompt_tokens_total", "sglang:prompt_tokens_total"),
    "decode_tps": ("llamacpp:tokens_predicted_total", "vllm:generation_tokens_total", "sglang:generation_tokens_total"),
}
SERIES = (*GAUGES, *COUNTERS)
Emit = Callable[..., None]


def metrics_url(url: str) -> str:
    """The server's `/metrics` from the OpenAI base URL (`http://host:port/v1` → `http://host:port/metrics`)."""
    parsed = urlparse(url)
    path = parsed.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return f"{parsed.scheme}://{parsed.netloc}{path}/metrics"


def read_samples(text: str) -> dict[str, list[float]]:
    """Every sample of a Prometheus text page by its name (label sets kept apart as a list); ValueError if not one."""
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values.setdefault(sample.name, []).append(float(sample.value))
    return values


def _first(samples: Mapping[str, list[float]], names: tuple[str, ...]) -> Optional[list[float]]:
    return next((samples[name] for name in names if samples.get(name)), None)


def gauges_and_counters(samples: Mapping[str, list[float]]) -> tuple[dict[str, float], dict[str, float]]:
    """The named gauges (label sets added up; the KV cache: the fullest) and the named counters' totals."""
    gauges: dict[str, float] = {}
    for name, sources in GAUGES.items():
        found = _first(samples, sources)
        if found is not None:
            gauges[name] = max(found) if name == "kv_cache_used" else sum(found)
    counters = {name: sum(found) for name, sources in COUNTERS.items() if (found := _first(samples, sources))}
    return gauges, counters


def server_kind(samples: Mapping[str, list[float]]) -> str:
    """`llama-server`, `vllm` or `sglang` by the samples' prefix, else `prometheus`."""
    prefixes = {name.split(":", 1)[0] for name in samples if ":" in name}
    for prefix, kind in (("llamacpp", "llama-server"), ("vllm", "vllm"), ("sglang", "sglang")):
        if prefix in prefixes:
            return kind
    return "prometheus"


class Scraper:
    """Reads one server's `/metrics` on demand: named values per scrape, counters turned into rates."""

    def __init__(self, url: str, headers: Optional[Mapping[str, str]] = None) -> None:
        import prometheus_client.parser  # noqa: F401 (0.1 s: now, not at a level's start while its users spawn)

        self.url = metrics_url(url)
        self.headers = dict(headers or {})
        self.note: Optional[str] = None
        self.kind = ""
        self.slots: Optional[int] = None
        self.scrapes = 0
        self._readings: list[tuple[float, dict[str, float]]] = []

    def _get(self, url: str) -> tuple[int, str]:
        request = urllib.request.Request(url, headers={**self.headers, "Accept": "text/plain"})
        try:
            with urllib.request.urlopen(request, timeout=SCRAPE_TIMEOUT_S) as response:
                return int(response.status), response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return int(exc.code), ""

    def sample(self) -> Optional[dict[str, Any]]:
        """One scrape: `{"t": wall time, "values": {series: value}}`; None if it failed (the first one sets `note`)."""
        sent = time.time()
        try:
            status, text = self._get(self.url)
        except (OSError, ValueError) as exc:
            self._failed(f"this server has no /metrics ({type(exc).__name__}: {exc}): its state is not drawn")
            return None
        if status >= 400:
            hint = " (llama-server: start it with --metrics)" if status == 501 else ""
            self._failed(f"this server has no /metrics (HTTP {status}{hint}): its state is not drawn")
            return None
        try:
            samples = read_samples(text)
        except (ValueError, TypeError, IndexError):
            samples = {}
        gauges, counters = gauges_and_counters(samples)
        if not gauges and not counters:
            self._failed(
                f"this server's /metrics has none of the series read here ({', '.join(SERIES)}): its state is not drawn"
            )
            return None
        t = (sent + time.time()) / 2.0
        values = dict(gauges)
        values.update(self._rates(t, counters))
        if self.scrapes == 0:
            self.kind = server_kind(samples)
            self.slots = self._slots()
        self.scrapes += 1
        return {"t": t, "values": values}

    def _rates(self, t: float, counters: dict[str, float]) -> dict[str, float]:
        """Each counter's growth per second since the last reading at least `RATE_WINDOW_S` old (else the oldest)."""
        readings = self._readings
        while len(readings) > 1 and readings[1][0] <= t - RATE_WINDOW_S:
            readings.pop(0)
        rates = {}
        if readings:
            before_t, before = readings[0]
            for name, total in counters.items():
                if name in before and t > before_t and total >= before[name]:
                    rates[name] = (total - before[name]) / (t - before_t)
        readings.append((t, counters))
        return rates

    def _failed(self, note: str) -> None:
        if self.scrapes == 0:
            self.note = note  # later failures (a scrape that timed out under load) are skipped
        return None

    def _slots(self) -> Optional[int]:
        """llama-server's slot count from its `/props` (`total_slots`); None elsewhere."""
        if self.kind != "llama-server":
            return None
        try:
            status, text = self._get(self.url[: -len("/metrics")] + "/props")
            slots = json.loads(text).get("total_slots") if status < 400 else None
        except (OSError, ValueError, AttributeError):
            return None
        return int(slots) if isinstance(slots, int) and slots > 0 else None


def watch(scraper: Scraper, level: int, emit: Emit, interval_s: float = SCRAPE_INTERVAL_S) -> None:
    """Scrape every `interval_s` until the caller kills this greenlet; emit each sample, the server once, the note."""
    due = time.perf_counter()
    while scraper.note is None:
        sample = scraper.sample()
        if scraper.note is not None:
            emit("server_metrics_note", note=scraper.note)
            return
        if sample is not None:
            if scraper.scrapes == 1:
                emit("server_metrics_info", kind=scraper.kind, slots=scraper.slots)
            emit("server_metrics", level=level, **sample)
        due = max(due + interval_s, time.perf_counter())  # a scrape that hung is not made up for by a burst
        time.sleep(max(0.0, due - time.perf_counter()))


@dataclass
class LoadTimeline:
    """A load test's time axis: each level's start and end (wall clock), and the server's scraped samples."""

    levels: dict[int, list[Optional[float]]] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    kind: str = ""
    slots: Optional[int] = None
    metrics_note: Optional[str] = None

    def take(self, kind: str, event: Mapping[str, Any]) -> bool:
        """Keep what an event says about the time axis; True if it was a server-metrics event (nothing else to do)."""
        if kind == "level_start":
            self.levels[int(event["level"])] = [event.get("t"), None]
        elif kind == "level_end" and int(event["level"]) in self.levels:
            self.levels[int(event["level"])][1] = event.get("t")
        elif kind == "server_metrics":
            self.samples.append({"t": float(event["t"]), "level": event.get("level"), "values": event["values"]})
            return True
        elif kind == "server_metrics_info":
            self.kind, self.slots = str(event.get("kind") or ""), event.get("slots")
            return True
        elif kind == "server_metrics_note":
            self.metrics_note = str(event["note"])
            return True
        return False

    @property
    def t0(self) -> Optional[float]:
        """The test's time zero: the first level's start."""
        starts = [span[0] for span in self.levels.values() if span[0] is not None]
        return min(starts) if starts else None

    def level_samples(self, level: int) -> list[dict[str, float]]:
        """The named values of one level's samples, in time order."""
        return [s["values"] for s in self.samples if s.get("level") == level]

    def frame(self) -> Any:
        """The samples as a long DataFrame: `t_s` (from the first level's start), `metric`, `value`, `level`."""
        import pandas as pd

        t0 = self.t0 if self.t0 is not None else (self.samples[0]["t"] if self.samples else 0.0)
        rows = [
            {"t_s": sample["t"] - t0, "metric": name, "value": float(value), "level": sample.get("level")}
            for sample in self.samples
            for name, value in sample["values"].items()
        ]
        return pd.DataFrame(rows, columns=["t_s", "metric", "value", "level"])

    def to_dict(self) -> dict[str, Any]:
        """Everything, for the JSON export."""
        return {
            "levels": {str(k): v for k, v in self.levels.items()},
            "samples": self.samples,
            "kind": self.kind,
            "slots": self.slots,
            "metrics_note": self.metrics_note,
        }
