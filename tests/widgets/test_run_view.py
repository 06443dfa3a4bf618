"""The run view with the scripted backend and a fake clock: one delta per flush, binary points,
the static form at the end, the overlay, and the text fallback."""

from __future__ import annotations

import html
import io
import re
from typing import Any

import numpy as np
import pytest

from xybrid_notebook import GenerationConfig, LlmConfig
from xybrid_notebook.backends.scripted import Script, ScriptedBackend
from xybrid_notebook.format import fmt_ms
from xybrid_notebook.live import LiveRun, Throttle, output_plot_data, thin_points
from xybrid_notebook.metrics import ChunkClock, running_decode_tps
from xybrid_notebook.widgets import plotly_loader
from xybrid_notebook.widgets.run_view import WidgetView, shared_layout
from xybrid_notebook.widgets.static_view import static_html, summary_text
from xybrid_notebook.widgets.text_view import TextView

from ..fake_time import FakeTime


class RecordingView(WidgetView):
    """The real view, keeping every custom message it sends (the widget has no frontend here)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent: list[tuple[dict, list[bytes]]] = []
        real_send = self.widget.send

        def send(content: dict, buffers: list | None = None) -> None:
            self.sent.append((content, list(buffers or [])))
            real_send(content, buffers=buffers)

        self.widget.send = send  # type: ignore[method-assign]


def run_with(view, n_chunks: int, gap_s: float, fake: FakeTime, plot: bool = True, spike_at: int | None = None):
    delays = [gap_s] * n_chunks
    if spike_at is not None:
        delays[spike_at] = 0.5
    backend = ScriptedBackend(Script(chunks=[f"w{i} " for i in range(n_chunks)], delays_s=delays, sleep=fake.sleep))
    backend.load(LlmConfig("scripted.gguf"))
    clock = ChunkClock(fake.ns)
    live = LiveRun(view, clock, now=fake.now, plot=plot)
    view.start("scripted")
    output = backend.generate_raw_streaming("go", GenerationConfig(max_tokens=n_chunks), live.on_token, clock=clock)
    live.finish(output)
    return output


def points_of(view: RecordingView) -> np.ndarray:
    """Every point the view sent, as rows (chunk index, gap, rate)."""
    rows = [np.frombuffer(buffers[1], dtype="<f4").reshape(-1, 3) for _, buffers in view.sent if len(buffers) > 1]
    return np.concatenate(rows) if rows else np.zeros((0, 3), np.float32)


def chunk_rows_of(view: RecordingView) -> np.ndarray:
    """Every chunk's timing row the view sent: (gap or TTFT, offset, tokens)."""
    rows = [np.frombuffer(buffers[0], dtype="<f8").reshape(-1, 3) for _, buffers in view.sent]
    return np.concatenate(rows)


def shown_text(page: str) -> str:
    """The text of the static form's `pre`, tags stripped, as a reader sees it."""
    body = re.search(r'<pre class="xybrid-stream[^>]*>(.*?)</pre>', page, re.S)
    assert body is not None
    return html.unescape(re.sub(r"<[^>]+>", "", body.group(1)))


def test_throttle_answers_once_per_interval() -> None:
    fake = FakeTime()
    due = Throttle(0.1, fake.now).due
    answers = []
    for _ in range(100):
        answers.append(due())
        fake.t += 0.01
    assert sum(answers) == 10 and answers[0]


def test_one_message_per_flush_two_and_a_half_a_second_whatever_the_token_rate() -> None:
    fake = FakeTime()
    view = RecordingView()
    output = run_with(view, 5000, 0.001, fake)  # 1000 chunks/s for 5 s
    assert output.emitted_chunks == 5000
    assert 12 <= len(view.sent) <= 14  # every 0.4 s (the first at the first chunk)
    stats = [content for content, _ in view.sent if "stats" in content]
    assert len(stats) == len(view.sent)  # the live stats row moves with every flush


def test_only_deltas_cross_the_wire_and_they_add_up_to_the_run() -> None:
    fake = FakeTime()
    view = RecordingView()
    output = run_with(view, 400, 0.01, fake)
    texts = ["".join(content["pieces"]) for content, _ in view.sent]
    starts = [content["start"] for content, _ in view.sent]
    assert starts == list(np.cumsum([0] + [len(t) for t in texts[:-1]]))  # each message continues the last
    firsts = [content["first"] for content, _ in view.sent]
    assert firsts == list(np.cumsum([0] + [len(content["pieces"]) for content, _ in view.sent[:-1]]))
    streamed = "".join(texts)
    # at 100 chunks/s, at most 40 chunks arrive after the last flush; the static form brings them
    assert output.text.startswith(streamed) and len(streamed) >= len(output.text) - 40 * len("w399 ")
    assert max(len(t) for t in texts) < len(output.text) / 4  # no message carries the text so far
    points = points_of(view)
    assert np.array_equal(points[:, 0], np.arange(1, points.shape[0] + 1))  # each gap sent once, in order
    assert np.allclose(points[:, 1], output.inter_chunk_ms[: points.shape[0]], atol=1e-3)
    final_rates = running_decode_tps(np.array(output.chunk_offsets_ms), np.array(output.chunk_tokens, float))
    assert np.allclose(points[:, 2], final_rates[: points.shape[0]], rtol=1e-5)  # the live rate line is the final one


def test_each_chunk_crosses_the_wire_once_with_its_gap_offset_and_tokens() -> None:
    fake = FakeTime()
    view = RecordingView()
    output = run_with(view, 300, 0.01, fake)
    rows = chunk_rows_of(view)
    pieces = [piece for content, _ in view.sent for piece in content["pieces"]]
    n = rows.shape[0]
    assert n == len(pieces) >= 260 and pieces == output.chunk_texts[:n]
    assert rows[0, 0] == pytest.approx(output.ttft_ms)  # the first chunk carries the TTFT
    assert np.allclose(rows[1:, 0], output.inter_chunk_ms[: n - 1])  # the others the gap before them
    assert np.allclose(rows[:, 1], output.chunk_offsets_ms[:n]) and np.array_equal(rows[:, 2], output.chunk_tokens[:n])


def test_a_burst_is_thinned_per_flush_and_keeps_its_spike() -> None:
    fake = FakeTime()
    view = RecordingView()
    output = run_with(view, 10_000, 0.0001, fake, spike_at=3000)  # 10,000 chunks/s
    points = points_of(view)
    per_message = [len(buffers[1]) // 12 for _, buffers in view.sent if len(buffers) > 1]
    assert max(per_message) <= 500
    assert points[:, 1].max() == pytest.approx(max(output.inter_chunk_ms), rel=1e-6)


def test_final_output_is_the_static_form_with_text_chart_and_stats() -> None:
    fake = FakeTime()
    view = RecordingView()
    output = run_with(view, 30, 0.02, fake)
    page = view.final_html
    assert page is not None and shown_text(page) == output.text
    assert "<svg" in page and "<polyline" in page and "chunk index" in page and "inter-chunk latency (ms)" in page
    assert f"TTFT {output.ttft_ms:.1f} ms" in page
    assert fmt_ms(output.p95_itl_ms) in page and 'data-label="finish"' in page
    first_line, where = view.summary.split("\n")
    assert first_line == "xybrid: " + output.summary() and "TTFT" in first_line and "| stop |" in first_line
    assert where == f"where the time went: {output.where_time_went}" and "decode" in where
    assert 'class="xybrid-phases"' in page and output.where_time_went in page
    assert view.widget.comm is None  # closed: nothing to keep
    assert view.widget.layout is shared_layout() and RecordingView().widget.layout is view.widget.layout  # one comm


def test_static_form_escapes_the_text() -> None:
    output = run_with(RecordingView(), 3, 0.02, FakeTime())
    output.chunk_texts = ["<script>alert(1)", "</script> & ", "</pre>"]
    output.text = "".join(output.chunk_texts)
    page = static_html(output, output_plot_data(output), color_gaps=True)
    assert "<script>alert(1)" not in page and "</script> &" not in page and "</pre></span>" not in page
    assert shown_text(page) == output.text and "&lt;/script&gt; &amp; " in page


def test_interference_note_is_an_extra_stats_line_when_present() -> None:
    fake = FakeTime()
    output = run_with(RecordingView(), 10, 0.02, fake)
    assert "xybrid-note" not in static_html(output, None)
    output.other_cpu_cores_mean = 0.9
    assert 'class="xybrid-note"' in static_html(output, None)
    assert "other processes used 0.9 cores: gaps may be inflated" in static_html(output, None)
    assert summary_text(output).split("\n")[0].endswith(" | other processes used 0.9 cores: gaps may be inflated")


def test_stop_shows_while_running_and_goes_with_the_view() -> None:
    fake = FakeTime()
    view = RecordingView()
    assert view.widget.running  # in the widget's first state: no message of its own
    states = []
    view.widget.observe(lambda change: states.append(change["new"]), "running")
    run_with(view, 5, 0.01, fake)
    assert states == [] and view.widget.comm is None  # the static form replaced the view; the widget is closed


def test_compare_last_overlays_the_previous_run() -> None:
    fake = FakeTime()
    first = RecordingView()
    previous = run_with(first, 40, 0.01, fake)
    second = RecordingView(previous=output_plot_data(previous))
    run_with(second, 40, 0.02, fake)
    pairs = np.frombuffer(second.widget.compare, dtype="<f4").reshape(-1, 2)
    assert np.allclose(pairs[:, 1], previous.inter_chunk_ms, atol=1e-3)
    assert first.widget.compare == b"" and "previous run" not in (first.final_html or "")
    assert "previous run" in (second.final_html or "")


def test_no_plot_sends_no_points_and_draws_no_chart() -> None:
    view = RecordingView(plot=False)
    output = run_with(view, 20, 0.01, FakeTime(), plot=False)
    assert view.sent and all(len(buffers) == 1 for _, buffers in view.sent)  # chunk timings only, no points
    assert shown_text(view.final_html or "") == output.text and "<svg" not in (view.final_html or "")


def test_plotly_js_is_sent_once_per_kernel_never_in_widget_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plotly_loader, "_LOADER", None)
    views = [RecordingView(), RecordingView()]
    loader = plotly_loader.ensure_plotly_loader()
    assert loader.sends == 1 and plotly_loader.ensure_plotly_loader() is loader
    assert len(plotly_loader.plotly_source()) > 1_000_000
    for view in views:
        state = view.widget.get_state()
        assert sum(len(v) for v in state.values() if isinstance(v, (str, bytes))) < 30_000


def test_text_view_streams_then_prints_the_summary_and_where_the_time_went() -> None:
    stream = io.StringIO()
    output = run_with(TextView(stream), 200, 0.01, FakeTime())
    printed = stream.getvalue()
    assert printed.startswith(output.text)
    summary, where = printed[len(output.text) :].strip().split("\n")
    assert summary == output.summary() and "TTFT" in summary
    assert where == f"where the time went: {output.where_time_went}"


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


def test_static_svg_stays_small_for_long_runs() -> None:
    fake = FakeTime()
    view = RecordingView()
    run_with(view, 20_000, 0.001, fake)
    svg = re.search(r"<svg.*</svg>", view.final_html or "").group(0)
    assert len(svg) < 40_000


def test_a_run_that_never_started_leaves_one_line_and_no_widget() -> None:
    view = RecordingView()
    clock = ChunkClock()
    live = LiveRun(view, clock)
    view.start("scripted")
    live.abandon("cancelled before the generation started")
    assert view.widget.comm is None and view.summary == "xybrid: cancelled before the generation started"
    assert view.final_html is None


def test_live_figures_at_the_end_equal_the_final_ones() -> None:
    """One definition of each figure: the live stats row and the finished run agree."""
    fake = FakeTime()
    backend = ScriptedBackend(
        Script(
            chunks=[f"w{i} " for i in range(40)],
            delays_s=[0.01 * (1 + i % 3) for i in range(40)],
            tokens_per_chunk=[1 + i % 2 for i in range(40)],
            sleep=fake.sleep,
        )
    )
    backend.load(LlmConfig("scripted.gguf"))
    clock = ChunkClock(fake.ns)
    live = LiveRun(RecordingView(), clock, now=fake.now)
    output = backend.generate_raw_streaming("go", GenerationConfig(max_tokens=40), live.on_token, clock=clock)
    figures = live.figures()
    assert figures.tokens == output.tokens_generated
    for name in ("ttft_ms", "mean_itl_ms", "p50_itl_ms", "p95_itl_ms", "decode_tps"):
        assert getattr(figures, name) == pytest.approx(getattr(output, name)), name
