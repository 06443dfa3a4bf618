"""In a real Jupyter kernel: a run waits for pages still evaluating plotly.js, reading their messages while busy.

The page's side is played by the test's own client, which sends the loader widget's
custom messages ("loading", then "ready") while a cell is running; no browser, no timing
targets: only the order of events and the bounds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from jupyter_client.manager import KernelManager

pytestmark = pytest.mark.slow


def _outputs(client, msg_id: str, timeout: float = 60) -> str:
    """Everything the cell `msg_id` printed, once the kernel is idle after it."""
    text, deadline = "", time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            text += msg["content"]["text"]
        elif msg["msg_type"] == "error":
            raise AssertionError(msg["content"]["evalue"])
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return text
    raise AssertionError("the cell did not finish")


@pytest.fixture
def kernel() -> Iterator:
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _page_says(client, comm_id: str, page: str, state: str) -> None:
    data = {"method": "custom", "content": {"page": page, "state": state}}
    client.shell_channel.send(client.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))


def test_a_run_waits_for_a_loading_page_and_later_cells_keep_their_order(kernel) -> None:
    setup = kernel.execute(
        "from xybrid_notebook.widgets.plotly_loader import ensure_plotly_loader, settle_pages\n"
        "loader = ensure_plotly_loader(); print(loader.comm.comm_id)"
    )
    comm_id = _outputs(kernel, setup).strip()
    _page_says(kernel, comm_id, "p1", "loading")  # handled at once: the kernel is idle
    _outputs(kernel, kernel.execute("assert loader.loading == {'p1'}"))
    waiting = kernel.execute(
        "import json; waited = settle_pages()\n"
        "print(json.dumps({'waited': waited, 'pages': sorted(loader.pages), 'loading': sorted(loader.loading)}))"
    )
    after = kernel.execute("print('after', len(loader.pages))")
    time.sleep(0.6)
    _page_says(kernel, comm_id, "p1", "ready")  # read by the busy cell, ahead of the queued one
    report = json.loads(_outputs(kernel, waiting))
    assert report["pages"] == ["p1"] and report["loading"] == []
    assert 0.5 <= report["waited"] < 3.0  # it waited for "ready", not for the bound
    assert _outputs(kernel, after).strip() == "after 1"  # the cell queued behind ran after, as usual


def test_without_a_page_a_run_does_not_wait_past_the_grace(kernel) -> None:
    cell = kernel.execute(
        "import time; from xybrid_notebook.widgets.plotly_loader import ensure_plotly_loader, HELLO_GRACE_S\n"
        "loader = ensure_plotly_loader(); time.sleep(HELLO_GRACE_S)\n"
        "print(round(loader.settle_pages(), 3))"
    )
    assert float(_outputs(kernel, cell)) < 0.1


def test_a_page_that_never_says_ready_costs_at_most_the_bound(kernel) -> None:
    setup = kernel.execute(
        "from xybrid_notebook.widgets.plotly_loader import ensure_plotly_loader\n"
        "loader = ensure_plotly_loader(); print(loader.comm.comm_id)"
    )
    comm_id = _outputs(kernel, setup).strip()
    _page_says(kernel, comm_id, "gone", "loading")
    cell = kernel.execute(
        "print(round(loader.settle_pages(timeout_s=1.0), 3), loader.waits[-1][1]); assert not loader.pages"
    )
    waited, rest = _outputs(kernel, cell).split(" ", 1)
    assert 1.0 <= float(waited) < 1.5 and rest.strip() == "bound reached"


def test_a_run_waits_until_its_view_is_drawn_where_a_page_exists(kernel) -> None:
    setup = kernel.execute(
        "from xybrid_notebook.widgets.plotly_loader import ensure_plotly_loader\n"
        "from xybrid_notebook.widgets.run_view import RunWidget\n"
        "loader, view = ensure_plotly_loader(), RunWidget(run_id='r1')\n"
        "print(loader.comm.comm_id, view.comm.comm_id)"
    )
    loader_id, view_id = _outputs(kernel, setup).split()
    _page_says(kernel, loader_id, "p1", "ready")  # a page exists, plotly.js evaluated
    _outputs(kernel, kernel.execute("assert loader.pages == {'p1'} and not loader.loading"))
    waiting = kernel.execute("print(round(loader.settle_pages(view=view), 3), loader.waits[-1][1])")
    time.sleep(0.5)
    shown = {"method": "custom", "content": {"shown": True}}
    kernel.shell_channel.send(kernel.session.msg("comm_msg", {"comm_id": view_id, "data": shown}))
    waited, outcome = _outputs(kernel, waiting).split(" ", 1)
    assert 0.4 <= float(waited) < 3.0 and outcome.strip() == "pages ready"
