"""A real JupyterLab on loopback and a headless Debian Chromium driven by Playwright.

The server runs on a free port, without a token, in a temporary copy of the
example notebooks, and is stopped (its whole process group) whatever happens.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from benchmarks.lab import CHROMIUM, CHROMIUM_FLAGS, jupyterlab

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"


@dataclass
class Lab:
    """A running JupyterLab: its URL, its notebook folder and its runtime folder."""

    url: str
    root: Path
    runtime: Path

    def api(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(f"{self.url}/{path}", method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def kernel_id(self, notebook: str) -> str:
        """The id of the kernel of the open notebook `notebook` (other tests' kernels may still run)."""
        (kernel_id,) = [s["kernel"]["id"] for s in self.api("api/sessions") if s["path"] == notebook]
        return kernel_id

    def kernel_eval(self, notebook: str, expression: str) -> Any:
        """Evaluate a JSON-able expression in the kernel of `notebook`, through a second client."""
        from jupyter_client import BlockingKernelClient, find_connection_file

        kernel_id = self.kernel_id(notebook)
        client = BlockingKernelClient(
            connection_file=find_connection_file(f"kernel-{kernel_id}.json", path=[str(self.runtime)])
        )
        client.load_connection_file()
        client.start_channels()
        printed: list[str] = []

        def keep_stdout(msg: dict) -> None:
            if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
                printed.append(msg["content"]["text"])

        try:
            code = f"import json as _json; print(_json.dumps({expression}))"
            reply = client.execute_interactive(code, timeout=30, output_hook=keep_stdout)
        finally:
            client.stop_channels()
        assert reply["content"]["status"] == "ok", reply["content"]
        return json.loads("".join(printed))


def exported_html(notebook: Path) -> str:
    """`jupyter nbconvert --to html` of a saved notebook: what a reader without a kernel sees."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--stdout", str(notebook)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 with no token, serving a copy of example_notebooks."""
    root = tmp_path_factory.mktemp("lab")
    for notebook in (REPO / "example_notebooks").glob("*.ipynb"):
        shutil.copy(notebook, root / notebook.name)
    with jupyterlab(root) as url:
        yield Lab(url, root, root / ".runtime")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium (never a downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page; a screenshot of it is saved under test-artifacts/browser at the end."""
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    page = context.new_page()
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=False)
    finally:
        context.close()
