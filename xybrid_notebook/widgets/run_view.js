// The browser side of one %%generate run: append-only text, a live lines-only plotly chart,
// the stats row and Stop. Live data arrives as custom messages holding only what is new;
// a model-level store keeps it, so a second view of the same output catches up from it.
// This code comes once per page, in the plotly loader's module, as `runView`; each run's own
// module (run_view_stub.js) only waits for it.

const MAX_LIVE_POINTS = 20000; // the live chart keeps the newest points; the final chart has them all (capped)
const CHART_DELAY_MS = 50; // redraw the chart at most once per flush (2.5 a second), just after its text went in
const CHART_BUDGET = 0.02; // ... and less often when a redraw costs more: its own time <= 2 % of the wall clock,
const CHART_MAX_INTERVAL_MS = 1000; // ... but at least once a second
const LIVE_POINTS_PER_FLUSH = 500; // the kernel sends at most this many points per flush (live.py)
const CHART_CONFIG = { displayModeBar: false, staticPlot: true, responsive: true };
const ONLY_THE_LINES = { transition: { duration: 0 }, frame: { duration: 0, redraw: false }, mode: "immediate" };
const STORES = new Map(); // run id -> store (model objects handed to initialize and render differ)

// -- the model-level store: everything received, for every view of this model ----------------
function makeStore() {
  return { chunks: [], first: 0, chars: 0, gap: [], offset: [], tokens: [], x: [], ygap: [], rate: [],
    scale: null, ttft: null, stats: null, missed: 0, listeners: new Set() };
}

function clearStore(store) {
  Object.assign(store, { chunks: [], first: 0, chars: 0, gap: [], offset: [], tokens: [], x: [], ygap: [],
    rate: [], scale: null, ttft: null, stats: null, missed: 0 });
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
    const over = store.x.length - MAX_LIVE_POINTS; // the live chart keeps the newest points only
    if (over > 0) for (const line of [store.x, store.ygap, store.rate]) line.splice(0, over);
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
  const values = node.querySelectorAll(".xybrid-value");
  const same = values.length === items.length && items.every(([label], i) => node.children[i].dataset.label === label);
  if (same) { // every flush: change only the figures' text
    items.forEach(([, value], i) => { if (values[i].textContent !== value) values[i].textContent = value; });
    return;
  }
  const cells = items.map(([label, value]) => {
    const cell = el("span", { class: "xybrid-stat", "data-label": label });
    cell.append(el("b", {}, label), " ", el("span", { class: "xybrid-value" }, value));
    return cell;
  });
  node.replaceChildren(...cells);
}

// The top of an axis range with some headroom, so that it has to grow only now and then.
function niceTop(value) {
  if (!(value > 0)) return 1;
  const step = 10 ** Math.floor(Math.log10(value * 1.25));
  return Math.ceil((value * 1.25) / step) * step;
}

// Lines only, no hover, fixed axis ranges that grow now and then (one full redraw each). After the
// first points, each flush moves only the lines: Plotly.animate without a redraw leaves the axes,
// legend and titles alone (about a tenth of the script time of extendTraces, which redraws it all).
function previousRun(compare) {
  if (!compare || !compare.byteLength) return null;
  const f = floats(compare, Float32Array), x = [], y = [];
  for (let i = 0; i + 1 < f.length; i += 2) { x.push(f[i]); y.push(f[i + 1]); }
  return { x, y, top: niceTop(Math.max(0, ...y)) };
}

function liveChart(model, store, host) {
  const previous = previousRun(model.get("compare"));
  const top = { x: 64, y: previous ? previous.top : 0, y2: 0 };
  let div = null, Plotly = null, title = ttftTitle(store.ttft), timer = null, drawn = false;
  let cost = 0, nextAllowed = 0; // the view times its own frames: a smoothed redraw cost, and when one is next due
  const traces = () => {
    const t = [
      { name: "inter-chunk gap", x: store.x.slice(), y: store.ygap.slice(),
        mode: "lines", hoverinfo: "skip", line: { width: 1, color: GAP_COLOR } },
      { name: "decode tok/s (running)", x: store.x.slice(), y: store.rate.slice(),
        mode: "lines", yaxis: "y2", hoverinfo: "skip", line: { width: 2, color: RATE_COLOR } },
    ];
    if (previous) t.push({ name: "previous run", x: previous.x, y: previous.y, mode: "lines", hoverinfo: "skip",
      line: { width: 1, color: COMPARE_COLOR } });
    return t;
  };
  const rangeUpdate = () => {
    const update = { "xaxis.range": [0, top.x], "xaxis.autorange": false };
    if (top.y > 0) Object.assign(update, { "yaxis.range": [0, top.y], "yaxis.autorange": false });
    if (top.y2 > 0) Object.assign(update, { "yaxis2.range": [0, top.y2], "yaxis2.autorange": false });
    return update;
  };
  const fullLayout = () => {
    const lay = layout(title);
    for (const [path, value] of Object.entries(rangeUpdate())) {
      const [axis, key] = path.split(".");
      lay[axis][key] = value;
    }
    return lay;
  };
  // Raise the tops the data went past (of the newest points only, unless `all`); true if one changed.
  const grow = (all) => {
    let changed = false;
    const want = (key, value, next) => {
      if (value > top[key]) { top[key] = next(value); changed = true; }
    };
    const recent = (values) => (all ? values : values.slice(-LIVE_POINTS_PER_FLUSH));
    const last = store.x.length ? store.x[store.x.length - 1] : 0;
    want("x", last, (v) => Math.max(top.x * 2, Math.ceil(v)));
    want("y", Math.max(0, ...recent(store.ygap)), niceTop);
    want("y2", Math.max(0, ...recent(store.rate).filter((v) => v !== null)), niceTop);
    return changed;
  };
  // A redraw's script time (smoothed) sets when the next may start: a run whose chart grows costly
  // is redrawn less often, so the browser's share of the cores stays small.
  // The first full draw (axes, legend) is a one-off and does not count.
  const timed = (redraw) => {
    const started = performance.now();
    if (redraw() === "full") return;
    const spent = performance.now() - started;
    cost = cost ? 0.7 * cost + 0.3 * spent : spent;
    nextAllowed = started + Math.min(cost / CHART_BUDGET, CHART_MAX_INTERVAL_MS);
  };
  const draw = () => {
    timer = null;
    if (!Plotly || !div) return;
    timed(redraw);
  };
  const redraw = () => {
    const relayout = {};
    const want = ttftTitle(store.ttft);
    if (want !== title) relayout["title.text"] = title = want;
    if (grow(false)) Object.assign(relayout, rangeUpdate());
    if (!drawn && store.x.length) { // the legend shows only once a trace has points: one full redraw
      drawn = true;
      Plotly.react(div, traces(), fullLayout(), CHART_CONFIG);
      return "full";
    }
    if (Object.keys(relayout).length) Plotly.relayout(div, relayout);
    if (drawn) {
      const x = store.x.slice();
      const data = [{ x, y: store.ygap.slice() }, { x, y: store.rate.slice() }];
      Plotly.animate(div, { data, traces: [0, 1] }, ONLY_THE_LINES);
    }
  };
  const start = () => {
    drawn = store.x.length > 0;
    grow(true);
    title = ttftTitle(store.ttft);
    Plotly.react(div, traces(), fullLayout(), CHART_CONFIG);
  };
  const ready = shared().plotly.then((P) => {
    Plotly = P;
    div = el("div", { class: "xybrid-plot" });
    host.replaceChildren(div);
    start();
  });
  return {
    ready, // the empty chart is drawn
    // A new attempt (a route fallback): draw what the store holds now, from scratch.
    reset() {
      Object.assign(top, { x: 64, y: previous ? previous.top : 0, y2: 0 });
      if (Plotly && div) start();
    },
    add(points) {
      if (!points.x.length && ttftTitle(store.ttft) === title) return;
      if (!timer) timer = setTimeout(draw, Math.max(CHART_DELAY_MS, nextAllowed - performance.now()));
    },
    dispose() {
      if (timer) clearTimeout(timer);
      if (div && Plotly) Plotly.purge(div);
    },
  };
}

const runView = {
  // `early`: the [msg, buffers] that reached the run's model before this code was in the page.
  initialize({ model }, early = []) {
    installUpgrade();
    const id = model.get("run_id");
    const store = makeStore();
    STORES.set(id, store);
    for (const [msg, buffers] of early) receive(store, msg, buffers);
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
      scale: store.scale, colored: model.get("color_gaps"), live: true });
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
    // The kernel starts the run once its view is drawn (the first chart in a page costs plotly most).
    const shown = () => setTimeout(() => model.send({ shown: true }), 0);
    if (chart) chart.ready.then(shown);
    else shown();

    const listener = (msg, fresh, points) => {
      const joinedLate = msg.start > 0 && store.missed && !note.isConnected;
      if (msg.restart || joinedLate) fill(); // the store already holds this message's chunks
      else if (fresh.pieces.length) appendChunks(fresh.first, fresh.pieces, fresh.gap);
      if (msg.scale) panel.setScale(msg.scale);
      if (msg.stats || msg.restart) renderStats(stats, store.stats || []);
      if (chart && msg.restart) chart.reset(); // the store already holds this message's points
      else if (chart) chart.add(points);
    };
    store.listeners.add(listener);
    return () => {
      store.listeners.delete(listener);
      if (chart) chart.dispose();
      root.replaceChildren(); // the widget manager may keep the view: let go of its text and chart
    };
  },
};
