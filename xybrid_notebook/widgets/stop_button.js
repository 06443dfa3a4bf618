// The Stop button of the run view and the sweep view. Prepended to each view's module.
// -- Stop: the kernel does not read comm messages while a cell runs, so ask the server -------
function interruptTarget(kernelId) {
  const node = document.getElementById("jupyter-config-data");
  if (!node || !kernelId) return null;
  const config = JSON.parse(node.textContent || "{}");
  const base = (config.baseUrl || "/").replace(/\/?$/, "/");
  return { url: base + "api/kernels/" + kernelId + "/interrupt", token: config.token || "" };
}

function stopButton(model) {
  const button = document.createElement("button");
  button.className = "xybrid-stop jupyter-button";
  button.title = "Stop this run (interrupts the kernel; the model stays loaded)";
  button.textContent = "■ Stop";
  const target = interruptTarget(model.get("kernel_id"));
  const sync = () => {
    const running = model.get("running");
    button.style.display = target && running ? "" : "none";
    button.disabled = !running;
    if (running) button.textContent = "■ Stop";
  };
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = "Stopping…";
    const headers = {};
    const xsrf = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
    if (xsrf) headers["X-XSRFToken"] = decodeURIComponent(xsrf[1]);
    if (target.token) headers["Authorization"] = "token " + target.token;
    try {
      await fetch(target.url, { method: "POST", headers, credentials: "same-origin" });
    } catch (error) {
      button.textContent = "Stop failed: use Kernel ▸ Interrupt";
    }
  });
  model.on("change:running", sync);
  sync();
  return button;
}
