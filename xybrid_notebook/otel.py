"""Figures leave the notebook: OpenTelemetry GenAI spans and metrics for runs, sweeps and load tests.

Follows the GenAI semantic conventions v1.41.0 (Development status). What the client
measures goes under client names (`gen_ai.client.operation.time_to_first_chunk`,
`…time_per_output_chunk` with one sample per gap of `GenerationOutput.inter_chunk_ms`,
`…duration`, `gen_ai.client.token.usage`); what an engine reports about itself
(llama.cpp counters, llama-server `timings`) stays a span attribute under `xybrid.engine_*`.

The hot path is untouched: a finished run is put on a bounded queue (`QUEUE_SIZE`; when
it is full the run is dropped and counted) and a daemon thread turns it into a span and
metric samples. Spans leave through the SDK's `BatchSpanProcessor` (its own thread,
bounded queue) and OTLP/HTTP. Metrics are served for Prometheus to scrape
(`prometheus_port`, OpenTelemetry's Prometheus exporter) and/or pushed over OTLP/HTTP
(`otlp_metrics`). A receiver that is down or answers with an error costs a run nothing;
it is reported once, in one line, and in `status()`.

Needs the `telemetry` extra: `pip install 'xybrid-notebook[telemetry]'`.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import urlparse

from .errors import BackendUnavailable, InvalidInput
from .types import GenerationConfig, GenerationOutput

SEMCONV_VERSION = "1.41.0"
QUEUE_SIZE = 256
EXPORT_TIMEOUT_S = 2.0
INSTALL = "pip install 'xybrid-notebook[telemetry]' (opentelemetry-sdk, its OTLP/HTTP and Prometheus exporters)"
#: Bucket boundaries the conventions give (seconds; tokens).
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
CHUNK_BUCKETS = (
    *(0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2),
    *(0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.75, 1.0, 2.0, 5.0),
)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
_SDK_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk.metrics._internal.export",
)
EXPERIMENT_RATE = "xybrid.experiment.rate"
TTFC = "gen_ai.client.operation.time_to_first_chunk"
TPOC = "gen_ai.client.operation.time_per_output_chunk"
DURATION = "gen_ai.client.operation.duration"
TOKEN_USAGE = "gen_ai.client.token.usage"


@dataclass(frozen=True)
class TelemetrySettings:
    """Where figures go: an OTLP/HTTP base URL (traces at `/v1/traces`), a Prometheus scrape port, the service name."""

    otlp_url: Optional[str] = None
    service: str = "xybrid-notebook"
    headers: Mapping[str, str] = field(default_factory=dict)
    prometheus_port: Optional[int] = None
    otlp_metrics: bool = False


def parse_headers(text: Optional[str]) -> dict[str, str]:
    """`K=V,K2=V2` (the OTLP environment variables' form) as a dict; one line if malformed."""
    headers: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"headers: {part.strip()!r} is not KEY=VALUE (e.g. x-mlflow-experiment-id=0)")
        headers[key.strip()] = value.strip()
    return headers


def check_otlp_url(url: Optional[str]) -> Optional[str]:
    """An http(s) base URL without a trailing slash (and without `/v1/traces`), or None."""
    if url is None:
        return None
    parsed = urlparse(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidInput(f"otlp: {url!r} is not an http(s) URL, e.g. http://127.0.0.1:4318")
    try:
        _ = parsed.port
    except ValueError:
        raise InvalidInput(f"otlp: {url!r} has a port that is not a number") from None
    base = url.strip().rstrip("/")
    return base[: -len("/v1/traces")] if base.endswith("/v1/traces") else base


def settings_from_env(
    otlp_url: Optional[str] = None,
    service: Optional[str] = None,
    headers: Optional[str] = None,
    prometheus_port: Optional[int] = None,
    otlp_metrics: bool = False,
) -> TelemetrySettings:
    """The arguments, else the standard `OTEL_EXPORTER_OTLP_ENDPOINT`, `…_HEADERS` and `OTEL_SERVICE_NAME`."""
    url = otlp_url or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if url is None and prometheus_port is None:
        raise InvalidInput(
            "telemetry: give --otlp URL and/or --prometheus-port PORT (or set OTEL_EXPORTER_OTLP_ENDPOINT)"
        )
    if prometheus_port is not None and not 0 < prometheus_port < 65536:
        raise InvalidInput(f"prometheus_port: must be between 1 and 65535, not {prometheus_port}")
    return TelemetrySettings(
        otlp_url=check_otlp_url(url),
        service=service or os.environ.get("OTEL_SERVICE_NAME") or "xybrid-notebook",
        headers=parse_headers(headers if headers is not None else os.environ.get("OTEL_EXPORTER_OTLP_HEADERS")),
        prometheus_port=prometheus_port,
        otlp_metrics=otlp_metrics,
    )


# -- what a run becomes -------------------------------------------------------------------------
def _server_attributes(output: GenerationOutput, source: str) -> dict[str, Any]:
    if output.backend != "remote" or not source:
        return {}
    parsed = urlparse(source)
    return {
        "server.address": parsed.hostname or "",
        "server.port": parsed.port or (443 if parsed.scheme == "https" else 80),
    }


def metric_attributes(output: GenerationOutput, operation: str, source: str = "") -> dict[str, Any]:
    """The attributes every metric sample of a run carries (low cardinality)."""
    return {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": output.backend,
        "gen_ai.request.model": output.model_id,
        "gen_ai.response.model": output.model_id,
        **_server_attributes(output, source),
    }


def span_attributes(
    output: GenerationOutput, config: Optional[GenerationConfig], operation: str, source: str = ""
) -> dict[str, Any]:
    """A run's span attributes: the GenAI ones, then our figures under `xybrid.*` (the engine's: `xybrid.engine_*`)."""
    attributes: dict[str, Any] = {
        **metric_attributes(output, operation, source),
        "gen_ai.request.stream": True,
        "gen_ai.usage.input_tokens": output.prompt_tokens,
        "gen_ai.usage.output_tokens": output.tokens_generated,
        "gen_ai.response.finish_reasons": [output.finish_reason],
    }
    if output.ttft_ms is not None:
        attributes["gen_ai.response.time_to_first_chunk"] = output.ttft_ms / 1000.0
    if output.prompt_cached_tokens is not None:
        attributes["gen_ai.usage.cache_read.input_tokens"] = output.prompt_cached_tokens
    if config is not None:
        for name, value in (
            ("max_tokens", config.max_tokens),
            ("temperature", config.temperature),
            ("top_p", config.top_p),
            ("top_k", config.top_k),
            ("seed", config.seed),
        ):
            if value is not None:
                attributes[f"gen_ai.request.{name}"] = value
    for name in (
        "ttft_ms",
        "generation_time_ms",
        "decode_tps",
        "prefill_tps",
        "mean_itl_ms",
        "p50_itl_ms",
        "p95_itl_ms",
        "p99_itl_ms",
        "emitted_chunks",
        "engine_decode_tps",
        "engine_prefill_tps",
        "execution_provider",
        "engine_settings",
        "route",
        "route_reason",
        "other_cpu_cores_mean",
        "engine_cpu_cores_mean",
    ):
        value = getattr(output, name, None)
        if value is not None:
            attributes[f"xybrid.{name}"] = value
    for phase, total_ms in output.phase_totals_ms().items():
        attributes[f"xybrid.phase.{phase}_ms"] = total_ms
    if output.phases_ms:
        attributes["xybrid.stalls"] = len(output.stalls)
    return attributes


def stall_events(output: GenerationOutput, start_ns: int) -> list[tuple[int, dict[str, Any]]]:
    """Each stall as (the time its chunk arrived, attributes): chunk, gap, CPU share, who ran then."""
    events = []
    for stall in output.stalls:
        at_ns = start_ns + int(output.chunk_offsets_ms[stall["index"]] * 1e6)
        others = [f"{o['name']} {o['cores']:.2f}" for o in stall["others"]]
        attributes = {
            "xybrid.chunk.index": stall["index"],
            "xybrid.gap_ms": stall["gap_ms"],
            "xybrid.cpu_share": stall["cpu_share"],
            "xybrid.others": others,
        }
        events.append((at_ns, attributes))
    return events


@dataclass(frozen=True)
class Samples:
    """One operation's client figures for the metrics (ms and tokens; None where there is none)."""

    ttft_ms: Optional[float]
    gaps_ms: Sequence[float]
    duration_ms: Optional[float]
    input_tokens: Optional[int]
    output_tokens: Optional[int]


@dataclass(frozen=True)
class SpanSpec:
    """A span to make after the fact: its name, wall-clock start and end (epoch s), attributes; optional preset id,
    error kind, and metric samples with their attributes."""

    name: str
    start_s: float
    end_s: float
    attributes: Mapping[str, Any] = field(default_factory=dict)
    span_id: Optional[int] = None
    error: Optional[str] = None
    samples: Optional[Samples] = None
    metric_attributes: Mapping[str, Any] = field(default_factory=dict)
    #: llama-bench style rates of an experiment's repetition (`pp`, `tg`: tokens/s), for `xybrid.experiment.rate`.
    rates: Mapping[str, float] = field(default_factory=dict)


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


class PresetIds:
    """An OpenTelemetry id generator that hands out ids set beforehand (a load test's requests carry theirs)."""

    def __init__(self) -> None:
        self.trace_id: Optional[int] = None
        self.span_id: Optional[int] = None
        self._random = random.Random()

    def generate_trace_id(self) -> int:
        """The preset trace id once, else a random one."""
        preset, self.trace_id = self.trace_id, None
        return preset if preset is not None else self._random.getrandbits(128)

    def is_trace_id_random(self) -> bool:
        """What the SDK asks of an id generator: ids are random except for a load test's preset ones."""
        return True

    def generate_span_id(self) -> int:
        """The preset span id once, else a random one."""
        preset, self.span_id = self.span_id, None
        return preset if preset is not None else self._random.getrandbits(64)


def _require_sdk() -> None:
    try:
        from opentelemetry.sdk import trace  # noqa: F401
    except ImportError:
        raise BackendUnavailable(f"telemetry needs OpenTelemetry: {INSTALL}") from None


class Telemetry:
    """One session's exporters, instruments and export thread."""

    def __init__(self, settings: TelemetrySettings) -> None:
        _require_sdk()
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.settings = settings
        self.ids = PresetIds()
        for name in _SDK_LOGGERS:  # their per-batch warnings would land in cells; the problem is said once instead
            logging.getLogger(name).setLevel(logging.CRITICAL)
        resource = Resource.create({"service.name": settings.service})
        self.spans_sent = self.spans_failed = self.dropped = 0
        self.problem: Optional[str] = None
        self._reported = False
        self.tracer_provider: Optional[Any] = None
        if settings.otlp_url:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = _Counting(
                OTLPSpanExporter(
                    endpoint=f"{settings.otlp_url}/v1/traces", headers=dict(settings.headers), timeout=EXPORT_TIMEOUT_S
                ),
                self,
            )
            self.tracer_provider = TracerProvider(resource=resource, id_generator=self.ids)  # type: ignore[arg-type]
            self.tracer_provider.add_span_processor(
                BatchSpanProcessor(
                    exporter,  # type: ignore[arg-type]  # duck-typed: export, shutdown, force_flush
                    max_queue_size=2048,
                    schedule_delay_millis=500,
                    export_timeout_millis=2000,
                )
            )
        readers = self._metric_readers()
        views = [
            View(instrument_name=TTFC, aggregation=ExplicitBucketHistogramAggregation(CHUNK_BUCKETS)),
            View(instrument_name=TPOC, aggregation=ExplicitBucketHistogramAggregation(CHUNK_BUCKETS)),
            View(instrument_name=DURATION, aggregation=ExplicitBucketHistogramAggregation(DURATION_BUCKETS)),
            View(instrument_name=TOKEN_USAGE, aggregation=ExplicitBucketHistogramAggregation(TOKEN_BUCKETS)),
        ]
        self.meter_provider = MeterProvider(resource=resource, metric_readers=readers, views=views)
        meter = self.meter_provider.get_meter(
            "xybrid_notebook", schema_url=f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
        )
        self.ttfc = meter.create_histogram(TTFC, unit="s", description="Time to receive the first chunk")
        self.tpoc = meter.create_histogram(TPOC, unit="s", description="Time per output chunk after the first")
        self.duration = meter.create_histogram(DURATION, unit="s", description="GenAI operation duration")
        self.tokens = meter.create_histogram(TOKEN_USAGE, unit="{token}", description="Input and output tokens")
        # Not a GenAI client operation (llama-bench's synthetic pp/tg tests), so under our own name.
        self.rates = meter.create_histogram(EXPERIMENT_RATE, unit="{token}/s", description="pp and tg rates of sweeps")
        self._queue: queue.Queue[Optional[Callable[[], None]]] = queue.Queue(QUEUE_SIZE)
        self._thread = threading.Thread(target=self._work, name="xybrid-telemetry", daemon=True)
        self._thread.start()

    def _metric_readers(self) -> list[Any]:
        readers: list[Any] = []
        self._http: Optional[Any] = None
        if self.settings.prometheus_port is not None:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from prometheus_client import start_http_server

            try:
                self._http = start_http_server(self.settings.prometheus_port, addr="127.0.0.1")
            except OSError as exc:
                raise InvalidInput(
                    f"prometheus_port: cannot listen on 127.0.0.1:{self.settings.prometheus_port}: {exc}"
                ) from None
            readers.append(PrometheusMetricReader())
        if self.settings.otlp_metrics and self.settings.otlp_url:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

            exporter = OTLPMetricExporter(
                endpoint=f"{self.settings.otlp_url}/v1/metrics",
                headers=dict(self.settings.headers),
                timeout=EXPORT_TIMEOUT_S,
            )
            readers.append(PeriodicExportingMetricReader(exporter, export_interval_millis=5000))
        return readers

    # -- the kernel's side: never blocks --------------------------------------------------------
    def submit(self, job: Callable[[], None]) -> bool:
        """Queue work for the export thread; False (and counted) if the queue is full."""
        try:
            self._queue.put_nowait(job)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def record_run(
        self,
        output: GenerationOutput,
        config: Optional[GenerationConfig],
        started_at: float,
        operation: str = "chat",
        source: str = "",
        parent: Optional[Any] = None,
    ) -> bool:
        """Queue one finished run (its span and metric samples); `started_at` is its start, epoch seconds."""
        return self.submit(lambda: self._run(output, config, started_at, operation, source, parent))

    def take_problem(self) -> Optional[str]:
        """The receiver's problem in one line, the first time it is asked after it happened; else None."""
        if self.problem and not self._reported:
            self._reported = True
            return self.problem
        return None

    def status(self) -> str:
        """Where figures go and how it is going, in one line."""
        parts = []
        if self.settings.otlp_url:
            parts.append(f"traces → {self.settings.otlp_url}/v1/traces ({self.spans_sent} spans sent")
            parts[-1] += f", {self.spans_failed} not accepted" if self.spans_failed else ""
            parts[-1] += f", {self.dropped} dropped)" if self.dropped else ")"
        if self.settings.prometheus_port is not None:
            parts.append(f"metrics at http://127.0.0.1:{self.settings.prometheus_port}/metrics")
        if self.settings.otlp_metrics and self.settings.otlp_url:
            parts.append(f"metrics → {self.settings.otlp_url}/v1/metrics")
        problem = f"; last problem: {self.problem}" if self.problem else ""
        return f"{', '.join(parts)} (service {self.settings.service}, GenAI conventions v{SEMCONV_VERSION}){problem}"

    def flush(self, timeout_s: float = 5.0) -> None:
        """Wait until queued runs are exported (for tests and the end of a session)."""
        done = threading.Event()
        self.submit(done.set)
        done.wait(timeout_s)
        if self.tracer_provider is not None:
            self.tracer_provider.force_flush(int(timeout_s * 1000))

    def shutdown(self) -> None:
        """Flush, stop the thread and the exporters, close the scrape endpoint."""
        self.flush(2.0)
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        if self._http is not None:
            server = self._http[0] if isinstance(self._http, tuple) else None
            if server is not None:
                server.shutdown()
                server.server_close()

    # -- the export thread -----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                job()
            except Exception as exc:  # a bad run must not stop the thread; say it once
                self.problem = self.problem or f"{type(exc).__name__}: {exc}"

    def tracer(self) -> Optional[Any]:
        """The tracer, if traces are exported."""
        return self.tracer_provider.get_tracer("xybrid_notebook") if self.tracer_provider is not None else None

    def _run(
        self,
        output: GenerationOutput,
        config: Optional[GenerationConfig],
        started_at: float,
        operation: str,
        source: str,
        parent: Optional[Any],
    ) -> None:
        self.record_metrics(output, operation, source)
        tracer = self.tracer()
        if tracer is None:
            return
        from opentelemetry import trace

        start_ns = int(started_at * 1e9)
        end_ns = start_ns + int(output.generation_time_ms * 1e6)
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = tracer.start_span(
            f"{operation} {output.model_id}",
            context=context,
            kind=trace.SpanKind.CLIENT,
            start_time=start_ns,
            attributes=span_attributes(output, config, operation, source),
        )
        for at_ns, attributes in stall_events(output, start_ns):
            span.add_event("stall", attributes=attributes, timestamp=at_ns)
        if output.finish_reason == "cancelled":
            span.add_event("cancel", timestamp=end_ns)
        if output.finish_reason == "error":
            span.add_event("error", timestamp=end_ns)
            span.set_status(trace.Status(trace.StatusCode.ERROR))
        span.end(end_time=end_ns)

    def record_metrics(self, output: GenerationOutput, operation: str, source: str = "") -> None:
        """The run's metric samples: TTFC once, one TPOC per gap, the duration, input and output tokens."""
        attributes = metric_attributes(output, operation, source)
        if output.finish_reason == "error":
            attributes["error.type"] = "_OTHER"
        self.record_samples(
            Samples(
                output.ttft_ms,
                list(output.inter_chunk_ms),
                output.generation_time_ms,
                output.prompt_tokens,
                output.tokens_generated,
            ),
            attributes,
        )

    def record_samples(self, samples: Samples, attributes: Mapping[str, Any]) -> None:
        """One operation's metric samples (milliseconds in, seconds out, as the conventions' unit is s)."""
        if samples.ttft_ms is not None:
            self.ttfc.record(samples.ttft_ms / 1000.0, attributes)
        for gap_ms in samples.gaps_ms:
            self.tpoc.record(gap_ms / 1000.0, attributes)
        if samples.duration_ms is not None:
            self.duration.record(samples.duration_ms / 1000.0, attributes)
        if samples.input_tokens is not None:
            self.tokens.record(samples.input_tokens, {**attributes, "gen_ai.token.type": "input"})
        if samples.output_tokens is not None:
            self.tokens.record(samples.output_tokens, {**attributes, "gen_ai.token.type": "output"})

    def record_group(self, group: SpanSpec, children: Sequence[SpanSpec], trace_id: Optional[int] = None) -> bool:
        """Queue a parent span (a sweep, an A/B, a load test) and its children (repetitions, requests)."""
        return self.submit(lambda: self._group(group, children, trace_id))

    def _group(self, group: SpanSpec, children: Sequence[SpanSpec], trace_id: Optional[int]) -> None:
        for child in children:
            if child.samples is not None:
                self.record_samples(child.samples, child.metric_attributes)
            for test, rate in child.rates.items():
                self.rates.record(rate, {**child.metric_attributes, "xybrid.test": test})
        tracer = self.tracer()
        if tracer is None:
            return
        from opentelemetry import trace

        self.ids.trace_id = trace_id
        parent = tracer.start_span(group.name, start_time=_ns(group.start_s), attributes=dict(group.attributes))
        context = trace.set_span_in_context(parent)
        for child in children:
            self.ids.span_id = child.span_id
            span = tracer.start_span(
                child.name,
                context=context,
                kind=trace.SpanKind.CLIENT,
                start_time=_ns(child.start_s),
                attributes=dict(child.attributes),
            )
            if child.error:
                span.add_event("error", attributes={"error.type": child.error}, timestamp=_ns(child.end_s))
                span.set_status(trace.Status(trace.StatusCode.ERROR, child.error))
            span.end(end_time=_ns(child.end_s))
        parent.end(end_time=_ns(group.end_s))


class _Counting:
    """Wraps the OTLP span exporter: counts what was sent and keeps the receiver's problem in one line."""

    def __init__(self, inner: Any, owner: Telemetry) -> None:
        self.inner, self.owner = inner, owner

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        started = time.monotonic()
        try:
            result = self.inner.export(spans)
        except Exception as exc:
            result, reason = SpanExportResult.FAILURE, f"{type(exc).__name__}: {exc}"
        else:
            reason = "it did not accept them (unreachable, or an HTTP error: see its log)"
        if result == SpanExportResult.SUCCESS:
            self.owner.spans_sent += len(spans)
        else:
            self.owner.spans_failed += len(spans)
            self.owner.problem = (
                f"the trace receiver at {self.owner.settings.otlp_url} did not take {len(spans)} span(s) "
                f"after {time.monotonic() - started:.1f} s: {reason}; runs are not affected"
            )
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))
