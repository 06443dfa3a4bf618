// Loads plotly.js once per browser page and shares it as globalThis.__xybrid.plotly (a promise).
// The kernel sends the source once, as a binary buffer in a custom message, never in widget state.
// This module also carries the run view's code (run_view.js), once per page, and hands it to the
// runs' small modules as globalThis.__xybrid.runView; and it upgrades the static forms of
// finished runs already in the page (a reopened notebook).
function announceRunView(x) {
  x.runView = runView;
  for (const resolve of globalThis.__xybridRunViewWaiters || []) resolve(runView);
  globalThis.__xybridRunViewWaiters = [];
}

function evaluate(buffer) {
  const x = shared();
  const source = new TextDecoder().decode(buffer);
  const module = { exports: {} };
  // plotly.min.js is UMD: with a `module` it fills module.exports (and sets window.Plotly).
  new Function("module", "exports", "define", source)(module, module.exports, undefined);
  x.resolvePlotly(module.exports && module.exports.newPlot ? module.exports : globalThis.Plotly);
}

export default {
  initialize({ model }) {
    const x = shared();
    // One id per page: the kernel waits for every page that is still evaluating plotly.js.
    x.pageId = x.pageId || Math.random().toString(36).slice(2);
    const tell = (state) => model.send({ page: x.pageId, state });
    announceRunView(x);
    installUpgrade();
    if (!x.received && globalThis.Plotly && globalThis.Plotly.newPlot) {
      x.received = true;
      x.resolvePlotly(globalThis.Plotly);
    }
    model.on("msg:custom", (msg, buffers) => {
      if (msg && msg.kind === "plotly" && buffers && buffers.length && !x.received) {
        x.received = true;
        // After this handler returns, so that the comm's message queue is not held up.
        setTimeout(() => {
          try {
            evaluate(buffers[0]);
          } catch (error) {
            tell("ready"); // nothing more to wait for
            throw error;
          }
        }, 0);
      }
    });
    tell("loading"); // at once, before the 4.8 MB message is handled
    x.plotly.then(() => tell("ready"));
    // The kernel sends the source when it creates this widget; that message is handled right
    // after initialize. A page that joins later (a reload) got no such message, and asks;
    // the kernel answers when it is idle.
    setTimeout(() => {
      if (!x.received) model.send({ need: "plotly" });
    }, 1500);
  },
};
