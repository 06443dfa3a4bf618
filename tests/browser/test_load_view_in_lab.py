"""A load test's live view and its static form, as a user sees them in JupyterLab in headless Chromium."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import ARTIFACTS, Lab, exported_html
from .test_run_view_in_lab import (
    open_notebook,
    run_all,
    sample_until_done,
    save_notebook,
    wait_until_idle,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LIVE_JS = """() => {
  const done = document.querySelector('.xybrid-load-static');
  const view = done ? done.parentElement : document.querySelector('.xybrid-load');
  if (!view) return null;
  const titles = [...view.querySelectorAll('svg text')].map(t => t.textContent);
  return { label: view.textContent.slice(0, 300), charts: view.querySelectorAll('svg').length,
           ttft: titles.includes('TTFT per level'), done: !!done };
}"""


def test_a_load_test_grows_live_then_leaves_its_static_form(page: Any, lab: Lab) -> None:
    write_notebook(
        lab,
        "load_view.ipynb",
        [
            "%load_ext xybrid_notebook\nimport xybrid_notebook as xn",
            'server = xn.serve("smollm2-135m-instruct", parallel=2)',
            "lt = xn.load_test(server, concurrency=[1, 2], requests=4, prompt_tokens=32, output_tokens=24)",
            "xn.stop_served()\nprint('servers left:', len(xn.served()))",
        ],
    )
    (ARTIFACTS / "load_view_live.png").unlink(missing_ok=True)
    open_notebook(page, lab, "load_view.ipynb")
    run_all(page)

    def shoot_once(sample: dict) -> None:
        if "(level 2/2)" in sample["label"] and sample["ttft"] and not (ARTIFACTS / "load_view_live.png").exists():
            page.screenshot(path=str(ARTIFACTS / "load_view_live.png"))

    samples = sample_until_done(page, LIVE_JS, 240, shoot_once, interval_s=0.25)
    live = [s for s in samples if not s["done"]]
    assert any("(level 1/2)" in s["label"] for s in live), samples[-3:]
    assert any("(level 2/2)" in s["label"] and s["ttft"] for s in live), "the charts grew while level 2 ran"
    page.screenshot(path=str(ARTIFACTS / "load_view_live.png"))
    wait_until_idle(page, 240_000)
    final = page.evaluate(LIVE_JS)
    assert final["done"] and final["charts"] >= 4 and "done" in final["label"]
    page.wait_for_selector("text=servers left: 0", timeout=30_000)
    page.locator(".xybrid-load-static").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "load_view_final.png"))

    save_notebook(page)
    exported = exported_html(lab.root / "load_view.ipynb")
    (ARTIFACTS / "load_view.html").write_text(exported)
    assert (
        "xybrid-load-static" in exported and "TTFT per level" in exported and "Latency against throughput" in exported
    )
    assert "xybrid-load-timeline" in exported and "requests at the server" in exported  # the timeline is kept
