"""A Stop button (for sweeps) that asks the Jupyter server to interrupt this kernel, as the run view's does.

While a cell runs, the kernel does not read comm messages from the browser, so
a click cannot reach Python. The button's own JavaScript POSTs to the server's
`/api/kernels/<id>/interrupt` instead; the kernel gets a KeyboardInterrupt and
the core cancels the run cleanly. Where the page is not a Jupyter server page
(no config data) or the kernel id is unknown, the button hides itself.
"""

from __future__ import annotations

import anywidget
import traitlets

from .run_view import current_kernel_id

_ESM = r"""
function interruptUrl(kernelId) {
  const node = document.getElementById("jupyter-config-data");
  if (!node || !kernelId) return null;
  const config = JSON.parse(node.textContent || "{}");
  const base = (config.baseUrl || "/").replace(/\/?$/, "/");
  return { url: base + "api/kernels/" + kernelId + "/interrupt", token: config.token || "" };
}

function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "xybrid-stop jupyter-button";
  button.textContent = "■ Stop";
  button.title = "Stop this generation (interrupts the kernel; the model stays loaded)";
  const target = interruptUrl(model.get("kernel_id"));
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
  el.appendChild(button);
}
export default { render };
"""


class StopButton(anywidget.AnyWidget):
    """Shown while `running`; a click interrupts the kernel through the Jupyter server."""

    _esm = _ESM
    kernel_id = traitlets.Unicode("").tag(sync=True)
    running = traitlets.Bool(False).tag(sync=True)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(kernel_id=current_kernel_id() or "", **kwargs)
