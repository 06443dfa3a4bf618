"""The run view as a user sees it, in JupyterLab in headless Chromium."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from typing import Any

import nbformat
import pytest

from xybrid_notebook.format import fmt_ms

from .conftest import ARTIFACTS, Lab, exported_html

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def open_notebook(page: Any, lab: Lab, name: str) -> None:
    """Open one notebook alone (a fresh workspace) and wait until its kernel is connected and idle."""
    page.goto(f"{lab.url}/lab/workspaces/{name.replace('.', '-')}/tree/{name}?reset")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]"
        ".some(e => /\\| Idle$/.test(e.textContent.trim()))",
        timeout=60_000,
    )


def run_all(page: Any) -> None:
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_selector(".jp-InputArea-prompt:has-text('[*]'), .jp-InputArea-prompt:has-text('[1]')", timeout=30_000)


def wait_until_idle(page: Any, timeout_ms: int = 120_000) -> None:
    """Every cell has run (no [*] prompt left)."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-InputArea-prompt')].every(p => !p.textContent.includes('*'))",
        timeout=timeout_ms,
    )


def write_notebook(lab: Lab, name: str, cells: list[str]) -> None:
    source = nbformat.read(lab.root / "01_quickstart.ipynb", as_version=4)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells], metadata=source.metadata)
    nbformat.write(notebook, lab.root / name)


def stat_value(page: Any, label: str, index: int = 0) -> str | None:
    """A figure of the index-th finished run's stats row (its static form)."""
    return page.evaluate(
        """([i, label]) => { const d = document.querySelectorAll('.xybrid-static')[i];
            const s = d && d.querySelector(`.xybrid-stat[data-label="${label}"] .xybrid-value`);
            return s ? s.textContent : null; }""",
        [index, label],
    )


SAMPLE_JS = """() => {
  const live = document.querySelector('.xybrid-live');
  const done = !!document.querySelector('.xybrid-static');
  if (!live) return done ? { done, text: -1, nodes: -1, points: -1, plot: false } : null;
  const pre = live.querySelector('.xybrid-stream');
  const plot = live.querySelector('.js-plotly-plot');
  const trace = plot && plot.data && plot.data[0];
  return { text: pre ? pre.textContent.length : 0, nodes: pre ? pre.childNodes.length : 0, plot: !!plot,
           points: trace && trace.x ? trace.x.length : -1, mode: trace ? trace.mode : null, done };
}"""


def sample_until_done(
    page: Any, script: str, timeout_s: float, on_live: Callable[[dict], None], interval_s: float = 0.05
) -> list[dict]:
    """Evaluate `script` every `interval_s` until a sample says `done` (or the time is up); `on_live(sample)` before."""
    samples: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sample = page.evaluate(script)
        if sample is not None:
            samples.append(sample)
            if sample["done"]:
                break
            on_live(sample)
        time.sleep(interval_s)
    return samples


def save_notebook(page: Any) -> None:
    page.locator(".jp-NotebookPanel .jp-Cell").first.click()
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')", timeout=30_000)


def test_quickstart_streams_text_and_chart_live_then_leaves_the_static_form(page: Any, lab: Lab) -> None:
    open_notebook(page, lab, "01_quickstart.ipynb")
    run_all(page)

    def shoot_once(sample: dict) -> None:
        if sample["points"] > 40 and not (ARTIFACTS / "live.png").exists():
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.locator(".jp-Cell:has(.xybrid-live)").first.screenshot(path=str(ARTIFACTS / "live.png"))

    samples = sample_until_done(page, SAMPLE_JS, 90, shoot_once)  # a sample at least every 100 ms
    assert samples and samples[-1]["done"], "the first generation never finished"
    running = [s for s in samples if not s["done"]]
    lengths = [s["text"] for s in running if s["text"] > 0]
    # At least three states before the end (SmolLM2 writes its 128 tokens in about 1.5 s on a quiet machine,
    # flushed every 0.4 s), each appended to the last.
    assert len(set(lengths)) >= 3 and lengths == sorted(lengths), lengths
    nodes = [s["nodes"] for s in running if s["text"] > 0]
    assert nodes == sorted(nodes) and nodes[-1] > nodes[0], nodes  # text nodes appended, never replaced
    growing = [s["points"] for s in running if s["points"] > 0]
    assert len(set(growing)) >= 2 and growing == sorted(growing), growing  # the live chart draws
    assert {s["mode"] for s in running if s["plot"]} == {"lines"}  # no markers while live

    page.wait_for_function("() => document.querySelectorAll('.xybrid-static').length >= 2", timeout=120_000)
    # The fresh page was still evaluating plotly.js when Run All reached the first run: the run waited for it.
    settle = lab.kernel_eval(
        "01_quickstart.ipynb",
        "(lambda l, r: {'pages': len(l.pages), 'ready': l.ready_at and l.ready_at.timestamp(), 'waits': l.waits,"
        " 'start': r.started_at.timestamp()})(__import__('xybrid_notebook.widgets.plotly_loader', fromlist=['_'])"
        "._LOADER, get_ipython().find_magic('xybrid').__self__.session.history[0])",
    )
    (_, first_outcome), *_ = settle["waits"]
    assert first_outcome in ("pages ready", "bound reached"), settle
    if first_outcome == "pages ready":  # no prefill before the page's acknowledgement
        assert settle["pages"] >= 1 and settle["ready"] <= settle["start"], settle
    first = lab.kernel_eval(
        "01_quickstart.ipynb",
        "{k: getattr(r.output, k) for r in [get_ipython().find_magic('xybrid').__self__"
        ".session.history[0]] for k in ('text', 'ttft_ms', 'p95_itl_ms', 'emitted_chunks')}",
    )
    shown_text = page.evaluate("() => document.querySelector('.xybrid-static .xybrid-stream').textContent")
    assert shown_text == first["text"]
    assert stat_value(page, "TTFT") == fmt_ms(first["ttft_ms"])
    assert stat_value(page, "p95") == fmt_ms(first["p95_itl_ms"])
    page.wait_for_function("() => document.querySelector('.xybrid-static .js-plotly-plot')", timeout=30_000)
    plot = page.evaluate(
        """() => { const p = document.querySelector('.xybrid-static .js-plotly-plot');
            return { points: p.data[0].x.length, mode: p.data[0].mode, hover: p.data[0].text.length,
                     y: p.layout.yaxis.title.text, y2: p.layout.yaxis2.title.text, x: p.layout.xaxis.title.text }; }"""
    )
    assert plot["points"] == first["emitted_chunks"] - 1 == plot["hover"]
    assert plot["mode"] == "lines+markers"  # markers and hover text at the end
    assert "ms" in plot["y"] and "tokens/s" in plot["y2"] and "chunk" in plot["x"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(".jp-Cell:has(.xybrid-static)").first.screenshot(path=str(ARTIFACTS / "dashboard.png"))

    wait_until_idle(page)
    save_notebook(page)
    saved = nbformat.read(lab.root / "01_quickstart.ipynb", as_version=4)
    runs = [c for c in saved.cells if c.cell_type == "code" and c.source.startswith("%%generate")]
    assert len(runs) == 3
    for cell in runs:
        (output,) = [o for o in cell.outputs if o.output_type in ("display_data", "execute_result")]
        assert set(output.data) == {"text/html", "text/plain"}  # no widget left to fail without a kernel
        page_html = output.data["text/html"]
        assert "<svg" in page_html and 'data-label="TTFT"' in page_html and "xybrid-stream" in page_html
        assert len(page_html) < 50_000
    first_html = runs[0].outputs[0].data["text/html"]
    assert (
        "".join(html.unescape(t) for t in re.findall(r'class="xybrid-chunk"[^>]*>(.*?)</span>', first_html, re.S))
        == (first["text"])
    )
    assert "previous run" in runs[1].outputs[0].data["text/html"]
    assert "xybrid-shaded" not in first_html and "xybrid-shaded" in runs[2].outputs[0].data["text/html"]

    exported = exported_html(lab.root / "01_quickstart.ipynb")
    assert exported.count('class="xybrid-svg"') == 3 and exported.count('data-label="TTFT"') == 3
    assert len(exported) < 6_000_000


def test_stop_cancels_within_a_second_and_the_next_cell_runs(page: Any, lab: Lab) -> None:
    write_notebook(
        lab,
        "stop.ipynb",
        [
            "%load_ext xybrid_notebook\n%xybrid load",
            "%%generate -n 2000 -t 0.8 --raw\nOnce upon a time, in a land far away,",
            "print('next cell ran after', _xybrid_last.finish_reason, _xybrid_last.emitted_chunks)",
        ],
    )
    open_notebook(page, lab, "stop.ipynb")
    run_all(page)
    page.wait_for_function(
        "() => { const p = document.querySelector('.xybrid-live .xybrid-stream');"
        " return p && p.textContent.length > 20; }",
        timeout=90_000,
    )
    stop = page.locator(".xybrid-stop")
    assert stop.is_visible()
    clicked = time.monotonic()
    stop.click()
    page.wait_for_function(
        "() => document.querySelector('.xybrid-static .xybrid-stat[data-label=\"finish\"]')", timeout=10_000
    )
    took = time.monotonic() - clicked
    assert stat_value(page, "finish") == "cancelled"
    assert took <= 1.0, f"Stop took {took:.2f} s"
    page.wait_for_selector("text=next cell ran after cancelled", timeout=30_000)
    assert page.locator(".xybrid-stop").count() == 0
    chunks = lab.kernel_eval("stop.ipynb", "_xybrid_last.emitted_chunks")
    assert 0 < chunks < 2000


def test_bad_generate_shows_one_line_error(page: Any, lab: Lab) -> None:
    write_notebook(lab, "errors.ipynb", ["%load_ext xybrid_notebook", "%%generate -n abc\nhello"])
    open_notebook(page, lab, "errors.ipynb")
    run_all(page)
    output = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    output.first.wait_for(timeout=60_000)
    text = output.first.inner_text().strip()
    assert text.startswith("UsageError:") and "invalid int value" in text
    assert "\n" not in text and "Traceback" not in page.content()
