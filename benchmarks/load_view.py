"""What the load test's live view costs the server it measures: one load test in a Lab page, with and without it.

    python -m benchmarks.load_view [--rounds 3]

One llama-server (4 slots, SmolLM2) and one JupyterLab page in headless Chromium. A
closed-loop level of 4 users (16 measured requests, 128→64 tokens) runs with the live view
(`live=True`) and without any (`live=False`), alternating, after one warm-up round. For
each: output tok/s, TTFT p50 and gap p99 (from the result), the browser's CPU (Chromium's
processes, sampled) and the bytes the page received. Ratios are view/none; medians of the
rounds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

import nbformat

from .browser import RESULT, RUN_CELL, CpuSampler, _run_cell, _wait_idle, open_lab_page
from .lab import jupyterlab

SETUP = """%load_ext xybrid_notebook
import json, time, xybrid_notebook as xn
server = xn.serve("smollm2-135m-instruct", parallel=4)"""
RUN = """w0 = time.time()
r = xn.load_test(server, concurrency=[4], requests=16, prompt_tokens=128, output_tokens=64, live={live})
row = r.rows[0]
json.dump({{"tps": row["output_tps"], "ttft": row["ttft_p50_ms"], "gap_p99": row["itl_p99_ms"],
           "other_cores": row["other_cores"], "w0": w0, "w1": time.time()}}, open("{result}", "w"))"""
VARIANTS = {"none": False, "view": True}


def _notebook(root: Path) -> None:
    cells = [SETUP] + [RUN.format(live=live, result=RESULT) for live in VARIANTS.values()] + ["xn.stop_served()"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(notebook, root / "load_view.ipynb")


def load_view_cost(rounds: int = 3) -> dict[str, Any]:
    """Both variants alternated in one page (one warm-up round); medians per variant."""
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="xybrid-load-view-"))
    _notebook(root)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    received = [0]
    try:
        with jupyterlab(root) as url, sync_playwright() as playwright:
            browser, page = open_lab_page(playwright, url, "load_view.ipynb", received)
            sampler = CpuSampler()
            page.evaluate(RUN_CELL, 0)
            _wait_idle(page, 300_000)
            page.wait_for_timeout(2000)
            for round_index in range(rounds + 1):
                for cell, name in enumerate(VARIANTS, start=1):
                    start_bytes = received[0]
                    run = _run_cell(page, root, cell, timeout_s=300)
                    _wait_idle(page)
                    run["wire_bytes"] = received[0] - start_bytes
                    run["browser_cores"] = sampler.cores_between(run["w0"], run["w1"])
                    if round_index > 0:
                        runs[name].append(run)
            sampler.stop()
            page.evaluate(RUN_CELL, len(VARIANTS) + 1)
            _wait_idle(page)
            browser.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    keys = ("tps", "ttft", "gap_p99", "other_cores", "browser_cores", "wire_bytes")
    medians = {
        name: {k: statistics.median(r[k] for r in values if r[k] is not None) for k in keys}
        for name, values in runs.items()
    }
    for name, values in runs.items():
        medians[name]["seconds"] = statistics.median(r["w1"] - r["w0"] for r in values)
    return {"rounds": rounds, "medians": medians, "runs": runs}


def rows(result: dict[str, Any]) -> list[str]:
    """The table: each figure without and with the view, and view/none."""
    none, view = result["medians"]["none"], result["medians"]["view"]
    lines = [
        f"Load test in a JupyterLab page, with and without the live view (c=4, 16 requests, 128→64 tokens, "
        f"llama-server 4 slots), medians of {result['rounds']} alternating rounds",
        "| figure | no view | live view | view/none |",
        "| --- | --- | --- | --- |",
    ]
    for key, label, digits in (
        ("tps", "output tok/s", 1),
        ("ttft", "TTFT p50 (ms)", 0),
        ("gap_p99", "gap p99 (ms)", 1),
        ("browser_cores", "browser cores", 3),
        ("other_cores", "other cores (table's column)", 2),
        ("wire_bytes", "bytes to the page", 0),
    ):
        ratio = view[key] / none[key] if none[key] else None
        shown = "–" if ratio is None else f"{ratio:.3f}"
        lines.append(f"| {label} | {none[key]:,.{digits}f} | {view[key]:,.{digits}f} | {shown} |")
    lines.append(f"view: {view['wire_bytes'] / max(view['seconds'], 1e-9) / 1000:.1f} kB/s to the page while it runs")
    return lines


def main() -> None:
    """Run and print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = load_view_cost(args.rounds)
    print("\n".join(rows(result)))
    print(json.dumps(result["medians"]))


if __name__ == "__main__":
    main()
