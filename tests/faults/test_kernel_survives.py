"""In a real Jupyter kernel: an engine that segfaults is refused in one line, the kernel and its model live on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

from xybrid_notebook import DEFAULT_MODEL

from .fake_engines import SAFE_NOTE

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


class Kernel:
    """A started ipykernel and what each cell sent back."""

    def __init__(self, manager: KernelManager) -> None:
        self.manager = manager
        self.client = manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 180) -> dict[str, Any]:
        """Execute `code`; its stdout, stderr and error name/value."""
        out: dict[str, Any] = {"stdout": "", "stderr": "", "error": None, "data": ""}

        def hook(msg: dict[str, Any]) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out[content["name"]] += content["text"]
            elif kind == "error":
                out["error"] = f"{content['ename']}: {content['evalue']}"
            elif kind in ("execute_result", "display_data"):
                out["data"] += content["data"].get("text/plain", "")

        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=hook)
        out["status"] = reply["content"]["status"]
        return out


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    cache = tmp_path_factory.mktemp("cache")
    env = {**os.environ, "XYBRID_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    models = Path(os.environ.get("XYBRID_CACHE_DIR") or Path.home() / ".cache" / "xybrid_notebook") / "models"
    if models.is_dir():  # reuse the assembled default model; probes still start from nothing
        (cache / "models").symlink_to(models, target_is_directory=True)
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env=env, cwd=str(ROOT))
    kernel = Kernel(manager)
    try:
        yield kernel
    finally:
        kernel.client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_a_segfaulting_engine_is_refused_and_the_loaded_model_stays(kernel: Kernel, model_path: Path) -> None:
    setup = kernel.run(
        "%load_ext xybrid_notebook\n"
        "from xybrid_notebook import register_backend\n"
        "from tests.faults.fake_engines import AlwaysCrashingBackend, CrashUnlessSafeBackend\n"
        "register_backend('segv', AlwaysCrashingBackend); register_backend('fragile', CrashUnlessSafeBackend)\n"
        "kept = 'values the user made'\n"
        "%xybrid load --ctx 512"
    )
    assert setup["status"] == "ok", setup
    assert f"Loaded {DEFAULT_MODEL} on llama-cpp" in setup["stdout"]

    crash = kernel.run(f"%xybrid load {model_path} --backend segv")
    assert crash["status"] == "error"
    shown = crash["stderr"].strip()  # IPython shows a UsageError as one line on stderr, no traceback
    assert shown.startswith("UsageError: BackendUnavailable: fake engine segv crashes on this machine"), crash
    assert "default settings: SIGSEGV; safe mode: SIGSEGV" in shown
    assert "\n" not in shown and crash["error"] is None

    after = kernel.run("print(kept)\n%xybrid status")
    assert after["status"] == "ok" and "values the user made" in after["stdout"]
    assert DEFAULT_MODEL in after["data"] and "llama-cpp" in after["data"]


def test_a_fragile_engine_runs_in_safe_mode_and_says_so(kernel: Kernel, model_path: Path) -> None:
    kernel.run("%load_ext xybrid_notebook")
    loaded = kernel.run(f"%xybrid load {model_path} --backend fragile")
    assert loaded["status"] == "ok", loaded
    assert loaded["stdout"].splitlines()[1] == SAFE_NOTE
    status = kernel.run("%xybrid status")
    assert SAFE_NOTE in status["data"]
    run = kernel.run("%%generate --text -n 4\nHello\n")
    assert run["status"] == "ok", run
    record = kernel.run("print(_xybrid_last.engine_settings)\n%xybrid history")
    assert record["stdout"].strip() == "safe mode"
    assert "safe mode" in record["data"]
    kernel.run("%xybrid unload")
