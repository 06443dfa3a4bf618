"""The kernel's side of a load test: start the Locust process tree, read its events, stop it within 2 s.

The tree runs in a session of its own (`python -m xybrid_notebook.load run`), so one
signal reaches the controller and its local workers. Its stdout is one JSON event
per line, read by a daemon thread into a queue; its stderr goes to a log file whose
end is shown if it fails. `stop()` writes `stop` to its stdin and waits up to
`STOP_GRACE_S` for the end of the current level, then kills the group. A tree still
alive when the kernel exits is killed too.

The spec file and the log live in a private folder (`rundir`) that `finish()` removes,
after keeping the log's end (secrets hidden) in `log`. Secret headers reach the tree
only through its environment (`spec.SECRET_HEADERS_ENV`); the key of `api_key_env` is
already in it.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from ..loopback import die_with_parent, stop_group
from ..redact import redact_text
from .rundir import new_run_dir, remove_run_dir
from .spec import SECRET_HEADERS_ENV, LoadSpec

STOP_GRACE_S = 1.5
#: The most of the tree's log a result keeps (its end).
LOG_CHARS = 4000
_LIVE: dict[subprocess.Popen[bytes], Path] = {}


def _kill_live() -> None:
    for process, folder in list(_LIVE.items()):
        stop_group(process, grace_s=1.0)
        remove_run_dir(folder)


atexit.register(_kill_live)


def controller_argv(spec_path: Path) -> list[str]:
    """The command that runs the controller (a test may prefix it, e.g. to run it in a network namespace)."""
    return [sys.executable, "-m", "xybrid_notebook.load", "run", "--spec", str(spec_path)]


def tree_environment(spec: LoadSpec) -> dict[str, str]:
    """The environment of the process tree: the kernel's, unbuffered, with the secret headers (if any)."""
    env = {key: value for key, value in os.environ.items() if key != SECRET_HEADERS_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    hidden = spec.secret_headers()
    if hidden:
        env[SECRET_HEADERS_ENV] = json.dumps(hidden)
    return env


class LoadProcess:
    """One running load test's process tree and its event stream."""

    def __init__(self, spec: LoadSpec, prompts: list[Any]) -> None:
        self._dir = new_run_dir()
        self._secrets = spec.secrets()
        self.log_path = self._dir / "load.log"
        self.log = ""
        spec_path = self._dir / "spec.json"  # the controller removes it once read
        with open(os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(json.dumps({"spec": spec.to_json(), "prompts": prompts}))
        self.events: queue.Queue[Optional[dict[str, Any]]] = queue.Queue()
        try:
            with open(self.log_path, "wb") as log:
                self.process = subprocess.Popen(
                    controller_argv(spec_path),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    start_new_session=True,
                    preexec_fn=die_with_parent,
                    env=tree_environment(spec),
                )
        except BaseException:
            remove_run_dir(self._dir)
            raise
        _LIVE[self.process] = self._dir
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
        """Wait up to `grace_s` for the tree to exit, then kill what is left of it, keep its log's end in `log`,
        and remove its folder."""
        deadline = time.monotonic() + grace_s
        while self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        stop_group(self.process, grace_s=0.5)  # the controller if it is still running, and any worker left
        if self.process.stdin is not None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        _LIVE.pop(self.process, None)
        self.log = self._read_log()
        remove_run_dir(self._dir)

    def _read_log(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return self.log
        return redact_text(text, self._secrets)[-LOG_CHARS:].strip()

    def log_tail(self, chars: int = 1500) -> str:
        """The end of the tree's stderr (secrets hidden)."""
        return (self._read_log() if self._dir.exists() else self.log)[-chars:]
