"""The kernel's side of a load test: start the Locust process tree, read its events, stop it within 2 s.

The tree runs in a session of its own (`python -m xybrid_notebook.load run`), so one
signal reaches the controller and its local workers. Its stdout is one JSON event
per line, read by a daemon thread into a queue; its stderr goes to a log file whose
end is shown if it fails. `stop()` writes `stop` to its stdin and waits up to
`STOP_GRACE_S` for the end of the current level, then kills the group. A tree still
alive when the kernel exits is killed too.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from ..loopback import die_with_parent, stop_group
from .spec import LoadSpec

STOP_GRACE_S = 1.5
_LIVE: set[subprocess.Popen[bytes]] = set()


def _kill_live() -> None:
    for process in list(_LIVE):
        stop_group(process, grace_s=1.0)


atexit.register(_kill_live)


class LoadProcess:
    """One running load test's process tree and its event stream."""

    def __init__(self, spec: LoadSpec, prompts: list[Any]) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="xybrid-load-"))
        self.log_path = self._dir / "load.log"
        spec_path = self._dir / "spec.json"
        spec_path.write_text(json.dumps({"spec": spec.to_json(), "prompts": prompts}))
        self.events: queue.Queue[Optional[dict[str, Any]]] = queue.Queue()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "xybrid_notebook.load", "run", "--spec", str(spec_path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                preexec_fn=die_with_parent,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        _LIVE.add(self.process)
        threading.Thread(target=self._read, name="xybrid-load-events", daemon=True).start()

    @property
    def pids(self) -> list[int]:
        """The controller's pid and its children's (workers), for checks that none is left."""
        import psutil

        try:
            return [self.process.pid, *(c.pid for c in psutil.Process(self.process.pid).children(recursive=True))]
        except psutil.Error:
            return [self.process.pid]

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                continue
        self.events.put(None)

    def next_events(self, timeout_s: float) -> Iterator[dict[str, Any]]:
        """Events that arrive within `timeout_s` (all that are queued, at least one wait); a None ends the stream."""
        try:
            event = self.events.get(timeout=timeout_s)
        except queue.Empty:
            return
        while True:
            if event is None:
                self.events.put(None)  # keep the end visible to the next call
                yield {"event": "exit", "code": self.process.wait()}
                return
            yield event
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return

    def stop(self) -> None:
        """Ask the tree to stop after the users of the current level are stopped."""
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(b"stop\n")
            self.process.stdin.flush()
        except (OSError, ValueError):
            pass

    def finish(self, grace_s: float = STOP_GRACE_S) -> None:
        """Wait up to `grace_s` for the tree to exit, then kill what is left of it; forget it."""
        deadline = time.monotonic() + grace_s
        while self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        stop_group(self.process, grace_s=0.5)  # the controller if it is still running, and any worker left
        if self.process.stdin is not None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        _LIVE.discard(self.process)

    def log_tail(self, chars: int = 1500) -> str:
        """The end of the tree's stderr."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""
