"""The experiments' live view and their SVG chart, driven by a scripted sweep on a fake clock (no browser)."""

from __future__ import annotations

import io
import re

import pytest

from xybrid_notebook.api import with_view
from xybrid_notebook.errors import InvalidInput
from xybrid_notebook.experiments import sweep
from xybrid_notebook.experiments.render import svg_chart, sweep_series
from xybrid_notebook.widgets.experiment_view import ExperimentView, TextProgress


def test_svg_chart_draws_a_point_per_mean_and_a_bar_per_ci() -> None:
    svg = svg_chart(
        {"a": [(1, 10.0, 2.0), (2, 12.0, None)], "b": [(1, 8.0, 1.0)]}, "t", "x", "y", vline=(4, "context 4")
    )
    assert svg.count("<circle") == 3
    assert svg.count('stroke="#1f77b4"/>') + svg.count('stroke="#d62728"/>') == 2  # the two error bars
    assert "context 4" in svg and svg.startswith("<svg") and svg.endswith("</svg>")


def test_series_use_the_swept_parameter_as_x_and_split_by_the_others(scripted_on_fake_time) -> None:
    backend, fake = scripted_on_fake_time([1.0, 1.2])
    result = sweep(backend=backend, n_prompt=[2, 3], n_gen=[2, 4], repetitions=2, warmup=0, clock_factory=fake.clock)
    x_label, series = sweep_series(result.rows(), result.swept, "tg_tps")
    assert x_label == "n_prompt" and sorted(series) == ["n_gen=2", "n_gen=4"]
    frame = result.to_pandas()
    means = frame[frame["n_gen"] == 4]["tg_tps_mean"].tolist()
    assert [p[1] for p in series["n_gen=4"]] == means and [p[0] for p in series["n_gen=4"]] == [2.0, 3.0]


def test_live_view_fills_in_as_configurations_finish(scripted_on_fake_time) -> None:
    backend, fake = scripted_on_fake_time([1.0, 1.1])
    view = ExperimentView("sweep")
    tables = []

    def watch(progress) -> None:
        view.on_progress(progress)
        if progress.finished is not None:
            tables.append(view.table.value.count("<tr>"))

    result = sweep(
        backend=backend, n_prompt=[2, 3], n_gen=4, repetitions=2, warmup=0, clock_factory=fake.clock, on_progress=watch
    )
    view.finish(result)
    assert tables == [1, 2]  # one body row per finished configuration
    assert view.bar.value == view.bar.max == 4 and view.bar.bar_style == "success"
    assert view.charts.value.count("<svg") == 2 and not view.stop.running


def test_a_stopped_sweep_is_shown_as_stopped(scripted_on_fake_time) -> None:
    backend, fake = scripted_on_fake_time([1.0])
    view = ExperimentView("sweep")
    result = sweep(
        backend=backend,
        n_prompt=[2, 3],
        n_gen=4,
        repetitions=2,
        warmup=0,
        clock_factory=fake.clock,
        on_progress=view.on_progress,
        should_stop=lambda: len(backend.prompts) >= 2,
    )
    view.finish(result)
    assert view.bar.bar_style == "warning" and "stopped" in view.label.value
    assert view.table.value.count("<tr>") == 1 and "None" not in view.table.value


def test_text_progress_is_one_line_with_eta(scripted_on_fake_time) -> None:
    backend, fake = scripted_on_fake_time([1.0])
    stream = io.StringIO()
    progress = TextProgress("sweep", stream, interval_s=0.0)
    result = sweep(
        backend=backend,
        n_prompt=[2, 3],
        n_gen=4,
        repetitions=1,
        warmup=0,
        clock_factory=fake.clock,
        on_progress=progress.on_progress,
    )
    progress.finish(result)
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith(" — done\n")
    assert re.search(r"2/2 runs .* ETA 0 s", text)


def test_public_sweep_and_compare_show_the_live_view_when_asked(scripted_on_fake_time, monkeypatch) -> None:
    import xybrid_notebook
    from xybrid_notebook.widgets import experiment_view

    shown = []
    monkeypatch.setattr(experiment_view, "ExperimentView", lambda title: shown.append(title) or _Recorder())
    backend, fake = scripted_on_fake_time([1.0])
    result = xybrid_notebook.sweep(
        backend=backend, n_prompt=[2, 3], n_gen=4, repetitions=2, warmup=1, clock_factory=fake.clock, live=True
    )
    assert len(result) == 2 and shown == ["sweep"] and _Recorder.calls["finish"] == 1
    assert _Recorder.calls["progress"] > 0
    xybrid_notebook.compare(
        {"n_gen": 2},
        {"n_gen": 4},
        backend=backend,
        n_prompt=2,
        repetitions=2,
        warmup=0,
        clock_factory=fake.clock,
        live=True,
    )
    assert shown[-1] == "compare"
    before = dict(_Recorder.calls)
    xybrid_notebook.sweep(backend=backend, n_prompt=2, n_gen=4, repetitions=1, clock_factory=fake.clock)
    assert _Recorder.calls == before  # plain Python: no view


class _Recorder:
    calls = {"progress": 0, "finish": 0, "abandon": 0}

    def on_progress(self, progress) -> None:
        _Recorder.calls["progress"] += 1

    def finish(self, result) -> None:
        _Recorder.calls["finish"] += 1

    def abandon(self, reason) -> None:
        _Recorder.calls["abandon"] += 1


def test_a_sweep_that_fails_leaves_its_view_failed_not_running(scripted_on_fake_time) -> None:
    backend, fake = scripted_on_fake_time([1.0])
    view = ExperimentView("sweep")
    with pytest.raises(InvalidInput):
        with_view(sweep, view, {"backend": backend, "n_prompt": 2, "repetitions": 0, "clock_factory": fake.clock})
    assert view.bar.bar_style == "danger" and "failed" in view.label.value and "InvalidInput" in view.label.value
    assert not view.stop.running


def test_text_progress_says_failed_only_after_a_line_was_started(scripted_on_fake_time) -> None:
    backend, fake = scripted_on_fake_time([1.0])
    quiet, started = io.StringIO(), io.StringIO()
    with pytest.raises(InvalidInput):
        with_view(sweep, TextProgress("sweep", quiet), {"backend": backend, "n_prompt": 2, "repetitions": 0})
    progress = TextProgress("sweep", started, interval_s=0.0)
    sweep(
        backend=backend, n_prompt=2, n_gen=4, repetitions=1, clock_factory=fake.clock, on_progress=progress.on_progress
    )
    progress.abandon("KeyboardInterrupt")
    assert quiet.getvalue() == "" and started.getvalue().endswith(" — failed\n")
