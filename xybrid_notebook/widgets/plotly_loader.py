"""plotly.js for the run views, sent at most once per kernel and evaluated at most once per page.

Each plotly `FigureWidget` carries plotly's whole bundle in its state, sent with every
instance. Here one hidden widget per kernel sends the installed `plotly.min.js` as a
binary buffer in a custom message: never in any widget's state, so never in a saved
notebook or an exported HTML file. Its JavaScript evaluates it once per page and shares
it as `globalThis.__xybrid.plotly`. A page that joins later (a reload) asks again; the
kernel answers when it is idle. The loader's module also upgrades the static forms of
finished runs already in the page (a reopened notebook), so their chunks link to their
charts again once `%load_ext` has run.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import anywidget

from .esm import compact_esm, page_module

_LOADER: Optional[PlotlyLoader] = None


@lru_cache(maxsize=1)
def plotly_source() -> bytes:
    """The installed plotly package's minified plotly.js (read without importing plotly)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the plotly package is not installed: pip install plotly")
    return (Path(list(spec.submodule_search_locations)[0]) / "package_data" / "plotly.min.js").read_bytes()


class PlotlyLoader(anywidget.AnyWidget):
    """Never displayed; sends plotly.js on creation and whenever a page asks for it."""

    _esm = compact_esm(page_module("plotly_loader.js"))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sends = 0
        self.on_msg(self._on_request)
        self.send_source()

    def send_source(self) -> None:
        """One custom message carrying plotly.min.js as a binary buffer."""
        self.send({"kind": "plotly"}, buffers=[plotly_source()])
        self.sends += 1

    def _on_request(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("need") == "plotly":
            self.send_source()


def ensure_plotly_loader() -> PlotlyLoader:
    """The kernel's one loader, created (and plotly.js sent) on first use."""
    global _LOADER
    if _LOADER is None or _LOADER.comm is None:
        _LOADER = PlotlyLoader()
    return _LOADER
