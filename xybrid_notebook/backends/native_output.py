"""Native libraries' side effects: start-up chatter on fds 1 and 2, and memory held after unload."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from typing import Iterator

from . import engine_log


@contextmanager
def _redirected(fd: int, lines: list[str]) -> Iterator[None]:
    try:
        saved = os.dup(fd)
    except OSError:  # no such descriptor: nothing to capture
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode("utf-8", errors="replace").splitlines())


@contextmanager
def captured_native_output(source: str) -> Iterator[list[str]]:
    """Point fds 1 and 2 at temporary files while the block runs; the list holds their lines after.

    llama.cpp and mistral.rs log with fprintf/tracing straight to the process's
    descriptors, which a Jupyter kernel forwards into the cell. The lines go to
    the engine log under `source`; callers put the last one into their error
    message when loading fails.
    """
    lines: list[str] = []
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    with ExitStack() as stack:
        stack.callback(lambda: engine_log.record(source, lines))
        for fd in (1, 2):
            stack.enter_context(_redirected(fd, lines))
        yield lines


def release_native_memory() -> None:
    """Collect garbage, then ask glibc to hand freed heap pages back to the OS (Linux only)."""
    gc.collect()
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    try:
        ctypes.CDLL(libc_name).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
