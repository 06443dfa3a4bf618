"""Latency on the text, as a user sees it in JupyterLab in headless Chromium, on the real default model:
spans with the run's gaps, shading by the run's scale, the chart and the text linked both ways,
the slowest list, and the exported HTML shaded without a kernel."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from xybrid_notebook.gap_shading import GapScale

from .conftest import ARTIFACTS, Lab
from .test_run_view_in_lab import open_notebook, run_all, save_notebook, wait_until_idle, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SPANS_JS = """(root) => [...document.querySelectorAll(`${root} .xybrid-chunk`)].map(s => ({
    index: Number(s.dataset.index), gap: s.dataset.gapMs ?? null, ttft: s.dataset.ttftMs ?? null,
    text: s.textContent, background: getComputedStyle(s).backgroundColor, outline: s.style.outline }))"""


IN_VIEW_JS = """(i) => { const s = document.querySelector(`.xybrid-static .xybrid-chunk[data-index="${i}"]`);
    const box = s.closest('pre').getBoundingClientRect(), r = s.getBoundingClientRect();
    return r.top >= box.top - 1 && r.bottom <= box.bottom + 1; }"""


def alpha_of(css_colour: str) -> float:
    """The alpha of a computed `rgb(...)` / `rgba(...)` colour (0 for transparent)."""
    values = css_colour[css_colour.index("(") + 1 : -1].split(",")
    return float(values[3]) if len(values) == 4 else 1.0


def expected_alpha(scale: GapScale, gap_ms: float) -> float:
    css = scale.css_background(gap_ms)
    return 0.0 if css is None else alpha_of(css)


def highlighted(page: Any) -> list[int]:
    return [s["index"] for s in page.evaluate(SPANS_JS, ".xybrid-static") if s["outline"]]


def click_highest_gap_point(page: Any) -> int:
    """Click the chart's highest inter-chunk gap marker where a user would; return its chunk index."""
    point = page.evaluate(
        """() => { const gd = document.querySelector('.xybrid-static .js-plotly-plot');
            const t = gd.data[0]; let k = 0;
            for (let i = 1; i < t.y.length; i++) if (t.y[i] > t.y[k]) k = i;
            const L = gd._fullLayout, box = gd.querySelector('.main-svg').getBoundingClientRect();
            return { chunk: t.x[k], px: box.left + L._size.l + L.xaxis.l2p(t.x[k]),
                     py: box.top + L._size.t + L.yaxis.l2p(t.y[k]) }; }"""
    )
    page.mouse.move(point["px"], point["py"])
    page.mouse.click(point["px"], point["py"])
    return int(point["chunk"])


def test_chunks_carry_their_gaps_shade_by_the_scale_and_link_to_the_chart(page: Any, lab: Lab) -> None:
    write_notebook(
        lab,
        "gaps.ipynb",
        ["%load_ext xybrid_notebook\n%xybrid load", "%%generate -n 400 -t 0 --raw --color-gaps\nOnce upon a time,"],
    )
    open_notebook(page, lab, "gaps.ipynb")
    run_all(page)
    live_spans = 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not page.query_selector(".xybrid-static"):
        live_spans = max(
            live_spans, page.evaluate("() => document.querySelectorAll('.xybrid-live .xybrid-chunk').length")
        )
        time.sleep(0.05)
    assert live_spans > 0, "no chunk spans while the run was live"
    wait_until_idle(page)
    fields = ("inter_chunk_ms", "ttft_ms", "p50_itl_ms", "p95_itl_ms", "chunk_texts")
    run = lab.kernel_eval("gaps.ipynb", f"{{k: getattr(_xybrid_last, k) for k in {fields!r}}}")
    spans = page.evaluate(SPANS_JS, ".xybrid-static")

    # the spans: one per chunk, the first with the TTFT, the others with GenerationOutput.inter_chunk_ms as shown
    assert [s["text"] for s in spans] == run["chunk_texts"] and len(spans) > 40
    assert spans[0]["ttft"] == f"{run['ttft_ms']:.2f}" and spans[0]["gap"] is None
    assert [s["gap"] for s in spans[1:]] == [f"{g:.2f}" for g in run["inter_chunk_ms"]]

    # the shading follows the run's scale: p50 and below neutral, p95 and above strongest, linear between
    scale = GapScale(run["p50_itl_ms"], run["p95_itl_ms"])
    alphas = [alpha_of(s["background"]) for s in spans[1:]]
    assert alphas == pytest.approx([expected_alpha(scale, float(s["gap"])) for s in spans[1:]], abs=0.011)
    assert min(alphas) == 0 and max(alphas) > 0.5 and alpha_of(spans[0]["background"]) == 0
    legend = page.inner_text(".xybrid-static .xybrid-controls")
    assert f"p50 {scale.p50_ms:.1f} ms" in legend and f"p95 {scale.p95_ms:.1f} ms" in legend

    # the toggle: off leaves the text plain, on shades it again
    toggle = page.locator(".xybrid-static .xybrid-color-toggle")
    toggle.uncheck()
    assert all(alpha_of(s["background"]) == 0 for s in page.evaluate(SPANS_JS, ".xybrid-static"))
    toggle.check()
    again = [alpha_of(s["background"]) for s in page.evaluate(SPANS_JS, ".xybrid-static")[1:]]
    assert again == pytest.approx(alphas, abs=0.011)  # the page shades from the gaps as shown (2 decimals)

    # chart -> text: clicking the highest point highlights the chunk after the largest gap, scrolled into view
    page.wait_for_function("() => document.querySelector('.xybrid-static .js-plotly-plot')", timeout=30_000)
    slowest = 1 + max(range(len(run["inter_chunk_ms"])), key=run["inter_chunk_ms"].__getitem__)
    away = 0 if slowest > len(spans) / 2 else 10**6  # scroll the text away from that chunk first
    assert page.evaluate(
        f"() => {{ const p = document.querySelector('.xybrid-static pre'); p.scrollTop = {away};"
        " return p.scrollHeight > p.clientHeight; }"
    )  # the text overflows its box
    assert click_highest_gap_point(page) == slowest
    page.wait_for_function(
        "() => [...document.querySelectorAll('.xybrid-static .xybrid-chunk')].some(s => s.style.outline)"
    )
    assert highlighted(page) == [slowest]
    assert page.evaluate(IN_VIEW_JS, slowest)  # scrolled into the text box (a newline chunk has no width)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(".jp-Cell:has(.xybrid-static)").first.screenshot(path=str(ARTIFACTS / "gap_text.png"))

    # text -> chart: hovering a chunk shows its card and the chart's hover label at its point
    target = page.locator('.xybrid-static .xybrid-chunk[data-index="3"]')
    target.hover()
    card = page.inner_text(".xybrid-static .xybrid-tip")
    assert card.startswith(f"chunk 3 · gap {run['inter_chunk_ms'][2]:.2f} ms · ") and " token" in card and " s" in card
    page.wait_for_function("() => document.querySelector('.xybrid-static .hoverlayer .hovertext')", timeout=5_000)
    assert "chunk 3" in page.text_content(".xybrid-static .hoverlayer .hovertext")

    # the slowest list: one click opens it, its first link leads to the slowest chunk
    page.click(".xybrid-static .xybrid-slowest summary")
    page.locator(".xybrid-static .xybrid-slowest a").first.click()
    assert highlighted(page) == [slowest]
    visible = next(s["index"] for s in spans if s["text"].strip())  # a newline chunk has no box to click
    page.locator(f'.xybrid-static .xybrid-chunk[data-index="{visible}"]').click()  # a click on the text lets go
    assert highlighted(page) == []

    # a reopened page (no run in it yet): the loader's module upgrades the finished run again
    save_notebook(page)
    page.reload()
    page.wait_for_selector(".xybrid-static[data-upgraded] .xybrid-controls", timeout=60_000)
    assert page.locator(".xybrid-static .xybrid-color-toggle").is_checked()


def test_exported_html_shows_the_shaded_text_without_a_kernel(page: Any, lab: Lab) -> None:
    name = "gaps_export.ipynb"
    write_notebook(
        lab, name, ["%load_ext xybrid_notebook\n%xybrid load", "%%generate -n 48 --raw --color-gaps\nThe weather today"]
    )
    open_notebook(page, lab, name)
    run_all(page)
    page.wait_for_selector(".xybrid-static", timeout=90_000)
    wait_until_idle(page)
    save_notebook(page)
    exported = lab.root / "gaps_export.html"
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(lab.root / name)],
        check=True,
        capture_output=True,
    )
    page.goto(exported.as_uri())  # a file, no server, no kernel, no widget module
    spans = page.evaluate(SPANS_JS, ".xybrid-static")
    assert len(spans) > 10 and spans[0]["ttft"] is not None
    assert any(alpha_of(s["background"]) > 0 for s in spans)
    assert page.locator(".xybrid-static .xybrid-legend").is_visible()
    page.click(".xybrid-static .xybrid-slowest summary")
    assert page.locator(".xybrid-static .xybrid-slowest li").count() == min(10, len(spans) - 1)
