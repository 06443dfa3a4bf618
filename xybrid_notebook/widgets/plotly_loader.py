"""plotly.js for the run views, sent at most once per kernel and evaluated at most once per page.

Each plotly `FigureWidget` carries plotly's whole bundle in its state, sent with every
instance. Here one hidden widget per kernel sends the installed `plotly.min.js` as a
binary buffer in a custom message: never in any widget's state, so never in a saved
notebook or an exported HTML file. Its JavaScript evaluates it once per page and shares
it as `globalThis.__xybrid.plotly`. A page that joins later (a reload) asks again.

Evaluating plotly.js takes a page a few hundred milliseconds of CPU, on the cores the
engine uses, and so does drawing a page's first chart. So each page says when it starts
("loading") and when it has evaluated plotly.js ("ready"), a run's view says when it is
drawn ("shown"), and `settle_pages(view)`, called before a run starts, waits (at most
`SETTLE_TIMEOUT_S`) until no page is still loading and the view is drawn. The run's cell
is busy then, so the kernel reads those messages through `kernel_pump`. Where no page has
spoken within `HELLO_GRACE_S` of the loader's creation (nbconvert, nbclient: no browser)
nothing waits; a wait that reaches the bound forgets the pages it knew (they were closed),
so the next run waits only for pages that speak again.
The loader's module also upgrades the static forms of finished runs already in the page
(a reopened notebook), so their chunks link to their charts again once `%load_ext` has run.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import anywidget

from .esm import compact_esm, page_module
from .kernel_pump import main_shell_pump

_LOADER: Optional[PlotlyLoader] = None
SETTLE_TIMEOUT_S = 3.0  # the most a run waits for pages still evaluating plotly.js
HELLO_GRACE_S = 1.5  # after the loader's creation: a page that has not spoken by then is not there


@lru_cache(maxsize=1)
def plotly_source() -> bytes:
    """The installed plotly package's minified plotly.js (read without importing plotly)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the plotly package is not installed: pip install plotly")
    return (Path(list(spec.submodule_search_locations)[0]) / "package_data" / "plotly.min.js").read_bytes()


class PlotlyLoader(anywidget.AnyWidget):
    """Never displayed; sends plotly.js on creation and whenever a page asks for it."""

    _esm = compact_esm(page_module("stop_button.js", "run_view.js", "plotly_loader.js"))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sends = 0
        self.created = time.monotonic()
        self.loading: set[str] = set()  # pages that said "loading" and not yet "ready"
        self.pages: set[str] = set()  # every page that has spoken
        self.ready_at: Optional[datetime] = None  # when a page last said "ready"
        self.waits: list[tuple[float, str]] = []  # each `settle_pages`: seconds waited, and why it stopped
        self._changed = threading.Event()
        self.on_msg(self._on_request)
        self.send_source()

    def send_source(self) -> None:
        """One custom message carrying plotly.min.js as a binary buffer."""
        self.send({"kind": "plotly"}, buffers=[plotly_source()])
        self.sends += 1

    def _on_request(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("need") == "plotly":
            self.send_source()
        page, state = content.get("page"), content.get("state")
        if isinstance(page, str) and state in ("loading", "ready"):
            self.pages.add(page)
            if state == "loading":
                self.loading.add(page)
            else:
                self.loading.discard(page)
                self.ready_at = datetime.now()
            self._changed.set()

    def _taker(self, view: Optional[anywidget.AnyWidget], shown: list[bool]) -> Any:
        """The pump's filter: this widget's messages, and `view`'s "shown", are handled now; the rest waits."""
        view_id = view.comm.comm_id if view is not None and view.comm is not None else None

        def take(comm_id: Optional[str], data: dict[str, Any], buffers: list[Any]) -> bool:
            if data.get("method") != "custom":
                return False
            content = data.get("content")
            if view_id is not None and comm_id == view_id and isinstance(content, dict) and content.get("shown"):
                shown.append(True)
                self._changed.set()
                return True
            if self.comm is None or comm_id != self.comm.comm_id:
                return False
            self._on_request(self, content, buffers)
            return True

        return take

    def _settled(self, now: float) -> bool:
        return not self.loading and (bool(self.pages) or now >= self.created + HELLO_GRACE_S)

    def settle_pages(self, timeout_s: Optional[float] = None, view: Optional[anywidget.AnyWidget] = None) -> float:
        """Wait until no page is evaluating plotly.js and, where pages exist, `view` is drawn in one; at most
        `timeout_s` (`SETTLE_TIMEOUT_S`). The seconds waited.

        Returns at once where no page exists (past the hello grace) or the kernel's messages
        cannot be read while a cell runs.
        """
        timeout_s = SETTLE_TIMEOUT_S if timeout_s is None else timeout_s
        started, outcome = time.monotonic(), "messages unreadable here"
        shown: list[bool] = []
        with main_shell_pump(self._taker(view, shown)) as poll:
            while poll is not None:
                poll()
                now = time.monotonic()
                if self._settled(now) and (view is None or shown or not self.pages):
                    outcome = "pages ready" if self.pages else "no page"
                    break
                if now >= started + timeout_s:
                    self.loading.clear()  # closed pages never say "ready" or "shown": wait for them no more
                    self.pages.clear()
                    outcome = "bound reached"
                    break
                self._changed.wait(0.01)
                self._changed.clear()
        waited = time.monotonic() - started
        self.waits.append((waited, outcome))
        return waited


def settle_pages(view: Optional[anywidget.AnyWidget] = None) -> float:
    """Before a run: wait (bounded) until no page is evaluating plotly.js and `view` is drawn; the seconds waited."""
    return _LOADER.settle_pages(view=view) if _LOADER is not None and _LOADER.comm is not None else 0.0


def ensure_plotly_loader() -> PlotlyLoader:
    """The kernel's one loader, created (and plotly.js sent) on first use."""
    global _LOADER
    if _LOADER is None or _LOADER.comm is None:
        _LOADER = PlotlyLoader()
    return _LOADER
