// The run's text as one span per chunk: shading by gap, the hover card, the highlight that links
// the text to the chart. Shared by the live view and the finished (static) form.
// SHADE_RGB and SHADE_MAX_ALPHA come first in the module, written from gap_shading.py.

const FIRST_CHUNK_DECORATION = "underline dotted #888";
const HIGHLIGHT_OUTLINE = "2px solid #1f77b4";
const SCALE_STEP = 0.02; // while live, repaint every chunk only when p50 or p95 moved by more than this share

// The same scale as GapScale.level in gap_shading.py: p50 and below neutral, p95 and above strongest.
function shadeOf(gap, scale) {
  if (!scale || !(gap > scale[0])) return "";
  const level = scale[1] <= scale[0] || gap >= scale[1] ? 1 : (gap - scale[0]) / (scale[1] - scale[0]);
  const alpha = Math.round(level * SHADE_MAX_ALPHA * 100) / 100;
  return alpha > 0 ? `rgba(${SHADE_RGB.join(",")},${alpha})` : "";
}

function chunkSpan(index, text, gap) {
  const span = document.createElement("span");
  span.className = "xybrid-chunk";
  span.dataset.index = index;
  if (index === 0) span.dataset.ttftMs = gap.toFixed(2);
  else span.dataset.gapMs = gap.toFixed(2);
  span.textContent = text;
  return span;
}

function paintChunk(span, scale, on) {
  if (span.dataset.index === "0") span.style.textDecoration = on ? FIRST_CHUNK_DECORATION : "";
  else span.style.background = on ? shadeOf(parseFloat(span.dataset.gapMs), scale) : "";
}

function legendBar() {
  const [r, g, b] = SHADE_RGB;
  const bar = document.createElement("span");
  bar.style.cssText = "display:inline-block;width:64px;height:10px;vertical-align:middle;border:1px solid #ccc;" +
    `background:linear-gradient(to right,rgba(${r},${g},${b},0),rgba(${r},${g},${b},${SHADE_MAX_ALPHA}))`;
  return bar;
}

function describeChunk(index, timing) {
  const lines = [`chunk ${index}`];
  lines.push(index === 0 ? `TTFT ${timing.gap.toFixed(2)} ms` : `gap ${timing.gap.toFixed(2)} ms`);
  if (timing.tokens !== undefined) lines.push(`${timing.tokens} token${timing.tokens === 1 ? "" : "s"}`);
  if (timing.offset !== undefined) lines.push(`at ${(timing.offset / 1000).toFixed(3)} s`);
  return lines.join(" · ") + (timing.cause ? `\n${timing.cause}` : "");
}

// Scroll `box` so that `span` is in its middle; with `page`, also the page, as little as needed to show `box`.
function scrollIntoBox(box, span, page) {
  const boxRect = box.getBoundingClientRect(), rect = span.getBoundingClientRect();
  box.scrollTop += rect.top - boxRect.top - (box.clientHeight - rect.height) / 2;
  if (page) box.scrollIntoView({ block: "nearest" });
}

function scaleMoved(before, after) {
  if (!before || !after) return before !== after;
  return before.some((v, i) => Math.abs(after[i] - v) > SCALE_STEP * Math.max(Math.abs(v), 1e-9));
}

function previewText(text) {
  return text.replace(/\n/g, "⏎").slice(0, 40);
}

// options: root (a positioned container), pre (holds the spans), scroller (what scrolls; the controls go
// above it), runId, colored (start shaded), live (still streaming), scale ([p50, p95] or null),
// timing(i) -> {gap, tokens, offset}.
function chunkPanel(options) {
  const { root, pre, scroller, runId, timing } = options;
  const choices = shared().colorChoice;
  let scale = options.scale || null;
  let on = choices.has(runId) ? choices.get(runId) : !!options.colored;
  let highlighted = null, pinned = null, hoverListener = null;

  const controls = document.createElement("div");
  controls.className = "xybrid-controls";
  controls.style.cssText = "display:flex;align-items:center;gap:8px;font-size:12px;color:#666;padding:2px 0";
  const toggle = document.createElement("input");
  toggle.type = "checkbox";
  toggle.className = "xybrid-color-toggle";
  toggle.checked = on;
  const label = document.createElement("label");
  label.style.cssText = "display:flex;align-items:center;gap:4px;cursor:pointer";
  label.append(toggle, "shade by gap");
  const legend = document.createElement("span");
  legend.className = "xybrid-legend";
  controls.append(label, legend);
  scroller.parentNode.insertBefore(controls, scroller);

  const tip = document.createElement("div");
  tip.className = "xybrid-tip";
  tip.style.cssText = "position:absolute;display:none;pointer-events:none;z-index:10;font-size:12px;padding:2px 6px;" +
    "background:var(--jp-layout-color0,#fff);border:1px solid var(--jp-border-color1,#bbb);border-radius:3px;white-space:pre";
  root.append(tip);

  const spans = () => pre.querySelectorAll(".xybrid-chunk");
  const spanAt = (i) => pre.querySelector(`.xybrid-chunk[data-index="${i}"]`);
  const showLegend = () => {
    legend.replaceChildren();
    if (!on) return;
    if (!scale) return legend.append(options.live ? "(waiting for gaps)" : "(no gaps: fewer than two chunks)");
    legend.append(`p50 ${scale[0].toFixed(1)} ms `, legendBar(),
      ` p95 ${scale[1].toFixed(1)} ms · each chunk shaded by the gap before it; the first (TTFT) underlined`);
  };
  const repaint = () => {
    for (const span of spans()) paintChunk(span, scale, on);
    pre.classList.toggle("xybrid-shaded", on);
    showLegend();
  };
  toggle.addEventListener("change", () => {
    on = toggle.checked;
    choices.set(runId, on);
    repaint();
  });

  const mark = (index) => {
    if (highlighted) highlighted.style.outline = "";
    highlighted = index === null || index === undefined ? null : spanAt(index);
    if (highlighted) highlighted.style.outline = HIGHLIGHT_OUTLINE;
    return highlighted;
  };
  pre.addEventListener("mouseover", (event) => {
    const span = event.target.closest && event.target.closest(".xybrid-chunk");
    if (!span) return;
    const index = Number(span.dataset.index);
    tip.textContent = describeChunk(index, timing(index));
    const rootRect = root.getBoundingClientRect(), rect = span.getBoundingClientRect();
    tip.style.left = `${Math.max(0, rect.left - rootRect.left)}px`;
    tip.style.top = `${rect.bottom - rootRect.top + 4}px`;
    tip.style.display = "block";
    if (pinned === null) mark(index);
    if (hoverListener) hoverListener(index);
  });
  pre.addEventListener("click", () => {
    if (pinned === null) return;
    pinned = null;
    mark(null);
  });
  pre.addEventListener("mouseleave", () => {
    tip.style.display = "none";
    if (pinned === null) mark(null);
    if (hoverListener) hoverListener(null);
  });
  if (on) repaint(); // spans start unpainted: nothing to undo when the shading is off
  else showLegend();

  return {
    added(newSpans) { if (on) for (const span of newSpans) paintChunk(span, scale, on); },
    setScale(next) {
      if (!scaleMoved(scale, next)) return;
      scale = next;
      if (on) repaint();
    },
    // From the chart or the slowest list. `pin` keeps the outline until the next pin or a click on the
    // text (with `toggle`, pinning the pinned chunk again lets it go) and also scrolls the page to the
    // text; `scroll` scrolls the text to the chunk.
    highlight(index, { pin = false, scroll = false, toggle = false } = {}) {
      if (pin) pinned = toggle && pinned === index ? null : index;
      else if (pinned !== null) return;
      const span = mark(pin && pinned === null ? null : index);
      if (span && scroll) scrollIntoBox(scroller, span, pin);
    },
    onHover(listener) { hoverListener = listener; },
    preview(index) {
      const span = spanAt(index);
      return span ? previewText(span.textContent) : "";
    },
  };
}
