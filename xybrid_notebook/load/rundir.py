"""Where a running load test keeps its files (the spec, the log), and how none of them outlives it.

Each test gets a folder `<runtime dir>/xybrid-<uid>/load/<pid>-<start>-<random>` (mode 0700),
named after the kernel process that owns it (its pid and start time). The folder is
removed when the test ends, however it ends; a folder whose owner is no longer running
(the kernel died) is removed by the next load test's start. The runtime dir is
`$XDG_RUNTIME_DIR` where set, else the system's temp folder.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Optional

import psutil


def runs_root() -> Path:
    """The per-user folder that holds the running load tests' folders."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"xybrid-{os.getuid()}" / "load"


def _owner_tag(pid: int) -> Optional[str]:
    """`<pid>-<start time>` of a running process, or None if it is gone."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return f"{pid}-{int(process.create_time() * 100)}"
    except psutil.Error:
        return None


def _owner_alive(folder: Path) -> bool:
    pid, _, rest = folder.name.partition("-")
    start = rest.rpartition("-")[0]
    return pid.isdigit() and _owner_tag(int(pid)) == f"{pid}-{start}"


def sweep_orphans(root: Optional[Path] = None) -> list[Path]:
    """Remove the folders of tests whose kernel is no longer running; the folders removed."""
    root = root or runs_root()
    removed = []
    try:
        folders = list(root.iterdir())
    except OSError:
        return []
    for folder in folders:
        if folder.is_dir() and not _owner_alive(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def new_run_dir() -> Path:
    """A fresh private folder for one test, after sweeping the orphans of dead kernels."""
    root = runs_root()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(root.parent, 0o700)
    sweep_orphans(root)
    tag = _owner_tag(os.getpid()) or str(os.getpid())
    folder = root / f"{tag}-{secrets.token_hex(4)}"
    folder.mkdir(mode=0o700)
    return folder


def remove_run_dir(folder: Path) -> None:
    """Remove a test's folder and everything in it (nothing if it is already gone)."""
    shutil.rmtree(folder, ignore_errors=True)
