// A finished run's static HTML made interactive where this module is loaded: the chunk controls and
// hover card, a plotly chart with markers and hover text, and the links between the two.

const GAP_COLOR = "#1f77b4", RATE_COLOR = "#ff7f0e", COMPARE_COLOR = "rgba(140,140,140,0.55)", STALL_COLOR = "#d62728";

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

// -- where the time went: a chunk's phases and its stall, in words -------------------------------
function stallOf(d, index) {
  return (d.stalls || []).find((s) => s.index === index) || null;
}

function causeOf(d, index) {
  if (!d.phases) return "";
  const parts = [];
  for (const [name, values] of Object.entries(d.phases)) {
    const v = values[index];
    if (v !== undefined && Math.abs(v) >= 0.005) parts.push(`${name.replace("_", " ")} ${v.toFixed(2)}`);
  }
  const stall = stallOf(d, index);
  return (parts.length ? parts.join(" · ") + " ms" : "") + (stall ? ` — ${stall.text}` : "");
}

function phaseTraces(d, hover) {
  const stalls = new Set((d.stalls || []).map((s) => s.index));
  const traces = Object.entries(d.phases).map(([name, values]) => ({
    type: "bar", name: name.replace("_", " "), x: d.x, y: d.x.map((i) => Math.max(values[i] || 0, 0)),
    marker: { color: PHASE_COLORS[name] || "#999" }, customdata: d.x.map((i) => causeOf(d, i)), text: hover,
    hovertemplate: `chunk %{x}<br>${name.replace("_", " ")} %{y:.2f} ms<br>%{customdata}<br>%{text}<extra></extra>`,
  }));
  const sx = d.x.filter((i) => stalls.has(i));
  if (sx.length) traces.push({ name: "stall", x: sx, y: sx.map((i) => d.gap[d.x.indexOf(i)]), mode: "markers",
    marker: { symbol: "triangle-down", size: 11, color: STALL_COLOR }, customdata: sx.map((i) => stallOf(d, i).text),
    hovertemplate: "%{customdata}<extra></extra>" });
  return traces;
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
    return { gap, offset: d.offset ? d.offset[i] : undefined, tokens: d.tokens ? d.tokens[i] : 1, cause: causeOf(d, i) };
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

function gapTraces(d, hover) {
  const causes = d.x.map((i) => causeOf(d, i));
  const traces = [
    { name: "inter-chunk gap", x: d.x, y: d.gap, text: hover, customdata: causes, mode: "lines+markers",
      marker: { size: 5, color: GAP_COLOR }, line: { width: 1, color: GAP_COLOR },
      hovertemplate: `chunk %{x}<br>gap %{y:.2f} ms<br>${d.phases ? "%{customdata}<br>" : ""}%{text}<extra></extra>` },
    { name: "decode tok/s (running)", x: d.x, y: d.rate, mode: "lines", yaxis: "y2",
      line: { width: 2, color: RATE_COLOR }, hovertemplate: "chunk %{x}<br>%{y:.1f} tok/s<extra></extra>" },
  ];
  if (d.cmp_x) traces.push({ name: "previous run", x: d.cmp_x, y: d.cmp_gap, mode: "lines",
    line: { width: 1, color: COMPARE_COLOR }, hovertemplate: "previous run<br>chunk %{x}<br>gap %{y:.2f} ms<extra></extra>" });
  return traces;
}

// The chart, its "by phase" toggle (runs that kept phases) and the line that says a clicked chunk's cause.
function upgradeChart(chart, d, panel) {
  const hover = panel ? d.x.map((i) => panel.preview(i)) : d.x.map(() => ""); // each point's chunk text
  shared().plotly.then((Plotly) => {
    requestAnimationFrame(() => {
      const div = el("div", { class: "xybrid-plot" });
      const cause = el("div", { class: "xybrid-cause" });
      cause.style.cssText = "font-size:12px;color:#444;min-height:1.2em;padding:0 2px";
      let byPhase = !!(d.breakdown && d.phases);
      const draw = () => {
        const traces = byPhase ? phaseTraces(d, hover) : gapTraces(d, hover);
        const look = layout(ttftTitle(d.ttft));
        if (byPhase) {
          delete look.yaxis2; // no rate axis: plotly reads every yaxisN key the layout has
          Object.assign(look, { barmode: "stack", bargap: 0.1,
            yaxis: { title: { text: "gap by phase (ms)" }, rangemode: "tozero" } });
        }
        return Plotly.react(div, traces, look, { displayModeBar: false, responsive: true });
      };
      const nodes = [div, cause];
      if (d.phases) {
        const toggle = el("input", { type: "checkbox", class: "xybrid-phase-toggle" });
        toggle.checked = byPhase;
        const label = el("label", { class: "xybrid-phase-label" });
        label.style.cssText = "font-size:12px;color:#666;display:inline-flex;gap:4px;cursor:pointer";
        label.append(toggle, "by phase");
        toggle.addEventListener("change", () => { byPhase = toggle.checked; draw(); });
        nodes.unshift(label);
      }
      draw().then(() => {
        chart.replaceChildren(...nodes);
        const say = (index) => { cause.textContent = index === null ? "" : `chunk ${index}: ${causeOf(d, index)}`; };
        if (panel) linkChart(Plotly, div, d, panel, say);
        else if (d.phases) div.on("plotly_click", (event) => say(event.points[0].x));
      });
    });
  });
}

// A point of this run (not the previous run's grey line) leads to its chunk; a chunk to its point.
// A click also says the chunk's cause (`say`) where the run kept its phases.
function linkChart(Plotly, div, d, panel, say) {
  const ownPoint = (event) => event.points.find((p) => p.data.name !== "previous run");
  div.on("plotly_hover", (event) => {
    const p = ownPoint(event);
    if (p) panel.highlight(p.x, { scroll: true });
  });
  div.on("plotly_unhover", () => panel.highlight(null));
  div.on("plotly_click", (event) => {
    const p = ownPoint(event);
    if (!p) return;
    panel.highlight(p.x, { pin: true, scroll: true, toggle: true });
    if (d.phases) say(p.x);
  });
  panel.onHover((index) => {
    const k = index === null || !d.x.length ? -1 : nearestIndex(d.x, index);
    // A chunk whose point was thinned away (runs over 2,000 chunks) has no point to show.
    if (k < 0 || d.x[k] !== index) return Plotly.Fx.unhover(div);
    Plotly.Fx.hover(div, [{ curveNumber: 0, pointNumber: k }], "xy", true); // no plotly_hover back to the text
  });
}
