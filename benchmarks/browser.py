"""7: the run view's cost in a real browser: JupyterLab and headless Chromium on this machine.

Alternating rounds, in one kernel driven from one page, of
  (a) the backend alone with a no-op callback (run from a cell, nothing displayed),
  (b) `%%generate --no-plot`, (c) the full `%%generate`, (d) `%%generate --color-gaps` (the text
  shaded by gap while live),
with llama.cpp on 2 threads, 200 greedy tokens, the KV cache reset before each run, on Gemma 3 270M
(the model the targets were set on) and SmolLM2 135M (about twice as fast, so the view's share of
each token is larger). Per variant: decode tok/s, TTFT, p99 inter-chunk gap, the browser's CPU (psutil over the
Chromium processes this benchmark started, between the start and the end of the call),
and the bytes the page received on its kernel websocket. The page's heap is collected
(DevTools `HeapProfiler.collectGarbage`) before each run: whether V8 happens to run a full
collection inside a 3-second run (about 60 ms of the page's thread and 110 ms of
background threads, mostly for JupyterLab's heap) otherwise swings a run's browser CPU
about twofold. Then the growth of the saved notebook per full run, and the size of
`make demo`'s HTML.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

import nbformat
import psutil

from .common import PROMPT
from .lab import CHROMIUM, CHROMIUM_FLAGS, jupyterlab

REPO = Path(__file__).resolve().parent.parent
N_TOKENS, THREADS = 200, 2
RESULT = "bench_result.json"
SHOWN_FINAL = ("c_full", "d_color")  # the variants whose static form replaces a live view

MODELS = ("gemma3-270m", "smollm2-135m-instruct")
SETUP = """%load_ext xybrid_notebook
%xybrid load {model} --threads {threads}
import time as _t, xybrid_notebook.live as _live
_on_token = _live.LiveRun.on_token
def _stamped(self, token, _wall=_t.time):  # when the last token reached the view (for 'final shown')
    _live._last_token_wall = _wall()
    _on_token(self, token)
_live.LiveRun.on_token = _stamped"""
_HEAD = """import json as _j, time as _t
from xybrid_notebook import GenerationConfig as _G
_b = get_ipython().find_magic('xybrid').__self__.session.backend
_b.reset_cache()
_w0 = _t.time()
"""
_TAIL = """
_w1 = _t.time()
_j.dump({{'variant': {variant!r}, 'ttft': _o.ttft_ms, 'decode': _o.decode_tps, 'p99': _o.p99_itl_ms,
         'tokens': _o.tokens_generated, 'w0': _w0, 'w1': _w1,
         'last_token_wall': getattr(__import__('xybrid_notebook.live').live, '_last_token_wall', None)}},
        open({result!r}, 'w'))"""
VARIANTS = {
    "a_backend": _HEAD
    + f"_o = _b.generate_raw_streaming({PROMPT!r}, _G(max_tokens={N_TOKENS}, temperature=0), lambda t: None)",
    "b_no_plot": _HEAD
    + f"get_ipython().run_cell_magic('generate', '-n {N_TOKENS} -t 0 --raw --no-plot', {PROMPT!r})\n_o = _xybrid_last",
    "c_full": _HEAD
    + f"get_ipython().run_cell_magic('generate', '-n {N_TOKENS} -t 0 --raw', {PROMPT!r})\n_o = _xybrid_last",
    "d_color": _HEAD
    + f"get_ipython().run_cell_magic('generate', '-n {N_TOKENS} -t 0 --raw --color-gaps', {PROMPT!r})\n"
    "_o = _xybrid_last",
}
VARIANTS = {name: code + _TAIL.format(variant=name, result=RESULT) for name, code in VARIANTS.items()}


class CpuSampler:
    """CPU seconds used by this process's Chromium descendants, sampled ten times a second."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._procs: dict[int, psutil.Process] = {}
        self._gone = 0.0  # CPU of processes that ended
        self._last: dict[int, float] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _total(self) -> float:
        for child in psutil.Process().children(recursive=True):
            if child.pid not in self._procs and "chrom" in child.name().lower():
                self._procs[child.pid] = child
        total = self._gone
        for pid, proc in list(self._procs.items()):
            try:
                times = proc.cpu_times()
                self._last[pid] = times.user + times.system
            except psutil.Error:
                self._gone += self._last.pop(pid, 0.0)
                del self._procs[pid]
                continue
            total += self._last[pid]
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self._total()))
            self._stop.wait(0.1)

    def cores_between(self, t0: float, t1: float) -> Optional[float]:
        """Mean cores used between two wall-clock times (nearest samples)."""
        inside = [s for s in self.samples if t0 - 0.05 <= s[0] <= t1 + 0.05]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _notebook(root: Path, model: str) -> Path:
    path = root / "bench.ipynb"
    setup = SETUP.format(model=model, threads=THREADS)
    cells = [nbformat.v4.new_code_cell(setup)] + [nbformat.v4.new_code_cell(code) for code in VARIANTS.values()]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(notebook, path)
    return path


WATCH_STATIC = """() => { window.__xybridStaticSeen = null;
  const seen = new MutationObserver(() => { if (!window.__xybridStaticSeen && document.querySelector('.xybrid-static'))
    { window.__xybridStaticSeen = Date.now(); } });
  seen.observe(document.body, { childList: true, subtree: true }); window.__xybridWatch = seen; return null; }"""
STATIC_SEEN = "() => { window.__xybridWatch.disconnect(); return window.__xybridStaticSeen; }"
RUN_CELL = """(i) => { const app = window.jupyterapp; const panel = app.shell.currentWidget;
  panel.content.activeCellIndex = i; app.commands.execute('notebook:run-cell'); return null; }"""


def _run_cell(page: Any, root: Path, index: int, timeout_s: float = 180) -> dict[str, Any]:
    result = root / RESULT
    result.unlink(missing_ok=True)
    page.evaluate(RUN_CELL, index)  # returns at once; the run goes on in the page
    deadline = time.monotonic() + timeout_s
    while not result.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"cell {index} did not finish in {timeout_s} s")
        time.sleep(0.1)
    time.sleep(0.3)
    return json.loads(result.read_text())


def _wait_idle(page: Any, timeout_ms: int = 300_000) -> None:
    page.wait_for_function(
        "() => { const p = window.jupyterapp.shell.currentWidget; const k = p && p.sessionContext.session"
        " && p.sessionContext.session.kernel; return k && k.status === 'idle'"
        " && ![...document.querySelectorAll('.jp-InputArea-prompt')].some(e => e.textContent.includes('*')); }",
        timeout=timeout_ms,
    )


def _demo_html_size() -> dict[str, Any]:
    """`make demo`'s command: execute the quickstart to HTML; its size and what its runs show."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "jupyter",
                "nbconvert",
                "--to",
                "html",
                "--execute",
                str(REPO / "example_notebooks" / "01_quickstart.ipynb"),
                "--output-dir",
                out,
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        page = (Path(out) / "01_quickstart.html").read_text()
    return {
        "bytes": len(page.encode()),
        "svg_charts": page.count('class="xybrid-svg"'),
        "stats_rows": page.count('data-label="TTFT"'),
        "texts": page.count('<pre class="xybrid-stream'),
    }


def open_lab_page(playwright: Any, url: str, notebook: str, received: list[int]) -> tuple[Any, Any]:
    """Headless Chromium on `notebook` in the Lab at `url`, counting the websocket bytes the page receives
    into `received[0]`; returns (browser, page) once the kernel is idle."""
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.on(
        "websocket",
        lambda ws: ws.on("framereceived", lambda payload: received.__setitem__(0, received[0] + len(payload))),
    )
    page.goto(f"{url}/lab/tree/{notebook}?reset")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    _wait_idle(page, 120_000)
    return browser, page


def browser_overhead(rounds: int = 5, demo: bool = True, model: str = MODELS[0]) -> dict[str, Any]:
    """The four variants alternated (one warm-up round), medians, and the size figures."""
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="xybrid-bench-"))
    _notebook(root, model)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    received = [0]
    try:
        with jupyterlab(root) as url, sync_playwright() as playwright:
            browser, page = open_lab_page(playwright, url, "bench.ipynb", received)
            devtools = page.context.new_cdp_session(page)
            sampler = CpuSampler()
            before_setup = received[0]
            page.evaluate(RUN_CELL, 0)
            _wait_idle(page)
            page.wait_for_timeout(2000)  # plotly.js is evaluated now, not during a run
            setup_bytes = received[0] - before_setup
            for round_index in range(rounds + 1):
                for cell, name in enumerate(VARIANTS, start=1):
                    page.evaluate("() => document.querySelectorAll('.xybrid-static').forEach(e => e.remove())")
                    devtools.send("HeapProfiler.collectGarbage")  # each run starts from a collected heap
                    page.wait_for_timeout(200)
                    page.evaluate(WATCH_STATIC)
                    start_bytes = received[0]
                    run = _run_cell(page, root, cell)
                    _wait_idle(page)
                    page.wait_for_timeout(300)
                    seen = page.evaluate(STATIC_SEEN)
                    run["final_shown_ms"] = (
                        (seen / 1000 - run["last_token_wall"]) * 1000 if seen and name in SHOWN_FINAL else None
                    )
                    run["wire_bytes"] = received[0] - start_bytes
                    run["browser_cores"] = sampler.cores_between(run["w0"], run["w1"])
                    if round_index > 0:
                        results[name].append(run)
            sampler.stop()
            growth = _notebook_growth(page, root, list(VARIANTS).index("c_full") + 1)
            growth_color = _notebook_growth(page, root, list(VARIANTS).index("d_color") + 1)
            browser.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    summary: dict[str, Any] = {
        "model": model,
        "rounds": rounds,
        "tokens": N_TOKENS,
        "threads": THREADS,
        "setup_wire_bytes": setup_bytes,
        "notebook_growth_bytes": growth,
        "notebook_growth_color_bytes": growth_color,
    }
    for name, runs in results.items():
        summary[name] = {
            key: statistics.median(r[key] for r in runs if r[key] is not None)
            for key in ("ttft", "decode", "p99", "tokens", "wire_bytes", "browser_cores", "final_shown_ms")
            if any(r[key] is not None for r in runs)
        }
        summary[name]["runs"] = runs
    if demo:
        summary["demo_html"] = _demo_html_size()
    return summary


def _notebook_growth(page: Any, root: Path, cell: int) -> int:
    """Bytes one run (the cell at index `cell`) adds to the saved notebook: saved with, then without, its output."""
    path = root / "bench.ipynb"
    save = "() => { window.jupyterapp.commands.execute('docmanager:save'); return null; }"
    page.evaluate(save)
    page.wait_for_timeout(2000)
    with_output = path.stat().st_size
    page.evaluate(
        """(i) => { const app = window.jupyterapp; const panel = app.shell.currentWidget;
      panel.content.activeCellIndex = i; app.commands.execute('notebook:clear-cell-output'); return null; }""",
        cell,
    )
    page.wait_for_timeout(500)
    page.evaluate(save)
    page.wait_for_timeout(2000)
    return with_output - path.stat().st_size


TARGETS = {
    "decode": 0.95,
    "ttft_ms": 30.0,
    "p99_ms": 10.0,
    "cores": 0.08,
    "wire": 100_000,
    "growth": 50_000,
    "demo": 6_000_000,
}


def rows(r: dict[str, Any]) -> list[str]:
    """The table lines for `make bench`."""

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    a, b, c = r["a_backend"], r["b_no_plot"], r["c_full"]
    lines = [
        f"7. real browser (JupyterLab + headless Chromium, {r.get('model', MODELS[0])} on llama.cpp "
        f"{r['threads']} threads, {r['tokens']} greedy tokens, medians of {r['rounds']} alternating rounds)"
    ]
    d = r["d_color"]
    for label, v in (
        ("(a) backend, no-op callback", a),
        ("(b) %%generate --no-plot", b),
        ("(c) %%generate", c),
        ("(d) %%generate --color-gaps", d),
    ):
        lines.append(
            f"   {label:<28} decode {v['decode']:.1f} tok/s, TTFT {v['ttft']:.1f} ms, p99 {v['p99']:.1f} ms, "
            f"browser {v.get('browser_cores', float('nan')):.3f} cores, {v['wire_bytes'] / 1000:.1f} kB received"
        )
    ratio = c["decode"] / a["decode"]
    lines.append(
        f"   decode c/a {ratio:.3f} (target >= {TARGETS['decode']}: {verdict(ratio >= TARGETS['decode'])}); "
        f"b/a {b['decode'] / a['decode']:.3f}"
    )
    ttft = c["ttft"] - a["ttft"]
    lines.append(
        f"   TTFT excess c-a {ttft:+.1f} ms "
        f"(target <= {TARGETS['ttft_ms']:.0f}: {verdict(ttft <= TARGETS['ttft_ms'])}); "
        f"b-a {b['ttft'] - a['ttft']:+.1f} ms"
    )
    p99 = c["p99"] - a["p99"]
    lines.append(
        f"   p99 gap excess c-a {p99:+.1f} ms "
        f"(target <= {TARGETS['p99_ms']:.0f}: {verdict(p99 <= TARGETS['p99_ms'])}); "
        f"b-a {b['p99'] - a['p99']:+.1f} ms"
    )
    if "final_shown_ms" in c:
        lines.append(
            f"   final state in the page {c['final_shown_ms']:.0f} ms after the last token reached the view "
            f"(target <= 100: {verdict(c['final_shown_ms'] <= 100)})"
        )
    cores = c.get("browser_cores", float("nan"))
    lines.append(
        f"   browser CPU during (c) {cores:.3f} cores "
        f"(target <= {TARGETS['cores']}: {verdict(cores <= TARGETS['cores'])})"
    )
    lines.append(
        f"   wire bytes for a new run view after the first in the page {c['wire_bytes']:,} "
        f"(target <= {TARGETS['wire']:,}: {verdict(c['wire_bytes'] <= TARGETS['wire'])}); "
        f"once per page at %load_ext (plotly.js) {r['setup_wire_bytes']:,}"
    )
    g = r["notebook_growth_bytes"]
    lines.append(
        f"   saved notebook growth per run {g:,} bytes "
        f"(target <= {TARGETS['growth']:,}: {verdict(g <= TARGETS['growth'])}); "
        f"with --color-gaps {r['notebook_growth_color_bytes']:,}"
    )
    lines.append(
        f"   shading while live: decode d/c {d['decode'] / c['decode']:.3f}, p99 d-c {d['p99'] - c['p99']:+.1f} ms, "
        f"browser d-c {d.get('browser_cores', float('nan')) - cores:+.3f} cores, "
        f"final state {d.get('final_shown_ms', float('nan')):.0f} ms after the last token"
    )
    if "demo_html" in r:
        d = r["demo_html"]
        lines.append(
            f"   make demo HTML {d['bytes']:,} bytes "
            f"(target <= {TARGETS['demo']:,}: {verdict(d['bytes'] <= TARGETS['demo'])}); "
            f"{d['svg_charts']} charts, {d['stats_rows']} stats rows, {d['texts']} texts"
        )
    return lines


def both_models(rounds: int = 5) -> dict[str, Any]:
    """`browser_overhead` for each model of `MODELS` (the demo HTML measured once, with the first)."""
    return {model: browser_overhead(rounds, demo=index == 0, model=model) for index, model in enumerate(MODELS)}


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    outcome = both_models(rounds=int(sys.argv[1]) if len(sys.argv) > 1 else 5)
    out = REPO / "benchmarks" / "results" / "browser.json"
    out.write_text(json.dumps(outcome, indent=1, default=str))
    for result in outcome.values():
        print("\n".join(rows(result)))
    print(f"wrote {out}")
