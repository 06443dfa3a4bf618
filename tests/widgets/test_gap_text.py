"""Latency on the text: chunk timings, the per-run scale, the static spans and the ANSI fallback.

Exact arithmetic with the scripted backend and a fake clock; the browser tests prove the
same spans, colours and links in JupyterLab on real models.
"""

from __future__ import annotations

import dataclasses
import html
import io
import re

import pytest

from xybrid_notebook import GenerationConfig, LlmConfig
from xybrid_notebook.backends.scripted import Script, ScriptedBackend
from xybrid_notebook.gap_shading import SHADE_MAX_ALPHA, GapScale, chunk_timings, slowest_chunks
from xybrid_notebook.live import output_plot_data
from xybrid_notebook.metrics import ChunkClock
from xybrid_notebook.types import GenerationOutput
from xybrid_notebook.widgets.static_view import static_html
from xybrid_notebook.widgets.text_view import ANSI_STEPS, TextView, ansi_shaded_text, ansi_step

from ..fake_time import FakeTime

# gaps before chunks 1..7 (ms): p50 = 20, p95 = 79 (numpy's linear interpolation)
DELAYS_MS = [100, 10, 20, 30, 20, 100, 15, 25]
CHUNKS = ["Once", " upon", " a", " <time>", "\n", " there", " was", " &c"]


def scripted_run(tokens: tuple[int, ...] = ()) -> GenerationOutput:
    fake = FakeTime()
    script = Script(chunks=CHUNKS, delays_s=[d / 1000 for d in DELAYS_MS], tokens_per_chunk=tokens, sleep=fake.sleep)
    backend = ScriptedBackend(script)
    backend.load(LlmConfig("scripted.gguf"))
    config = GenerationConfig(max_tokens=len(CHUNKS))
    return backend.generate_raw_streaming("go", config, lambda token: None, clock=ChunkClock(fake.ns))


def spans(page: str) -> list[dict[str, str]]:
    """Each chunk span's attributes and text, in order."""
    found = re.findall(r'<span class="xybrid-chunk" ([^>]*)>(.*?)</span>', page, re.S)
    return [dict(re.findall(r'([\w-]+)="([^"]*)"', attrs), text=html.unescape(text)) for attrs, text in found]


def test_each_chunk_keeps_its_text_gap_tokens_and_offset() -> None:
    output = scripted_run(tokens=(1, 1, 1, 2, 1, 1, 1, 3))
    chunks = chunk_timings(output)
    assert [c.text for c in chunks] == CHUNKS == output.chunk_texts
    assert "".join(output.chunk_texts) == output.text
    assert [round(c.gap_ms, 6) for c in chunks] == DELAYS_MS  # chunk 0 carries the TTFT
    assert chunks[0].gap_ms == pytest.approx(output.ttft_ms)
    assert [c.gap_ms for c in chunks[1:]] == pytest.approx(output.inter_chunk_ms)
    assert [c.tokens for c in chunks] == [1, 1, 1, 2, 1, 1, 1, 3]
    assert [c.offset_ms for c in chunks] == pytest.approx(output.chunk_offsets_ms)


def test_slowest_chunks_leave_out_the_ttft_and_break_ties_by_index() -> None:
    slowest = slowest_chunks(scripted_run(), 3)
    assert [(c.index, round(c.gap_ms)) for c in slowest] == [(5, 100), (3, 30), (7, 25)]


def test_the_scale_is_the_runs_p50_neutral_to_p95_strongest() -> None:
    output = scripted_run()
    scale = GapScale.of(output)
    assert scale == GapScale(output.p50_itl_ms, output.p95_itl_ms)
    assert (scale.p50_ms, scale.p95_ms) == pytest.approx((20.0, 79.0))
    assert scale.level(10) == scale.level(20) == 0.0
    assert scale.level(49.5) == pytest.approx(0.5) and scale.level(79) == scale.level(500) == 1.0
    assert scale.css_background(20) is None
    assert scale.css_background(100) == f"rgba(230,85,13,{SHADE_MAX_ALPHA})"
    flat = GapScale(5.0, 5.0)
    assert (flat.level(5.0), flat.level(5.1)) == (0.0, 1.0)
    assert GapScale.of(dataclasses.replace(output, p50_itl_ms=None)) is None


def test_static_text_is_a_span_per_chunk_with_its_gap_and_shade() -> None:
    output = scripted_run()
    page = static_html(output, output_plot_data(output), color_gaps=True, run_id="r" * 32)
    found = spans(page)
    assert [s["text"] for s in found] == CHUNKS
    assert [s["data-index"] for s in found] == [str(i) for i in range(len(CHUNKS))]
    assert found[0]["data-ttft-ms"] == f"{output.ttft_ms:.2f}" and "data-gap-ms" not in found[0]
    assert [s["data-gap-ms"] for s in found[1:]] == [f"{g:.2f}" for g in output.inter_chunk_ms]
    scale = GapScale.of(output)
    for s in found[1:]:
        expected = scale.css_background(float(s["data-gap-ms"]))
        assert s.get("style") == (f"background:{expected}" if expected else None)
    assert "underline" in found[0]["style"]  # the first chunk is marked, not shaded
    assert 'class="xybrid-stream xybrid-shaded"' in page and 'class="xybrid-legend"' in page
    assert "p50 20.0 ms" in page and "p95 79.0 ms" in page


def test_unshaded_static_text_still_has_the_spans_and_the_slowest_list() -> None:
    output = scripted_run()
    page = static_html(output, None, run_id="abc")
    found = spans(page)
    assert len(found) == len(CHUNKS) and not any("style" in s for s in found)
    assert "xybrid-shaded" not in page and "xybrid-legend" not in page
    assert '<details class="xybrid-slowest"' in page and "slowest 7 chunks" in page
    links = re.findall(r'<a href="#([^"]+)" data-index="(\d+)">([\d.]+) ms</a>', page)
    assert [(int(i), float(ms)) for _, i, ms in links][:2] == [(5, 100.0), (3, 30.0)]
    ids = {s["data-index"]: s.get("id") for s in found}
    assert all(ids[i] == anchor for anchor, i, _ in links)  # every link lands on its chunk


def test_a_run_without_chunk_texts_falls_back_to_plain_text() -> None:
    output = scripted_run()
    output.chunk_texts = []
    page = static_html(output, None, color_gaps=True)
    assert "xybrid-chunk" not in page and html.escape(output.text) in page


def test_ansi_fallback_shades_by_the_same_scale_with_a_legend() -> None:
    output = scripted_run()
    scale = GapScale.of(output)
    assert ansi_step(0.0) is None and ansi_step(0.01) == ANSI_STEPS[0] and ansi_step(1.0) == ANSI_STEPS[-1]
    shaded = ansi_shaded_text(output)
    assert shaded is not None
    body, legend = shaded.rsplit("\n", 1)
    assert re.sub(r"\x1b\[[\d;]*m", "", body) == output.text
    assert "\x1b[4mOnce\x1b[0m" in body  # the first chunk underlined
    assert f"\x1b[30;48;5;{ANSI_STEPS[-1]}m there\x1b[0m" in body  # 100 ms, above p95
    assert " a" in body and "\x1b[30;48;5;" not in body.split(" a")[0].split("upon")[-1]  # 20 ms = p50: plain
    assert f"p50 {scale.p50_ms:.1f} ms" in legend and f"p95 {scale.p95_ms:.1f} ms" in legend
    assert "\x1b[30;48;5;" not in "".join(line[-1:] for line in body.split("\n"))  # no colour runs over a newline


def test_text_view_prints_the_shaded_text_only_when_asked() -> None:
    output = scripted_run()
    plain, shaded = io.StringIO(), io.StringIO()
    for stream, color in ((plain, False), (shaded, True)):
        view = TextView(stream, color_gaps=color)
        view.finish(output, output_plot_data(output))
    ending = f"{output.summary()}\nwhere the time went: {output.where_time_went}\n"
    assert "\x1b[" not in plain.getvalue() and plain.getvalue().endswith(ending)
    assert "gap shading:" in shaded.getvalue() and shaded.getvalue().endswith(ending)


def test_a_timestamp_without_its_text_is_left_out_not_the_whole_run() -> None:
    output = scripted_run()
    output.chunk_offsets_ms.append(output.chunk_offsets_ms[-1] + 5.0)  # interrupted between stamp and text
    chunks = chunk_timings(output)
    assert [c.text for c in chunks] == CHUNKS and len(spans(static_html(output, None))) == len(CHUNKS)


def test_one_chunk_with_color_gaps_is_marked_shaded_and_underlined_without_a_scale() -> None:
    output = scripted_run()
    output = dataclasses.replace(
        output,
        chunk_texts=output.chunk_texts[:1],
        chunk_offsets_ms=output.chunk_offsets_ms[:1],
        chunk_tokens=output.chunk_tokens[:1],
        p50_itl_ms=None,
        p95_itl_ms=None,
    )
    page = static_html(output, None, color_gaps=True)
    (only,) = spans(page)
    assert "underline" in only["style"] and "xybrid-shaded" in page
    assert "data-p50-ms" not in page and "xybrid-legend" not in page and "xybrid-slowest" not in page


def test_nothing_in_the_page_data_can_close_or_open_markup() -> None:
    output = scripted_run()
    output.chunk_texts[3] = "</script><!--<script>"
    plot = output_plot_data(output)
    page = static_html(output, plot, run_id='x" onmouseover="alert(1)')
    data = re.search(r'<script type="application/json" class="xybrid-data">(.*?)</script>', page, re.S)
    assert data is not None and "<" not in data.group(1) and ">" not in data.group(1)
    assert "hover" not in data.group(1)  # each point's text comes from its chunk's span in the page
    assert "onmouseover" not in page and re.search(r'data-run="[0-9a-f]{32}"', page)
