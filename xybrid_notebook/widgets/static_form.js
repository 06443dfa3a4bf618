// A finished run's static HTML made interactive where this module is loaded: the chunk controls and
// hover card, a plotly chart with markers and hover text, and the links between the two.

const GAP_COLOR = "#1f77b4", RATE_COLOR = "#ff7f0e", COMPARE_COLOR = "rgba(140,140,140,0.55)";

function layout(title) {
  return {
    height: 300,
    margin: { l: 60, r: 60, t: 40, b: 45 },
    xaxis: { title: { text: "chunk index" }, rangemode: "tozero" },
    yaxis: { title: { text: "inter-chunk latency (ms)" }, rangemode: "tozero" },
    yaxis2: { title: { text: "decode (tokens/s)" }, overlaying: "y", side: "right", rangemode: "tozero", showgrid: false,
      tickmode: "auto" }, // not synced to the left axis: its own round ticks
    legend: { orientation: "h", y: 1.12, x: 0 },
    title: { text: title, x: 0.99, xanchor: "right", y: 0.97, font: { size: 12 } },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
  };
}

function ttftTitle(ttft) {
  return ttft === null || ttft === undefined ? "TTFT –" : `TTFT ${ttft.toFixed(1)} ms`;
}

// -- the static form's upgrade ------------------------------------------------------------------
// Each static form's inline script calls shared().upgrade, or leaves its root in a pending list
// when no xybrid module has loaded yet (a reopened notebook); installUpgrade takes those and any
// other static form in the page.
function installUpgrade() {
  const x = shared();
  if (!x.upgrade) x.upgrade = upgradeStatic;
  const pending = globalThis.__xybridPending || [];
  globalThis.__xybridPending = [];
  for (const root of pending) x.upgrade(root);
  for (const root of document.querySelectorAll(".xybrid-static:not([data-upgraded])")) x.upgrade(root);
}

function upgradeStatic(root) {
  if (!root || root.dataset.upgraded) return;
  root.dataset.upgraded = "1";
  const dataNode = root.querySelector("script.xybrid-data");
  const d = dataNode ? JSON.parse(dataNode.textContent) : {};
  const panel = staticChunkPanel(root, d);
  const chart = root.querySelector(".xybrid-chart");
  if (chart && d.x) upgradeChart(chart, d, panel);
}

function staticChunkPanel(root, d) {
  const pre = root.querySelector("pre.xybrid-stream");
  if (!pre || !pre.querySelector(".xybrid-chunk")) return null;
  const staticLegend = root.querySelector(".xybrid-legend");
  if (staticLegend) staticLegend.remove();
  root.style.position = "relative";
  const scale = pre.dataset.p50Ms ? [parseFloat(pre.dataset.p50Ms), parseFloat(pre.dataset.p95Ms)] : null;
  const timing = (i) => {
    const span = pre.querySelector(`.xybrid-chunk[data-index="${i}"]`);
    const gap = parseFloat(i === 0 ? span.dataset.ttftMs : span.dataset.gapMs);
    return { gap, offset: d.offset ? d.offset[i] : undefined, tokens: d.tokens ? d.tokens[i] : 1 };
  };
  const panel = chunkPanel({ root, pre, scroller: pre, runId: root.dataset.run, timing, scale, live: false,
    colored: pre.classList.contains("xybrid-shaded") });
  for (const link of root.querySelectorAll(".xybrid-slowest a[data-index]")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      panel.highlight(Number(link.dataset.index), { pin: true, scroll: true });
    });
  }
  return panel;
}

// The index in the sorted `xs` of the value nearest to `x`.
function nearestIndex(xs, x) {
  let lo = 0, hi = xs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1; else hi = mid;
  }
  return lo > 0 && Math.abs(xs[lo - 1] - x) <= Math.abs(xs[lo] - x) ? lo - 1 : lo;
}

function upgradeChart(chart, d, panel) {
  const hover = panel ? d.x.map((i) => panel.preview(i)) : d.x.map(() => ""); // each point's chunk text
  shared().plotly.then((Plotly) => {
    requestAnimationFrame(() => {
      const div = el("div", { class: "xybrid-plot" });
      const traces = [
        { name: "inter-chunk gap", x: d.x, y: d.gap, text: hover, mode: "lines+markers",
          marker: { size: 5, color: GAP_COLOR }, line: { width: 1, color: GAP_COLOR },
          hovertemplate: "chunk %{x}<br>gap %{y:.2f} ms<br>%{text}<extra></extra>" },
        { name: "decode tok/s (running)", x: d.x, y: d.rate, mode: "lines", yaxis: "y2",
          line: { width: 2, color: RATE_COLOR }, hovertemplate: "chunk %{x}<br>%{y:.1f} tok/s<extra></extra>" },
      ];
      if (d.cmp_x) traces.push({ name: "previous run", x: d.cmp_x, y: d.cmp_gap, mode: "lines",
        line: { width: 1, color: COMPARE_COLOR }, hovertemplate: "previous run<br>chunk %{x}<br>gap %{y:.2f} ms<extra></extra>" });
      Plotly.newPlot(div, traces, layout(ttftTitle(d.ttft)), { displayModeBar: false, responsive: true }).then(() => {
        chart.replaceChildren(div);
        if (panel) linkChart(Plotly, div, d, panel);
      });
    });
  });
}

// A point of this run (not the previous run's grey line) leads to its chunk; a chunk to its point.
function linkChart(Plotly, div, d, panel) {
  const ownPoint = (event) => event.points.find((p) => p.curveNumber < 2);
  div.on("plotly_hover", (event) => {
    const p = ownPoint(event);
    if (p) panel.highlight(p.x, { scroll: true });
  });
  div.on("plotly_unhover", () => panel.highlight(null));
  div.on("plotly_click", (event) => {
    const p = ownPoint(event);
    if (p) panel.highlight(p.x, { pin: true, scroll: true, toggle: true });
  });
  panel.onHover((index) => {
    const k = index === null || !d.x.length ? -1 : nearestIndex(d.x, index);
    // A chunk whose point was thinned away (runs over 2,000 chunks) has no point to show.
    if (k < 0 || d.x[k] !== index) return Plotly.Fx.unhover(div);
    Plotly.Fx.hover(div, [{ curveNumber: 0, pointNumber: k }], "xy", true); // no plotly_hover back to the text
  });
}
