"""Dashboard logic with the scripted backend and a fake clock: coalescing, thinning, stats, overlay."""

from __future__ import annotations

import io

import numpy as np
import pytest

from xybrid_notebook import GenerationConfig, LlmConfig
from xybrid_notebook.backends.scripted import Script, ScriptedBackend
from xybrid_notebook.live import LiveRun, Throttle, output_plot_data, running_decode_tps, thin_points
from xybrid_notebook.metrics import ChunkClock
from xybrid_notebook.widgets.dashboard import Dashboard
from xybrid_notebook.widgets.stats import fmt_ms
from xybrid_notebook.widgets.text_view import TextView


class FakeTime:
    """A monotonic clock that the scripted backend's sleep advances."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def run_with(view, n_chunks: int, gap_s: float, fake: FakeTime, plot: bool = True, spike_at: int | None = None):
    delays = [gap_s] * n_chunks
    if spike_at is not None:
        delays[spike_at] = 0.5
    backend = ScriptedBackend(Script(chunks=[f"w{i} " for i in range(n_chunks)], delays_s=delays, sleep=fake.sleep))
    backend.load(LlmConfig("scripted.gguf"))
    clock = ChunkClock(lambda: int(fake.t * 1e9))
    live = LiveRun(view, clock, now=fake.now, plot=plot)
    view.start("scripted")
    output = backend.generate_raw_streaming("go", GenerationConfig(max_tokens=n_chunks), live.on_token, clock=clock)
    live.finish(output)
    return output


def test_throttle_answers_once_per_interval() -> None:
    fake = FakeTime()
    due = Throttle(0.1, fake.now).due
    answers = []
    for _ in range(100):
        answers.append(due())
        fake.t += 0.01
    assert sum(answers) == 10 and answers[0]


def test_text_and_plot_updates_are_coalesced_whatever_the_token_rate() -> None:
    fake = FakeTime()
    dashboard = Dashboard()
    text_updates, stats_updates = [], []
    dashboard.stream.widget.observe(lambda change: text_updates.append(1), "value")
    dashboard.stats.observe(lambda change: stats_updates.append(1), "value")
    output = run_with(dashboard, 5000, 0.001, fake)  # 1000 chunks/s for 5 s
    assert output.emitted_chunks == 5000
    assert 40 <= len(text_updates) <= 52  # ~10 per second, plus the final one
    assert 15 <= dashboard.panel.updates <= 22  # ~4 per second, plus the final one
    assert dashboard.stream.text == output.text  # the final text is shown in full


def test_plot_is_capped_and_keeps_the_spikes() -> None:
    fake = FakeTime()
    dashboard = Dashboard()
    output = run_with(dashboard, 10_000, 0.001, fake, spike_at=100)
    gap_trace = dashboard.panel.figure.data[0]
    assert len(gap_trace.x) <= 2000 and len(gap_trace.y) == len(gap_trace.x)
    assert max(gap_trace.y) == pytest.approx(max(output.inter_chunk_ms))
    assert gap_trace.x[-1] == output.emitted_chunks - 1  # the newest point is always there


def test_short_runs_plot_every_gap_with_axis_titles() -> None:
    fake = FakeTime()
    dashboard = Dashboard()
    output = run_with(dashboard, 50, 0.02, fake)
    gap_trace = dashboard.panel.figure.data[0]
    assert len(gap_trace.y) == output.emitted_chunks - 1
    assert np.allclose(gap_trace.y, output.inter_chunk_ms)
    layout = dashboard.panel.figure.layout
    assert "ms" in layout.yaxis.title.text and "tokens/s" in layout.yaxis2.title.text
    assert layout.title.text == f"TTFT {output.ttft_ms:.1f} ms"


def test_final_stats_show_the_output_figures() -> None:
    fake = FakeTime()
    dashboard = Dashboard()
    output = run_with(dashboard, 30, 0.02, fake)
    stats = dashboard.stats.value
    assert fmt_ms(output.ttft_ms) in stats and fmt_ms(output.p95_itl_ms) in stats
    assert "finish" in stats and output.finish_reason in stats
    assert dashboard.summary.startswith("xybrid: TTFT") and not dashboard.stop.running


def test_stop_button_shows_only_while_running() -> None:
    fake = FakeTime()
    dashboard = Dashboard()
    states = []
    dashboard.stop.observe(lambda change: states.append(change["new"]), "running")
    run_with(dashboard, 5, 0.01, fake)
    assert states == [True, False]


def test_compare_last_overlays_the_previous_run() -> None:
    fake = FakeTime()
    first = Dashboard()
    previous = run_with(first, 40, 0.01, fake)
    second = Dashboard(previous=output_plot_data(previous))
    run_with(second, 40, 0.02, fake)
    trace = second.panel.figure.data[2]
    assert trace.visible and np.allclose(trace.y, previous.inter_chunk_ms)
    assert not first.panel.figure.data[2].visible


def test_no_plot_builds_no_panel() -> None:
    dashboard = Dashboard(plot=False)
    run_with(dashboard, 20, 0.01, FakeTime(), plot=False)
    assert dashboard.panel is None and dashboard.stream.text


def test_text_view_streams_then_prints_one_summary_line() -> None:
    stream = io.StringIO()
    output = run_with(TextView(stream), 200, 0.01, FakeTime())
    printed = stream.getvalue()
    assert printed.startswith(output.text)
    summary = printed[len(output.text):].strip()
    assert "\n" not in summary and summary.startswith("TTFT") and "finish stop" in summary


def test_thinning_keeps_recent_points_and_bucket_maxima() -> None:
    values = np.ones(10_000)
    values[123] = 50.0
    keep = thin_points(values.size, 2000, values)
    assert len(keep) <= 2000 and 123 in keep
    assert np.array_equal(keep[-1000:], np.arange(9000, 10_000))
    assert np.array_equal(thin_points(10, 2000), np.arange(10))


def test_running_decode_rate() -> None:
    rates = running_decode_tps(np.array([100.0, 110.0, 130.0]), np.array([1.0, 1.0, 2.0]))
    assert rates == pytest.approx([100.0, 100.0])
