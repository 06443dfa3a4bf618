// The browser side of one %%generate run: append-only text, a live lines-only plotly chart,
// the stats row and Stop. Live data arrives as custom messages holding only what is new;
// a model-level store keeps it, so a second view of the same output catches up from it.

const GAP_COLOR = "#1f77b4", RATE_COLOR = "#ff7f0e", COMPARE_COLOR = "rgba(140,140,140,0.55)";
const MAX_LIVE_POINTS = 20000; // the live chart keeps the newest points; the final chart has them all (capped)
const CHART_DELAY_MS = 50; // redraw the chart once per flush (2.5 a second), just after its text went in
const STORES = new Map(); // run id -> store (model objects handed to initialize and render differ)

function shared() {
  const g = globalThis;
  if (!g.__xybrid) {
    let resolve;
    const plotly = new Promise((r) => (resolve = r));
    g.__xybrid = { plotly, resolvePlotly: resolve, loaded: false };
  }
  const x = g.__xybrid;
  if (!x.upgrade) x.upgrade = upgradeStatic;
  return x;
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function layout(title) {
  return {
    height: 300,
    margin: { l: 60, r: 60, t: 40, b: 45 },
    xaxis: { title: { text: "chunk index" }, rangemode: "tozero" },
    yaxis: { title: { text: "inter-chunk latency (ms)" }, rangemode: "tozero" },
    yaxis2: { title: { text: "decode (tokens/s)" }, overlaying: "y", side: "right", rangemode: "tozero", showgrid: false },
    legend: { orientation: "h", y: 1.12, x: 0 },
    title: { text: title, x: 0.99, xanchor: "right", y: 0.97, font: { size: 12 } },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
  };
}

function ttftTitle(ttft) {
  return ttft === null || ttft === undefined ? "TTFT –" : `TTFT ${ttft.toFixed(1)} ms`;
}

// -- the static form's upgrade: chunk controls, markers and hover text, where this module is loaded --
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
  const panel = chunkPanel({ root, pre, scroller: pre, runId: root.dataset.run, timing, scale,
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
  shared().plotly.then((Plotly) => {
    requestAnimationFrame(() => {
      const div = el("div", { class: "xybrid-plot" });
      const traces = [
        { name: "inter-chunk gap", x: d.x, y: d.gap, text: d.hover, mode: "lines+markers",
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
  div.on("plotly_hover", (event) => { const p = ownPoint(event); if (p) panel.highlight(p.x); });
  div.on("plotly_unhover", () => panel.highlight(null));
  div.on("plotly_click", (event) => {
    const p = ownPoint(event);
    if (p) panel.highlight(p.x, { pin: true, scroll: true });
  });
  panel.onHover((index) => {
    if (index === null || index === 0 || !d.x.length) return Plotly.Fx.unhover(div);
    Plotly.Fx.hover(div, [{ curveNumber: 0, pointNumber: nearestIndex(d.x, index) }]);
  });
}

// -- the model-level store: everything received, for every view of this model ----------------
function makeStore() {
  return { chunks: [], first: 0, chars: 0, gap: [], offset: [], tokens: [], x: [], ygap: [], rate: [],
    scale: null, ttft: null, stats: null, missed: 0, listeners: new Set() };
}

function clearStore(store) {
  Object.assign(store, { chunks: [], first: 0, chars: 0, gap: [], offset: [], tokens: [], x: [], ygap: [],
    rate: [], scale: null, missed: 0 });
}

function floats(buffer, Type) {
  const bytes = buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength); // aligned copy
  return new Type(bytes);
}

function receive(store, msg, buffers) {
  if (msg.restart) clearStore(store);
  if (typeof msg.start === "number" && msg.start > store.chars) {
    store.missed += msg.start - store.chars; // this page joined late: the earlier text comes with the static form
    store.chars = msg.start;
    store.first = msg.first;
  }
  const pieces = msg.pieces || [];
  const rows = buffers && buffers.length ? floats(buffers[0], Float64Array) : new Float64Array(0);
  const fresh = { first: store.first + store.chunks.length, pieces, gap: [] };
  for (let k = 0; k < pieces.length; k++) {
    store.chunks.push(pieces[k]);
    store.chars += pieces[k].length;
    store.gap.push(rows[3 * k]);
    store.offset.push(rows[3 * k + 1]);
    store.tokens.push(rows[3 * k + 2]);
    fresh.gap.push(rows[3 * k]);
  }
  const points = { x: [], gap: [], rate: [] };
  if (buffers && buffers.length > 1) {
    const f = floats(buffers[1], Float32Array);
    for (let i = 0; i + 2 < f.length; i += 3) {
      points.x.push(f[i]);
      points.gap.push(f[i + 1]);
      points.rate.push(Number.isNaN(f[i + 2]) ? null : f[i + 2]);
    }
    store.x.push(...points.x);
    store.ygap.push(...points.gap);
    store.rate.push(...points.rate);
  }
  if (msg.ttft !== undefined && msg.ttft !== null) store.ttft = msg.ttft;
  if (msg.stats) store.stats = msg.stats;
  if (msg.scale) store.scale = msg.scale;
  for (const listener of store.listeners) listener(msg, fresh, points);
}

function storeTiming(store) {
  return (i) => {
    const k = i - store.first;
    return { gap: store.gap[k], offset: store.offset[k], tokens: store.tokens[k] };
  };
}

function renderStats(node, items) {
  const cells = items.map(([label, value]) => {
    const cell = el("span", { class: "xybrid-stat", "data-label": label });
    cell.append(el("b", {}, label), " ", el("span", { class: "xybrid-value" }, value));
    return cell;
  });
  node.replaceChildren(...cells);
}

function liveChart(model, store, host) {
  const compare = model.get("compare");
  let div = null, pending = { x: [], gap: [], rate: [] }, title = ttftTitle(store.ttft), timer = null;
  const traces = () => {
    const t = [
      { name: "inter-chunk gap", x: store.x.slice(), y: store.ygap.slice(), mode: "lines", hoverinfo: "skip",
        line: { width: 1, color: GAP_COLOR } },
      { name: "decode tok/s (running)", x: store.x.slice(), y: store.rate.slice(), mode: "lines", yaxis: "y2",
        hoverinfo: "skip", line: { width: 2, color: RATE_COLOR } },
    ];
    if (compare && compare.byteLength) {
      const f = new Float32Array(compare.buffer, compare.byteOffset, Math.floor(compare.byteLength / 4));
      const x = [], y = [];
      for (let i = 0; i + 1 < f.length; i += 2) { x.push(f[i]); y.push(f[i + 1]); }
      t.push({ name: "previous run", x, y, mode: "lines", hoverinfo: "skip", line: { width: 1, color: COMPARE_COLOR } });
    }
    return t;
  };
  let Plotly = null;
  const draw = () => {
    timer = null;
    if (!Plotly || !div) return;
    const want = ttftTitle(store.ttft);
    if (want !== title) {
      title = want;
      Plotly.relayout(div, { "title.text": title });
    }
    if (pending.x.length) {
      const p = pending;
      pending = { x: [], gap: [], rate: [] };
      Plotly.extendTraces(div, { x: [p.x, p.x], y: [p.gap, p.rate] }, [0, 1], MAX_LIVE_POINTS);
    }
  };
  shared().plotly.then((P) => {
    Plotly = P;
    div = el("div", { class: "xybrid-plot" });
    host.replaceChildren(div);
    pending = { x: [], gap: [], rate: [] };
    title = ttftTitle(store.ttft);
    Plotly.newPlot(div, traces(), layout(title), { displayModeBar: false, staticPlot: true, responsive: true });
  });
  return {
    add(points) {
      if (!points.x.length && ttftTitle(store.ttft) === title) return;
      pending.x.push(...points.x);
      pending.gap.push(...points.gap);
      pending.rate.push(...points.rate);
      if (!timer) timer = setTimeout(draw, CHART_DELAY_MS);
    },
    dispose() {
      if (timer) clearTimeout(timer);
      if (div && Plotly) Plotly.purge(div);
    },
  };
}

export default {
  initialize({ model }) {
    shared();
    const id = model.get("run_id");
    const store = makeStore();
    STORES.set(id, store);
    model.on("msg:custom", (msg, buffers) => receive(store, msg, buffers));
    return () => STORES.delete(id);
  },

  render({ model, el: root }) {
    const store = STORES.get(model.get("run_id")) || makeStore();
    const box = el("div", { class: "xybrid-run xybrid-live", style: "position:relative" });
    const header = el("div", { class: "xybrid-header", style: "font-size:12px;color:#666" }, model.get("title"));
    model.on("change:title", () => (header.textContent = model.get("title")));
    const scroller = el("div", { class: "xybrid-text-box", style:
      "height:240px;contain:strict;overflow-y:auto;display:flex;flex-direction:column-reverse;" +
      "border:1px solid var(--jp-border-color2,#ddd);border-radius:4px" });
    const pre = el("pre", { class: "xybrid-stream", style:
      "white-space:pre-wrap;word-break:break-word;font-family:var(--jp-code-font-family,monospace);" +
      "font-size:13px;line-height:1.45;margin:0;padding:8px" });
    scroller.append(pre);
    box.append(header, scroller);
    const panel = chunkPanel({ root: box, pre, scroller, runId: model.get("run_id"), timing: storeTiming(store),
      scale: store.scale, colored: model.get("color_gaps") });
    const note = el("span", { class: "xybrid-missed", style: "color:#999" });
    const appendChunks = (first, pieces, gaps) => {
      const fragment = document.createDocumentFragment(), spans = [];
      for (let k = 0; k < pieces.length; k++) spans.push(chunkSpan(first + k, pieces[k], gaps[k]));
      panel.added(spans);
      fragment.append(...spans);
      pre.append(fragment); // append-only
    };
    const fill = () => {
      pre.replaceChildren();
      note.textContent = store.missed ? `… ${store.missed} earlier characters (shown when the run ends) …` : "";
      if (store.missed) pre.append(note);
      appendChunks(store.first, store.chunks, store.gap);
      panel.setScale(store.scale);
    };
    fill();
    let chart = null;
    if (model.get("plot")) {
      const host = el("div", { class: "xybrid-chart", style: "height:300px;contain:strict" });
      box.append(host);
      chart = liveChart(model, store, host);
    }
    const stats = el("div", { class: "xybrid-stats", style: "display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;padding:4px 2px;flex:1" });
    if (store.stats) renderStats(stats, store.stats);
    const footer = el("div", { style: "display:flex;align-items:center;gap:8px" });
    footer.append(stats, stopButton(model));
    box.append(footer);
    root.append(box);

    const listener = (msg, fresh, points) => {
      if (msg.restart) return fill();
      if (msg.start > 0 && store.missed && !note.isConnected) return fill();
      if (fresh.pieces.length) appendChunks(fresh.first, fresh.pieces, fresh.gap);
      if (msg.scale) panel.setScale(msg.scale);
      if (msg.stats) renderStats(stats, msg.stats);
      if (chart) chart.add(points);
    };
    store.listeners.add(listener);
    return () => {
      store.listeners.delete(listener);
      if (chart) chart.dispose();
    };
  },
};
