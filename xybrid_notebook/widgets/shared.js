// The page-level state every xybrid module shares: one object on globalThis, made by whichever
// module loads first (the loader's and the Stop button's modules are separate copies of these parts).
function shared() {
  const g = globalThis;
  if (!g.__xybrid) {
    let resolve;
    const plotly = new Promise((r) => (resolve = r));
    // received: plotly.js arrived (it is evaluated once); colorChoice: run id -> "shade by gap" choice
    g.__xybrid = { plotly, resolvePlotly: resolve, received: false, colorChoice: new Map() };
  }
  return g.__xybrid;
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// A copy of a received buffer (a DataView) that typed arrays can view: its offset may not be aligned.
function floats(buffer, Type) {
  return new Type(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength));
}
