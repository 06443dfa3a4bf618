"""`%xybrid telemetry`: OpenTelemetry GenAI spans and metrics for every run, sweep and load test, on or off."""

from __future__ import annotations

from argparse import Namespace

from ..api import telemetry
from .registry import Context, option, subcommand


@subcommand(
    "telemetry",
    "send every run, sweep and load test as OpenTelemetry GenAI spans and metrics (--off: stop)",
    option(
        "--otlp",
        default=None,
        help="OTLP/HTTP base URL; traces go to URL/v1/traces (default $OTEL_EXPORTER_OTLP_ENDPOINT)",
    ),
    option("--service", default=None, help="service.name (default $OTEL_SERVICE_NAME or xybrid-notebook)"),
    option("--headers", default=None, help="K=V,... sent with every export (default $OTEL_EXPORTER_OTLP_HEADERS)"),
    option("--prometheus-port", type=int, default=None, help="serve the metrics on 127.0.0.1:PORT/metrics"),
    option("--otlp-metrics", action="store_true", help="also push the metrics to URL/v1/metrics"),
    option("--off", action="store_true", help="stop exporting (what was queued is flushed first)"),
)
def telemetry_command(context: Context, args: Namespace) -> None:
    line = telemetry(
        args.otlp,
        service=args.service,
        headers=args.headers,
        prometheus_port=args.prometheus_port,
        otlp_metrics=args.otlp_metrics,
        off=args.off,
    )
    print("Telemetry is off." if line is None else f"Telemetry on: {line}")
