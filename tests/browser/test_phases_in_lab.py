"""Where the time goes, as a user sees it in JupyterLab in headless Chromium: a run with a CPU hog
started mid-run, its gaps stacked by phase, the stalls marked and named, a clicked spike's cause,
the "by phase" toggle, and the static form that keeps them."""

from __future__ import annotations

from typing import Any

import nbformat
import pytest

from xybrid_notebook.host import HOG_NAME

from .conftest import ARTIFACTS, Lab
from .test_gap_text_in_lab import click_highest_gap_point
from .test_run_view_in_lab import open_notebook, run_all, save_notebook, wait_until_idle, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TRACES_JS = """() => { const p = document.querySelector('.xybrid-static .js-plotly-plot');
    return p.data.map(t => ({ name: t.name, type: t.type || 'scatter', mode: t.mode || null,
                              n: (t.x || []).length, custom: (t.customdata || []).join('|') })); }"""


def test_a_hog_mid_run_is_seen_stacked_named_and_explained(page: Any, lab: Lab) -> None:
    write_notebook(
        lab,
        "phases.ipynb",
        [
            "%load_ext xybrid_notebook\n%xybrid load\nfrom xybrid_notebook.host import start_cpu_hog",
            "hogs = start_cpu_hog(1.5, delay_s=1.5)",
            "%%generate -n 400 -t 0 --breakdown\nTell me a long story about a dragon who rides a bicycle.",
            "for hog in hogs:\n    hog.wait()",
        ],
    )
    open_notebook(page, lab, "phases.ipynb")
    run_all(page)
    page.wait_for_function("() => document.querySelector('.xybrid-static .js-plotly-plot')", timeout=120_000)
    wait_until_idle(page)
    run = lab.kernel_eval(
        "phases.ipynb",
        "{'line': _xybrid_last.where_time_went, 'stalls': _xybrid_last.stalls}",
    )
    assert run["stalls"], run["line"]

    # the one line under the stats, as the kernel has it
    line = page.inner_text(".xybrid-static .xybrid-phases")
    assert run["line"] in line and "decode" in line and "stalls" in line

    # the chart: a bar per phase, stacked; the stalls as markers whose hover names who ran
    traces = page.evaluate(TRACES_JS)
    bars = [t for t in traces if t["type"] == "bar"]
    assert {"prefill", "decode", "sample", "text", "client"} <= {t["name"] for t in bars}
    (stall_trace,) = [t for t in traces if t["name"] == "stall"]
    assert stall_trace["n"] == len(run["stalls"]) and HOG_NAME in stall_trace["custom"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(".jp-Cell:has(.xybrid-static)").first.screenshot(path=str(ARTIFACTS / "phases.png"))

    # the toggle: the gap line again; then a click on the highest spike writes its cause under the chart
    page.locator(".xybrid-static .xybrid-phase-toggle").uncheck()
    page.wait_for_function(
        "() => document.querySelector('.xybrid-static .js-plotly-plot').data[0].mode === 'lines+markers'"
    )
    spike = click_highest_gap_point(page)
    page.wait_for_function("() => document.querySelector('.xybrid-static .xybrid-cause').textContent.length > 0")
    cause = page.inner_text(".xybrid-static .xybrid-cause")
    assert cause.startswith(f"chunk {spike}:") and " ms" in cause
    if spike in {s["index"] for s in run["stalls"]}:
        assert "stall" in cause and "CPU" in cause

    # hovering a chunk of the text shows its phases too
    page.locator(f'.xybrid-static .xybrid-chunk[data-index="{spike}"]').hover()
    assert "decode" in page.inner_text(".xybrid-static .xybrid-tip")

    # the static form keeps the line, the stacked chart and the named stalls
    save_notebook(page)
    saved = nbformat.read(lab.root / "phases.ipynb", as_version=4)
    (run_cell,) = [c for c in saved.cells if c.source.startswith("%%generate")]
    page_html = run_cell.outputs[0].data["text/html"]
    assert "xybrid-phase-svg" in page_html and 'class="xybrid-phases"' in page_html
    assert page_html.count('class="xybrid-stall"') == len(run["stalls"]) and HOG_NAME in page_html
