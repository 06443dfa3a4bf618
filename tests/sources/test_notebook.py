"""In a fresh Jupyter kernel: `%xybrid load org/repo:QUANT` shows tqdm's notebook bar (an ipywidgets progress bar
driven to the file's size) and a Stop button, loads the model, and says where it cached it; the cache has the
real layout, and a second kernel loads the model with `HF_HUB_OFFLINE=1`, asking the Hub nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

from .conftest import CHAT_FILE, CHAT_REPO, Machine
from .hub_standin import HubStandIn
from .test_hub import repo_folder, sha256

pytestmark = pytest.mark.slow


def run_cell(client: Any, code: str, timeout: float = 120) -> list[dict[str, Any]]:
    """Every iopub message the cell caused, until the kernel is idle after it."""
    msg_id, messages, deadline = client.execute(code), [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages
    raise AssertionError("the cell did not finish")


def test_a_notebook_load_shows_a_progress_bar_then_a_second_kernel_loads_offline(
    machine: Machine, hub: HubStandIn, chat_gguf: Path
) -> None:
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env=machine.env(XYBRID_VIEW="auto"))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        run_cell(client, "%load_ext xybrid_notebook")
        messages = run_cell(client, f"%xybrid load {CHAT_REPO}:Q4_1 --ctx 256")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    text = "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")
    assert not [m for m in messages if m["msg_type"] == "error"], text
    assert "Cached at " in text and f"Loaded {CHAT_REPO}:Q4_1 on llama-cpp" in text
    models = {
        m["content"]["comm_id"]: m["content"]["data"]["state"]
        for m in messages
        if m["msg_type"] == "comm_open" and "state" in m["content"]["data"]
    }
    bars = [cid for cid, state in models.items() if state.get("_model_name") == "FloatProgressModel"]
    assert len(bars) == 1 and models[bars[0]]["max"] == chat_gguf.stat().st_size
    values = [
        m["content"]["data"]["state"]["value"]
        for m in messages
        if m["msg_type"] == "comm_msg"
        and m["content"]["comm_id"] == bars[0]
        and "value" in m["content"]["data"].get("state", {})
    ]
    assert values and values[-1] == chat_gguf.stat().st_size
    labels = [s.get("value", "") for s in models.values() if s.get("_model_name") == "HTMLModel"]
    updates = [
        m["content"]["data"]["state"].get("value", "")
        for m in messages
        if m["msg_type"] == "comm_msg" and "state" in m["content"]["data"]
    ]
    assert any(CHAT_FILE in label for label in labels + updates)
    assert any("B/s" in str(update) for update in updates)  # tqdm's rate and ETA beside the bar
    assert any(s.get("running") is True for s in models.values())  # the Stop button, shown while it downloads

    folder = repo_folder(machine, CHAT_REPO)
    commit = (folder / "refs/main").read_text()
    snapshot_file = folder / "snapshots" / commit / CHAT_FILE
    assert f"Cached at {snapshot_file}" in text
    blob = snapshot_file.resolve()
    assert snapshot_file.is_symlink() and blob.parent == folder / "blobs" and blob.name == sha256(chat_gguf)
    assert sha256(blob) == blob.name and not list((folder / "blobs").glob("*.xybrid-partial"))

    asked = len(hub.log)
    second = machine.run(f"load {CHAT_REPO}:Q4_1 --ctx 256", "GENERATE", offline=True)
    assert [step["error"] for step in second["steps"]] == [None, None] and len(hub.log) == asked  # no request at all
    assert second["steps"][1]["text"] and second["source"] == str(snapshot_file)
