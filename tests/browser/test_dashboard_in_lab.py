"""The dashboard as a user sees it, in JupyterLab in headless Chromium."""

from __future__ import annotations

import time
from typing import Any

import nbformat
import pytest

from xybrid_notebook.widgets.stats import fmt_ms

from .conftest import ARTIFACTS, Lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIRST_DASHBOARD = ".xybrid-dashboard >> nth=0"


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
    page.wait_for_selector(".jp-InputArea-prompt:has-text('[*]'), .jp-InputArea-prompt:has-text('[1]')",
                           timeout=30_000)


def write_notebook(lab: Lab, name: str, cells: list[str]) -> None:
    source = nbformat.read(lab.root / "01_quickstart.ipynb", as_version=4)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells], metadata=source.metadata)
    nbformat.write(notebook, lab.root / name)


def finish_value(page: Any, index: int = 0) -> str | None:
    return page.evaluate(
        """(i) => { const d = document.querySelectorAll('.xybrid-dashboard')[i];
            const s = d && d.querySelector('.xybrid-stat[data-label="finish"] .xybrid-value');
            return s ? s.textContent : null; }""",
        index,
    )


def stat_value(page: Any, label: str, index: int = 0) -> str:
    return page.evaluate(
        """([i, label]) => document.querySelectorAll('.xybrid-dashboard')[i]
            .querySelector(`.xybrid-stat[data-label="${label}"] .xybrid-value`).textContent""",
        [index, label],
    )


SAMPLE_JS = """() => {
  const d = document.querySelector('.xybrid-dashboard');
  if (!d) return null;
  const pre = d.querySelector('.xybrid-stream');
  const plot = d.querySelector('.js-plotly-plot');
  const points = plot && plot.data && plot.data[0] && plot.data[0].x ? plot.data[0].x.length : -1;
  const fin = d.querySelector('.xybrid-stat[data-label="finish"]');
  return { text: pre ? pre.textContent.length : 0, plot: !!plot, points, done: !!fin };
}"""


def test_quickstart_streams_text_and_plot_live_with_right_stats(page: Any, lab: Lab) -> None:
    open_notebook(page, lab, "01_quickstart.ipynb")
    run_all(page)
    samples: list[dict] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        sample = page.evaluate(SAMPLE_JS)
        if sample is not None:
            samples.append(sample)
            if sample["done"]:
                break
        time.sleep(0.05)  # sample at least every 100 ms (an evaluate takes a few ms)
    assert samples and samples[-1]["done"], "the first generation never finished"
    running = [s for s in samples if not s["done"]]
    lengths = [s["text"] for s in running if s["text"] > 0]
    assert len(set(lengths)) >= 5 and lengths == sorted(lengths), lengths
    assert any(s["plot"] for s in running), "no plotly plot in the DOM during the run"
    growing = [s["points"] for s in running if s["points"] > 0]
    assert len(set(growing)) >= 2 and growing == sorted(growing), growing

    page.wait_for_function("() => document.querySelectorAll('.xybrid-dashboard').length >= 2", timeout=60_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.xybrid-stat[data-label=\"finish\"]')].length >= 2", timeout=90_000
    )
    first = lab.kernel_eval("{k: getattr(r.output, k) for r in [get_ipython().find_magic('xybrid').__self__"
                            ".session.history[0]] for k in ('text', 'ttft_ms', 'p95_itl_ms', 'emitted_chunks')}")
    shown_text = page.evaluate("() => document.querySelector('.xybrid-dashboard .xybrid-stream').textContent")
    assert shown_text == first["text"]
    assert stat_value(page, "TTFT") == fmt_ms(first["ttft_ms"])
    assert stat_value(page, "p95") == fmt_ms(first["p95_itl_ms"])
    plot = page.evaluate(
        """() => { const p = document.querySelector('.xybrid-dashboard .js-plotly-plot');
            return { points: p.data[0].x.length, y: p.layout.yaxis.title.text, y2: p.layout.yaxis2.title.text,
                     x: p.layout.xaxis.title.text }; }"""
    )
    assert plot["points"] == first["emitted_chunks"] - 1
    assert "ms" in plot["y"] and "tokens/s" in plot["y2"] and "chunk" in plot["x"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(".jp-Cell:has(.xybrid-dashboard)").first.screenshot(path=str(ARTIFACTS / "dashboard.png"))


def test_stop_cancels_within_a_second_and_the_next_cell_runs(page: Any, lab: Lab) -> None:
    write_notebook(lab, "stop.ipynb", [
        "%load_ext xybrid_notebook\n%xybrid load",
        "%%generate -n 2000 -t 0.8 --raw\nOnce upon a time, in a land far away,",
        "print('next cell ran after', _xybrid_last.finish_reason, _xybrid_last.emitted_chunks)",
    ])
    open_notebook(page, lab, "stop.ipynb")
    run_all(page)
    page.wait_for_function(
        "() => { const p = document.querySelector('.xybrid-stream'); return p && p.textContent.length > 20; }",
        timeout=90_000,
    )
    stop = page.locator(".xybrid-stop")
    assert stop.is_visible()
    clicked = time.monotonic()
    stop.click()
    page.wait_for_function(
        "() => document.querySelector('.xybrid-stat[data-label=\"finish\"]')", timeout=10_000
    )
    took = time.monotonic() - clicked
    assert finish_value(page) == "cancelled"
    assert took <= 1.0, f"Stop took {took:.2f} s"
    page.wait_for_selector("text=next cell ran after cancelled", timeout=30_000)
    assert not stop.is_visible()
    chunks = lab.kernel_eval("_xybrid_last.emitted_chunks")
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
