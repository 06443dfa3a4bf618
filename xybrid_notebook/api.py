"""The Python API: what the magics do, from plain Python or a notebook, with or without the live views.

- `generate(prompt, live=None, **options)` runs one generation on the current
  session and returns what `%%generate` stores (a cancelled run's partial output too);
- `sweep(...)` and `compare(a, b, ...)` run the experiments with their live view;
- `serve(model, parallel=4)` starts llama-server on loopback; `load_test(target, concurrency=[...])`
  runs a load test on Locust against it (or any OpenAI-compatible URL) with its live view;
- `history()` gives the session's runs as a DataFrame; `local_models()` the GGUF models already on this
  machine, `model_card(name)` one model's card; `current_session()` the session
  itself (load, configure, route, chat, export: see `Session`).

`live=None` shows the widgets in a Jupyter kernel that can show them and prints text
elsewhere; `live=True` asks for widgets, `live=False` for text (`generate`) or nothing
(`sweep`, `compare`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from .errors import InvalidInput
from .experiments import CompareResult, SweepResult
from .experiments import compare as run_compare
from .experiments import sweep as run_sweep
from .export import history_frame
from .live import LiveRun, RunView, output_plot_data
from .load import LoadResult
from .load import load_test as run_load
from .metrics import ChunkClock
from .model_sources.card import ModelCard
from .model_sources.card import model_card as make_card
from .model_sources.listing import LOCAL_COLUMNS, local_model_rows
from .otel import settings_from_env
from .otel_spans import new_trace_id, record_experiment, record_load_test
from .run_errors import GenerationCancelled
from .servers import ServedModel, served
from .servers import serve as start_serving
from .session import RunMode, Session, check_mode, current_session
from .shell import running_shell
from .types import GenerationOutput
from .widgets import widgets_wanted


def _widgets(live: Optional[bool]) -> bool:
    return widgets_wanted(running_shell()) if live is None else live


# -- one run ---------------------------------------------------------------------------------------
def generate(
    prompt: str,
    *,
    live: Optional[bool] = None,
    mode: RunMode = "single",
    system: Optional[str] = None,
    plot: bool = True,
    compare_last: bool = False,
    color_gaps: bool = False,
    breakdown: bool = False,
    session: Optional[Session] = None,
    on_notice: Callable[[str], Any] = print,
    **settings: Any,
) -> GenerationOutput:
    """Stream one generation of `prompt` into the run view (widgets) or as text, and return its output.

    `mode`: "single" (one chat turn), "chat" (continue the session's conversation) or
    "raw" (the text as it is). `settings` override the session's generation defaults
    (`max_tokens`, `temperature`, `top_p`, `top_k`, `min_p`, `repeat_penalty`, `seed`,
    `stop`). A bad value raises `InvalidInput` before anything is shown. Stop or an
    interrupt ends the run and returns what it produced, marked "cancelled".
    `breakdown` draws the finished chart as each gap stacked by phase (a toggle in the page
    switches it on any run).
    """
    session = session or current_session()
    if not prompt or not prompt.strip():
        raise InvalidInput("the prompt is empty: give the text to send")
    check_mode(mode)
    backend = session.require_backend()
    config = session.run_config(**settings)
    if mode == "chat":
        notice = session.set_chat_system(system)
        system = None
        if notice:
            on_notice(notice)
    title = f"{backend.model_id()} · {backend.label()} · {mode}"
    view = _run_view(session, _widgets(live), plot, compare_last, color_gaps, title, breakdown)
    clock = ChunkClock()
    live_run = LiveRun(view, clock, plot=view.plot)
    view.start(title)
    runs_before = len(session.history)
    try:
        output = session.generate(
            prompt, mode=mode, system=system, on_token=live_run.on_token, clock=clock, config=config
        )
    except GenerationCancelled as exc:
        live_run.finish(exc.partial)
        return exc.partial
    except KeyboardInterrupt:
        live_run.abandon("cancelled before the generation started")
        raise
    except BaseException as exc:
        # Show how far the run got; the error itself goes on: one line if the user can fix it, else a traceback.
        if len(session.history) > runs_before:
            live_run.finish(session.history[-1].output)
        else:
            live_run.abandon(f"no output: {type(exc).__name__}")
        raise
    live_run.finish(output)
    report_telemetry_problem(session, on_notice)
    return output


def report_telemetry_problem(session: Session, say: Callable[[str], Any] = print) -> None:
    """Say, once, that the telemetry receiver did not take what it was sent (runs are never affected)."""
    problem = session.telemetry.take_problem() if session.telemetry is not None else None
    if problem:
        say(f"telemetry: {problem}")


def _run_view(
    session: Session, widgets: bool, plot: bool, compare_last: bool, color_gaps: bool, title: str, breakdown: bool
) -> RunView:
    """The widget run view, shown now, or the text view."""
    if not widgets:
        from .widgets.text_view import TextView

        return TextView(color_gaps=color_gaps)
    from .widgets.run_view import WidgetView

    last = session.last_output
    previous = output_plot_data(last) if compare_last and last is not None and last.emitted_chunks >= 2 else None
    view = WidgetView(plot=plot, previous=previous, color_gaps=color_gaps, title=title, breakdown=breakdown)
    view.display()
    return view


# -- experiments -----------------------------------------------------------------------------------
def sweep(*, live: Optional[bool] = None, repetitions: int = 5, warmup: int = 1, **params: Any) -> SweepResult:
    """Run every combination of the sweep parameters (see `experiments.designs.sweep`), live in a notebook.

    `live` shows the progress bar, chart and table while it runs (default: in a Jupyter
    kernel with widgets). Bad values raise `InvalidInput` before anything runs.
    """
    view = _experiment_view("sweep", live)
    result: SweepResult = with_view(run_sweep, view, {**params, "repetitions": repetitions, "warmup": warmup})
    export_experiment(result)
    return result


def compare(
    a: Any, b: Any, *, live: Optional[bool] = None, repetitions: int = 5, warmup: int = 1, **params: Any
) -> CompareResult:
    """Paired A/B in interleaved repetitions (see `experiments.designs.compare`); `live` as for `sweep`."""
    view = _experiment_view("compare", live)
    kwargs = {**params, "a": a, "b": b, "repetitions": repetitions, "warmup": warmup}
    result: CompareResult = with_view(run_compare, view, kwargs)
    export_experiment(result)
    return result


def export_experiment(result: Any) -> None:
    """A sweep's or an A/B's spans to the session's telemetry, if it is on."""
    session = current_session()
    if session.telemetry is not None:
        record_experiment(session.telemetry, result)
        report_telemetry_problem(session)


def _experiment_view(title: str, live: Optional[bool]) -> Any:
    if not _widgets(live):
        return None
    from .widgets.experiment_view import ExperimentView

    return ExperimentView(title)


def with_view(run: Callable[..., Any], view: Any, kwargs: dict[str, Any]) -> Any:
    """`run(**kwargs)` with `view` fed its progress (beside any `on_progress` of the caller's), and
    ended whatever happens: finished with the result, or abandoned when the run raises."""
    if view is None:
        return run(**kwargs)
    theirs = kwargs.get("on_progress")

    def both(progress: Any) -> None:
        view.on_progress(progress)
        if theirs is not None:
            theirs(progress)

    try:
        result = run(**{**kwargs, "on_progress": both})
    except BaseException as exc:
        view.abandon(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        raise
    view.finish(result)
    return result


# -- serving and load ------------------------------------------------------------------------------
def serve(model: Optional[str] = None, **options: Any) -> ServedModel:
    """Start llama-server (or `serial=True`: llama-cpp-python's serial server) for `model`; see `servers.serve`."""
    return start_serving(model, **options)


def load_test(target: Any = None, *, live: Optional[bool] = None, **options: Any) -> LoadResult:
    """A load test against `target`: a URL, a `ServedModel`, or None (the last server started here, else the
    session's remote backend, with its `api_key_env`). Options: see `load.build_spec`; `api_key_env="VAR"`
    sends `Authorization: Bearer $VAR`, read by the load processes. Kept in the session's `load_tests`."""
    session = current_session()
    url, server_pid, name = _load_target(target, session)
    if server_pid is not None:
        options.setdefault("server_pid", server_pid)
    if target is None and url == _remote_url(session):
        options.setdefault("api_key_env", _remote_key_env(session))
    if session.telemetry is not None and session.telemetry.tracer() is not None:
        options.setdefault("trace_id", new_trace_id())  # each request sends traceparent under this trace
    view = _load_view(name, live)
    result: LoadResult = with_view(run_load, view, {**options, "url": url, "server": name})
    session.load_tests.append(result)
    if session.telemetry is not None:
        record_load_test(session.telemetry, result)
        report_telemetry_problem(session)
    return result


def telemetry(
    otlp: Optional[str] = None,
    *,
    service: Optional[str] = None,
    headers: Optional[str] = None,
    prometheus_port: Optional[int] = None,
    otlp_metrics: bool = False,
    off: bool = False,
) -> Optional[str]:
    """Turn OpenTelemetry export on for the session (`%xybrid telemetry`), or `off=True`; its status line.

    `otlp`: an OTLP/HTTP base URL (traces go to `/v1/traces`; default `$OTEL_EXPORTER_OTLP_ENDPOINT`);
    `headers`: `K=V,...` (default `$OTEL_EXPORTER_OTLP_HEADERS`); `prometheus_port`: serve `/metrics`
    on 127.0.0.1 for Prometheus to scrape; `otlp_metrics`: also push metrics to `/v1/metrics`.
    """
    session = current_session()
    if off:
        return session.set_telemetry(None)
    return session.set_telemetry(settings_from_env(otlp, service, headers, prometheus_port, otlp_metrics))


def _load_target(target: Any, session: Session) -> tuple[str, Optional[int], str]:
    """(URL, the server's pid if this notebook started it, a name for titles)."""
    if target is None:
        started = [s for s in served() if s.alive]
        if started:
            target = started[-1]
        elif session.remote is not None and session.remote.is_loaded():
            target = session.remote.describe_source()
        else:
            raise InvalidInput("load test: give a URL, or start a server first (%xybrid serve / xn.serve())")
    if isinstance(target, ServedModel):
        return (
            target.url,
            target.pid,
            f"{target.kind} ({target.parallel} slots)" if target.kind == "llama-server" else target.kind,
        )
    if isinstance(target, str):
        matching = next((s for s in served() if s.url.rstrip("/") == target.rstrip("/")), None)
        return (target, matching.pid if matching else None, matching.kind if matching else target)
    raise InvalidInput(f"load test: the target must be a URL or a served model, not {type(target).__name__}")


def _remote_url(session: Session) -> Optional[str]:
    remote = session.remote
    return remote.describe_source() if remote is not None and remote.is_loaded() else None


def _remote_key_env(session: Session) -> Optional[str]:
    """The session's remote backend's `api_key_env` (the variable's name, never its value)."""
    source = session.remote.source if session.remote is not None else None
    return getattr(source, "api_key_env", None)


def _load_view(name: str, live: Optional[bool]) -> Any:
    if not _widgets(live):
        return None
    from .widgets.load_view import LoadView

    return LoadView(f"load test of {name}")


def history() -> Any:
    """The current session's runs as a pandas DataFrame (one row per run, the CSV export's columns)."""
    return history_frame(current_session().history)


def local_models() -> Any:
    """The GGUF models on this machine as a pandas DataFrame: the name to load each by, its store (Hugging Face
    cache, LM Studio, Ollama, `$XYBRID_MODEL_DIRS`), its header's facts, size and path."""
    import pandas as pd

    return pd.DataFrame(local_model_rows(), columns=list(LOCAL_COLUMNS))


def model_card(name: str, context_length: int = 4096) -> ModelCard:
    """The card of a model on this machine (as `%xybrid info NAME`): header facts, file, backends that can load it."""
    return make_card(name, context_length)


__all__ = [
    "compare",
    "current_session",
    "generate",
    "history",
    "load_test",
    "local_models",
    "model_card",
    "serve",
    "sweep",
    "telemetry",
    "with_view",
]
