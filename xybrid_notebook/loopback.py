"""Servers started on loopback as child processes: a free port, a wait until the server answers, a clean stop.

`running_server` starts a command in a process group of its own, polls a URL until
the server answers (or fails with the end of its log), and stops the whole group,
children included, whatever happens. The tests and benchmarks start llama.cpp's
servers and JupyterLab through it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class ServerDidNotStart(RuntimeError):
    """A server exited, or did not answer in time; `returncode` is its exit status (negative: killed by that
    signal), None if it was still running."""

    def __init__(self, message: str, returncode: Optional[int]) -> None:
        super().__init__(message)
        self.returncode = returncode


def wait_until_answering(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float, name: str) -> None:
    """Return once `url` answers; raise with the end of the log if the process exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).read()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                raise ServerDidNotStart(f"{name} did not start:\n{tail}", process.returncode) from None
            time.sleep(0.3)


def die_with_parent() -> None:
    """In a child about to run its program (Linux): SIGTERM when the process that started it dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def stop_group(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM the process's group, then SIGKILL it if it has not exited within `grace_s`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
            process.wait(grace_s)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def start_server(
    argv: Sequence[str],
    ready_url: str,
    log: Path,
    *,
    name: str = "the server",
    env: Optional[Mapping[str, str]] = None,
    cwd: Optional[Path] = None,
    timeout_s: float = 90.0,
) -> subprocess.Popen[bytes]:
    """Start `argv` in a process group of its own (stderr to `log`) and return once `ready_url` answers.

    If it does not answer, the group is stopped and the error carries the end of the log.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as server_log:  # the server keeps its own copy of the descriptor
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=server_log,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    try:
        wait_until_answering(ready_url, process, log, timeout_s, name)
    except BaseException:
        stop_group(process)
        raise
    return process


@contextmanager
def running_server(
    argv: Sequence[str],
    ready_url: str,
    log: Path,
    *,
    name: str = "the server",
    env: Optional[Mapping[str, str]] = None,
    cwd: Optional[Path] = None,
    timeout_s: float = 90.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `argv` (its stderr to `log`) until the block ends; the block starts once `ready_url` answers."""
    process = start_server(argv, ready_url, log, name=name, env=env, cwd=cwd, timeout_s=timeout_s)
    try:
        yield process
    finally:
        stop_group(process)
