"""Hub references through huggingface_hub's real client against a loopback stand-in for the Hub (`HF_ENDPOINT`):
split files on both engines, an interrupted download that resumes (with its plain bar), and one line for each
way a reference can fail. (The notebook's bar, the cache layout and the offline second kernel: test_notebook.py.)"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from .conftest import CHAT_FILE, CHAT_REPO, GATED_REPO, NO_GGUF_REPO, SPLIT_FIRST, SPLIT_REPO, Machine, kernel_report
from .hub_standin import HubStandIn

CTX = "--ctx 256"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def repo_folder(machine: Machine, repo: str) -> Path:
    return machine.hub_cache / f"models--{repo.replace('/', '--')}"


def check_one_line_errors(steps: list[dict[str, object]]) -> None:
    for step in steps:
        error = step["error"]
        assert error is None or ("\n" not in str(error) and "Traceback" not in str(step["output"]))


def test_a_split_gguf_is_fetched_whole_and_loaded_from_its_first_part(machine: Machine, hub: HubStandIn) -> None:
    report = machine.run(f"load {SPLIT_REPO} {CTX}", f"load {SPLIT_REPO} --backend mistralrs {CTX}")
    check_one_line_errors(report["steps"])
    assert [step["error"] for step in report["steps"]] == [None, None], report
    assert f"Loaded {SPLIT_REPO}:Q4_1 on llama-cpp" in report["steps"][0]["output"]
    assert f"Loaded {SPLIT_REPO}:Q4_1 on mistralrs" in report["steps"][1]["output"]
    source = Path(report["source"])
    assert source.name == SPLIT_FIRST and (source.parent / SPLIT_FIRST.replace("00001-of", "00002-of")).is_file()
    fetched = {r.path.rsplit("/", 1)[-1] for r in hub.log if r.method == "GET" and "/resolve/" in r.path}
    assert fetched >= {SPLIT_FIRST, SPLIT_FIRST.replace("00001-of", "00002-of")}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_each_failure_is_one_line_and_the_loaded_model_stays(machine: Machine) -> None:
    report = machine.run(
        f"load smollm2-135m-instruct {CTX}",
        "load nosuch-org/nosuch-repo:Q4_K_M",
        f"load {CHAT_REPO}:Q8_0",
        f"load {GATED_REPO}",
        f"load {NO_GGUF_REPO}",
        f"load {CHAT_REPO}/nosuch.gguf",
        f"info {SPLIT_REPO}",
        HF_TOKEN="hf_xybridSecretTokenValue",
    )
    check_one_line_errors(report["steps"])
    errors = [step["error"] for step in report["steps"]]
    card = report["steps"][-1]["output"]  # a card before the download: what the Hub's listing says
    assert (
        errors[-1] is None and f"{SPLIT_REPO}/{SPLIT_FIRST} (2 parts)" in card and "Q4_1 (from the file name)" in card
    )
    assert "not read yet" in card and not repo_folder(machine, SPLIT_REPO).exists()
    assert errors[0] is None and report["model"] == "smollm2-135m-instruct"
    assert errors[1].startswith("ModelNotFound: no repo nosuch-org/nosuch-repo on the Hub (http://127.0.0.1:")
    assert errors[2] == f"ModelNotFound: {CHAT_REPO} has no Q8_0 GGUF: it has Q4_1"
    assert errors[3].startswith(f"ModelUnreachable: {GATED_REPO} is a gated repo") and "HF_TOKEN" in errors[3]
    assert "has no access" in errors[3] and "hf_xybridSecretTokenValue" not in str(report)
    assert (
        errors[4] == f"ModelNotFound: {NO_GGUF_REPO} has no GGUF file (it has .json ×2, .safetensors): pick a GGUF repo"
    )
    assert errors[5].startswith(f"ModelNotFound: {CHAT_REPO} has no GGUF file nosuch.gguf")

    no_token = machine.run(f"load {GATED_REPO}")["steps"][0]["error"]
    assert "no token is set: set HF_TOKEN" in no_token
    offline = machine.run(f"load {CHAT_REPO}:Q4_1", offline=True)["steps"][0]["error"]
    assert offline.startswith(f"ModelUnreachable: hf:{CHAT_REPO}:Q4_1 is not in the Hugging Face cache")
    assert "HF_HUB_OFFLINE=1" in offline
    unreachable = machine.run(f"load {CHAT_REPO}:Q4_1", HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}")
    assert unreachable["steps"][0]["error"].startswith("ModelUnreachable: cannot reach the Hub at http://127.0.0.1:")


def wait_for_half(blobs: Path, size: int, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        partial = list(blobs.glob("*.xybrid-partial")) if blobs.is_dir() else []
        if partial and partial[0].stat().st_size >= size // 2:
            return partial[0].stat().st_size
        time.sleep(0.05)
    raise AssertionError("the download never reached half")


def test_an_interrupted_download_is_never_loaded_and_the_next_load_resumes_it(
    machine: Machine, hub: HubStandIn, chat_gguf: Path
) -> None:
    size = chat_gguf.stat().st_size
    hub.slow[CHAT_FILE] = 0.04
    try:
        kernel = machine.start(f"load {CHAT_REPO}:Q4_1 {CTX}")
        blobs = repo_folder(machine, CHAT_REPO) / "blobs"
        at_interrupt = wait_for_half(blobs, size)
        os.kill(kernel.pid, signal.SIGINT)
        stopped = kernel_report(kernel)
    finally:
        hub.slow.clear()
    line = stopped["steps"][0]["output"]
    assert "Load cancelled; nothing stays loaded." in line and "MB of the download are kept" in line
    assert stopped["model"] is None
    (partial,) = blobs.glob("*.xybrid-partial")
    kept = partial.stat().st_size
    assert size // 2 <= at_interrupt <= kept < size and not (blobs.parent / "snapshots").exists()

    offline = machine.run(f"load {CHAT_REPO}:Q4_1 {CTX}", offline=True)
    assert offline["model"] is None and "not in the Hugging Face cache" in offline["steps"][0]["error"]

    resumed = machine.run(f"load {CHAT_REPO}:Q4_1 {CTX}")
    assert resumed["steps"][0]["error"] is None and resumed["model"] == f"{CHAT_REPO}:Q4_1"
    shown = resumed["steps"][0]["output"]  # tqdm's plain bar outside a notebook: bytes, rate, ETA
    assert f"Downloading {CHAT_REPO}/{CHAT_FILE}" in shown and "100%" in shown and "B/s" in shown
    ranges = [r.range for r in hub.requests_for(CHAT_FILE) if r.method == "GET"]
    assert ranges[-1] == f"bytes={kept}-"
    assert sha256(Path(resumed["source"])) == sha256(chat_gguf) and not list(blobs.glob("*.xybrid-partial"))


def test_a_download_cut_short_or_a_full_disk_is_one_line() -> None:
    from xybrid_notebook.errors import ModelUnreachable
    from xybrid_notebook.model_sources.hub import hub_errors
    from xybrid_notebook.model_sources.refs import HubRef

    stopped = r"^the download of hf:o/r:Q4_K_M stopped \(No space left on device\)"
    with pytest.raises(ModelUnreachable, match=stopped), hub_errors(HubRef("o/r", "Q4_K_M")):
        raise OSError(28, "No space left on device")
