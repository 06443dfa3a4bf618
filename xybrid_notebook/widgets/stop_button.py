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

from .esm import widget_module
from .run_view import current_kernel_id

_ESM = (
    widget_module("stop_button.js")
    + """
function render({ model, el }) { el.appendChild(stopButton(model)); }
export default { render };
"""
)


class StopButton(anywidget.AnyWidget):
    """Shown while `running`; a click interrupts the kernel through the Jupyter server."""

    _esm = _ESM
    kernel_id = traitlets.Unicode("").tag(sync=True)
    running = traitlets.Bool(False).tag(sync=True)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(kernel_id=current_kernel_id() or "", **kwargs)
