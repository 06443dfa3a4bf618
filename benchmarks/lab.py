"""JupyterLab on loopback for the browser benchmark and the browser tests: no token, stopped with its kernels."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from xybrid_notebook.loopback import LOOPBACK, free_port, running_server

CHROMIUM = Path("/usr/bin/chromium")  # Debian's, driven by Playwright (never a downloaded browser)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def jupyterlab(root: Path) -> Iterator[str]:
    """JupyterLab serving `root` on loopback, no token, the app exposed to page scripts; its URL.

    Its kernels' connection files and the server's log (`server.log`) are in `root / ".runtime"`, out of
    the file browser's sight.
    Stopped, with every kernel it started (they share its process group), whatever happens.
    """
    port = free_port()
    settings = root / ".settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "HF_HUB_OFFLINE": "1",
        "JUPYTERLAB_WORKSPACES_DIR": str(root / ".workspaces"),
        "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
    }
    argv = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        f"--port={port}",
        f"--ip={LOOPBACK}",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_root=True",
        "--LabApp.news_url=",
        "--LabApp.expose_app_in_browser=True",
    ]
    url = f"http://{LOOPBACK}:{port}"
    log = root / ".runtime" / "server.log"
    with running_server(argv, f"{url}/api/status", log, name="JupyterLab", env=env, cwd=root, timeout_s=60):
        yield url
