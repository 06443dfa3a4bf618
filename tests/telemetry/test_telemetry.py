"""OpenTelemetry export against real receivers: Prometheus scrapes the metrics, MLflow takes the traces.

A run, a sweep and a load test go out; what comes back must equal what the notebook shows.
A dead or refusing receiver costs a run nothing, and says so once, in one line.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import xybrid_notebook as xn
from benchmarks.http_receiver import AnsweringReceiver
from xybrid_notebook.errors import InvalidInput
from xybrid_notebook.loopback import free_port, running_server
from xybrid_notebook.servers import ServedModel

from .receivers import PROMETHEUS, ensure_mlflow, mlflow_server_argv, mlflow_spans, prometheus_config

pytestmark = pytest.mark.slow
EXPERIMENT_HEADER = "x-mlflow-experiment-id=0"


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, metrics_port: int) -> Iterator[str]:
    """Debian's Prometheus on loopback, scraping the session's metrics endpoint every second; its URL."""
    if not PROMETHEUS.exists():
        pytest.skip("Debian's prometheus is not installed on this machine (make test installs it with apt-get)")
    root = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    argv = [
        str(PROMETHEUS),
        f"--config.file={prometheus_config(root / 'prometheus.yml', metrics_port)}",
        f"--storage.tsdb.path={root / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with running_server(argv, f"http://127.0.0.1:{port}/-/ready", root / "prometheus.log", name="prometheus"):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An MLflow tracking server (SQLite) on loopback, from its own environment; its URL."""
    why = ensure_mlflow()
    if why is not None:
        pytest.skip(why)
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running_server(
        mlflow_server_argv(port, root), f"{url}/health", root / "mlflow.log", name="mlflow", timeout_s=180
    ):
        yield url


def prometheus_value(url: str, query: str, expected: float, timeout_s: float = 15.0) -> float:
    """The query's value (summed over series), polled until it equals `expected` or the time is up."""
    value = float("nan")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/v1/query?query={urllib.parse.quote(query)}", timeout=5) as response:
            result = json.load(response)["data"]["result"]
        value = sum(float(r["value"][1]) for r in result)
        if abs(value - expected) <= 1e-6 * max(1.0, abs(expected)):
            return value
        time.sleep(0.5)
    return value


@pytest.fixture
def telemetry_off() -> Iterator[None]:
    yield
    xn.telemetry(off=True)


def test_a_run_a_sweep_and_a_load_test_reach_both_receivers(
    prometheus: str, mlflow: str, metrics_port: int, smollm2_path: Path, served_llama: ServedModel, telemetry_off: None
) -> None:
    line = xn.telemetry(mlflow, headers=EXPERIMENT_HEADER, prometheus_port=metrics_port, service="xybrid-test")
    assert line is not None and "v1.41.0" in line
    session = xn.current_session()
    session.load(str(smollm2_path))
    try:
        runs = [xn.generate("Name a colour.", live=False, max_tokens=12, temperature=0) for _ in range(2)]
        sweep = xn.sweep(live=False, model=str(smollm2_path), n_prompt=16, n_gen=8, repetitions=2, warmup=0)
        load = xn.load_test(
            served_llama.url, concurrency=[1], requests=2, prompt_tokens=16, output_tokens=8, live=False
        )
    finally:
        session.unload()
    assert session.telemetry is not None
    session.telemetry.flush()
    requests = [r for r in load.records if r["outcome"] == "ok"]

    # Metrics: the TTFT histogram's count and sum are the runs' and the load requests', in seconds.
    ttfts = [o.ttft_ms for o in runs] + [r["offsets_ms"][0] for r in requests]
    assert prometheus_value(
        prometheus, "sum(gen_ai_client_operation_time_to_first_chunk_seconds_count)", len(ttfts)
    ) == len(ttfts)
    total = sum(ttfts) / 1000.0
    assert prometheus_value(
        prometheus, "sum(gen_ai_client_operation_time_to_first_chunk_seconds_sum)", total
    ) == pytest.approx(total, rel=1e-6)
    rates = [rep.tg_tps for r in sweep.results for rep in r.repetitions] + [
        rep.pp_tps for r in sweep.results for rep in r.repetitions
    ]
    assert prometheus_value(prometheus, 'sum({__name__=~"xybrid_experiment_rate.*_count"})', len(rates)) == len(rates)
    gaps = sum(len(o.inter_chunk_ms) for o in runs) + sum(len(r["offsets_ms"]) - 1 for r in requests)
    assert (
        prometheus_value(prometheus, "sum(gen_ai_client_operation_time_per_output_chunk_seconds_count)", gaps) == gaps
    )

    # Traces: read back from MLflow with its own client.
    spans: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len([s for s in spans if s["name"].startswith("chat ")]) < 2 + len(requests):
        spans = mlflow_spans(mlflow)
        time.sleep(1)
    chats = {
        s["attributes"].get("xybrid.generation_time_ms"): s
        for s in spans
        if "xybrid.generation_time_ms" in s["attributes"]
    }
    for output in runs:
        span = chats[output.generation_time_ms]
        attributes = span["attributes"]
        assert attributes["gen_ai.usage.output_tokens"] == output.tokens_generated
        assert attributes["gen_ai.usage.input_tokens"] == output.prompt_tokens
        assert attributes["gen_ai.response.time_to_first_chunk"] == pytest.approx(output.ttft_ms / 1000.0)
        assert attributes["gen_ai.request.model"] == output.model_id
        assert attributes["xybrid.decode_tps"] == pytest.approx(output.decode_tps)
    repetitions = [s for s in spans if s["name"].startswith("repetition ")]
    assert len(repetitions) == sum(len(r.repetitions) for r in sweep.results)
    assert {s["attributes"]["xybrid.tg_tps"] for s in repetitions} == {
        rep.tg_tps for r in sweep.results for rep in r.repetitions
    }
    parents = {s["name"]: s for s in spans if s["name"] in ("sweep", "load_test")}
    assert set(parents) == {"sweep", "load_test"}
    request_spans = [s for s in spans if s["parent_id"] == parents["load_test"]["span_id"]]
    sent_ids = {r["span_id"] for r in load.records if r["outcome"] in ("ok", "error")}
    assert {str(s["span_id"]).removeprefix("0x").zfill(16) for s in request_spans} == sent_ids  # the traceparent ids
    assert load.spec.trace_id in parents["load_test"]["trace_id"].replace("-", "")


@pytest.mark.parametrize("receiver", ["dead", "refusing"])
def test_a_receiver_that_is_down_or_refuses_costs_runs_nothing_and_says_so_once(
    receiver: str, smollm2_path: Path, telemetry_off: None
) -> None:
    refusing = AnsweringReceiver(400) if receiver == "refusing" else None
    port = refusing.server_address[1] if refusing else free_port()
    xn.telemetry(f"http://127.0.0.1:{port}")
    session = xn.current_session()
    session.load(str(smollm2_path))
    said: list[str] = []
    try:
        before = len(session.history)
        first = xn.generate("Hi", live=False, max_tokens=4, on_notice=said.append)
        assert session.telemetry is not None
        session.telemetry.flush()
        xn.generate("Hi", live=False, max_tokens=4, on_notice=said.append)
        session.telemetry.flush()
        xn.generate("Hi", live=False, max_tokens=4, on_notice=said.append)
    finally:
        session.unload()
        if refusing:
            refusing.shutdown()
    assert len(session.history) == before + 3 and first.finish_reason in ("length", "stop")
    problems = [line for line in said if line.startswith("telemetry:")]
    assert len(problems) == 1 and "\n" not in problems[0] and "runs are not affected" in problems[0]
    assert "not accepted" in (session.telemetry.status() if session.telemetry else "")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"otlp": "localhost:4318"}, "otlp: 'localhost:4318' is not an http(s) URL"),
        ({"otlp": "http://127.0.0.1:43x8"}, "has a port that is not a number"),
        ({"otlp": "http://127.0.0.1:4318", "headers": "novalue"}, "headers: 'novalue' is not KEY=VALUE"),
        ({"prometheus_port": 70000}, "prometheus_port: must be between 1 and 65535"),
    ],
)
def test_bad_telemetry_settings_are_one_line(options: dict, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    with pytest.raises(InvalidInput) as caught:
        xn.telemetry(**options)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert xn.current_session().telemetry is None
