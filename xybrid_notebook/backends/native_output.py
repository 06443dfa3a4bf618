"""Native libraries' side effects: start-up chatter on fds 1 and 2, and memory held after unload."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import io
from collections.abc import Iterator
from contextlib import contextmanager

from wurlitzer import STDOUT, pipes

from . import engine_log


@contextmanager
def captured_native_output(source: str) -> Iterator[list[str]]:
    """Capture what native code writes to fds 1 and 2 while the block runs; the list holds its lines after.

    llama.cpp and mistral.rs log with fprintf/tracing straight to the process's
    descriptors, which a Jupyter kernel forwards into the cell. wurlitzer swaps the
    descriptors for pipes (and flushes C's own stdio buffers on the way out); the
    lines go to the engine log under `source`, and callers put the last one into
    their error message when loading fails.
    """
    lines: list[str] = []
    captured = io.StringIO()
    try:
        capture = pipes(stdout=captured, stderr=STDOUT)
        capture.__enter__()
    except OSError:  # no usable descriptors to swap (a daemon without stdout): nothing to capture
        capture = None
    try:
        yield lines
    finally:
        if capture is not None:
            capture.__exit__(None, None, None)
        lines.extend(captured.getvalue().splitlines())
        engine_log.record(source, lines)


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
