"""Sweeps, A/Bs and load tests as OpenTelemetry spans: a parent span and a child per repetition or request.

Turns results into `otel.SpanSpec`s (the `otel` module knows no result type) and
queues them on the session's exporter. A load test's request spans keep the span ids
their `traceparent` headers carried, under the test's trace id, so a server that traces
joins the same trace. Repetitions of llama-bench's synthetic tests feed only our own
`xybrid.experiment.rate` metric; load test requests are real client operations and feed the
GenAI client metrics.
"""

from __future__ import annotations

import secrets
from typing import Any, Optional, Union

from .experiments import CompareResult, SweepResult
from .experiments.measures import ConfigResult
from .experiments.params import config_label
from .load import LoadResult
from .load.figures import request_figures
from .load.phases import request_phases
from .otel import Samples, SpanSpec, Telemetry


def new_trace_id() -> str:
    """A random W3C trace id (32 hex digits)."""
    return secrets.token_hex(16)


def _repetition_spans(result: ConfigResult, label: str) -> list[SpanSpec]:
    spans = []
    model = result.config.model.name if result.config.model is not None else ""
    for number, rep in enumerate(result.repetitions, 1):
        if rep.started_s is None or rep.ended_s is None:
            continue
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "text_completion",
            "gen_ai.request.model": model,
            "xybrid.configuration": label,
            "xybrid.repetition": number,
        }
        for name in ("pp_tps", "tg_tps", "ttft_ms", "sample_ms_per_token"):
            value = getattr(rep, name)
            if value is not None:
                attributes[f"xybrid.{name}"] = value
        rates = {test: value for test, value in (("pp", rep.pp_tps), ("tg", rep.tg_tps)) if value is not None}
        metric = {"gen_ai.request.model": model, "xybrid.configuration": label}
        name = f"repetition {label} #{number}"
        spans.append(SpanSpec(name, rep.started_s, rep.ended_s, attributes, metric_attributes=metric, rates=rates))
    return spans


def record_experiment(telemetry: Telemetry, result: Union[SweepResult, CompareResult]) -> bool:
    """A sweep or an A/B: a parent span over its repetitions (each a child with its figures)."""
    if isinstance(result, CompareResult):
        parts = [(result.a, "A"), (result.b, "B")]
        name, attributes = "compare", {"xybrid.verdict": str(result.verdict)}
    else:
        parts = [(r, config_label(r.config, names=result.swept) or "configuration") for r in result.results]
        name, attributes = "sweep", {"xybrid.swept": ",".join(result.swept)}
    children = [span for part, label in parts for span in _repetition_spans(part, label)]
    if not children:
        return False
    start, end = min(c.start_s for c in children), max(c.end_s for c in children)
    return telemetry.record_group(
        SpanSpec(name, start, end, {**attributes, "xybrid.stopped": result.stopped}), children
    )


def _request_span(result: LoadResult, record: dict[str, Any]) -> Optional[SpanSpec]:
    if record.get("outcome") not in ("ok", "error") or record.get("sent") is None:
        return None
    level = result.spec.levels[record["level"]]
    common = {
        "gen_ai.operation.name": "chat" if result.spec.api == "chat" else "text_completion",
        "gen_ai.provider.name": "remote",
        "gen_ai.request.model": result.spec.model,
        "xybrid.load_level": level.label,
    }
    attributes: dict[str, Any] = {**common, "gen_ai.request.stream": True, "xybrid.warmup": bool(record.get("warmup"))}
    samples = None
    if record["outcome"] == "ok":
        figures = request_figures(record)
        offsets = record.get("offsets_ms") or []
        gaps = [b - a for a, b in zip(offsets, offsets[1:])]
        samples = Samples(
            figures["ttft"], gaps, record.get("end_ms"), record.get("prompt_tokens"), record.get("output_tokens")
        )
        attributes.update(
            {
                "gen_ai.usage.input_tokens": record.get("prompt_tokens") or 0,
                "gen_ai.usage.output_tokens": record.get("output_tokens") or 0,
                "gen_ai.response.finish_reasons": [str(record.get("finish") or "stop")],
            }
        )
        if figures["ttft"] is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = figures["ttft"] / 1000.0
        for name, value in (record.get("timings") or {}).items():
            if isinstance(value, (int, float)):
                attributes[f"xybrid.engine_{name}"] = value  # the server's own report stays an attribute
        for name, value in request_phases(record).items():
            if value is not None:
                attributes[f"xybrid.phase.{name}"] = value  # server_queue_ms, server_prefill_ms, …
    span_id = int(record["span_id"], 16) if record.get("span_id") else None
    end = record["sent"] + (record.get("end_ms") or 0.0) / 1000.0
    name = f"{common['gen_ai.operation.name']} {result.spec.model}"
    error = record.get("error") if record["outcome"] == "error" else None
    return SpanSpec(name, record["sent"], end, attributes, span_id, error, samples, common)


def record_load_test(telemetry: Telemetry, result: LoadResult) -> bool:
    """A load test: a parent span under the test's trace id, a child per request (warm-ups marked)."""
    children = [span for record in result.records if (span := _request_span(result, record)) is not None]
    if not children:
        return False
    start, end = min(c.start_s for c in children), max(c.end_s for c in children)
    attributes = {"xybrid.levels": [level.label for level in result.spec.levels], "xybrid.stopped": result.stopped}
    trace_id = int(result.spec.trace_id, 16) if result.spec.trace_id else None
    return telemetry.record_group(SpanSpec("load_test", start, end, attributes), children, trace_id)
