// A run's own module: the run view's code comes once per page with the plotly loader's module,
// which hands it to the runs waiting for it; until then the run's messages are kept.
function runViewCode() {
  const x = globalThis.__xybrid;
  if (x && x.runView) return Promise.resolve(x.runView);
  return new Promise((resolve) => {
    globalThis.__xybridRunViewWaiters = globalThis.__xybridRunViewWaiters || [];
    globalThis.__xybridRunViewWaiters.push(resolve);
  });
}

export default {
  initialize({ model }) {
    const early = [];
    const keep = (msg, buffers) => early.push([msg, buffers]);
    model.on("msg:custom", keep);
    let cleanup = null;
    let closed = false;
    runViewCode().then((view) => {
      model.off("msg:custom", keep);
      if (!closed) cleanup = view.initialize({ model }, early);
    });
    return () => {
      closed = true;
      if (cleanup) cleanup();
    };
  },
  async render(context) {
    return (await runViewCode()).render(context);
  },
};
