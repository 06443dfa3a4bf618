"""Reading one widget's messages from the browser while a cell runs (ipykernel 7), leaving every other message queued.

A running cell blocks the kernel's main thread, so messages from the page wait until
it ends. `main_shell_pump(accept)` lets the cell read them now: it swaps the main
shell stream's receive callback for one that hands each queued `comm_msg` to
`accept(comm_id, data, buffers)` and keeps everything `accept` declines (execute
requests, other widgets' messages) to be re-queued, in order, when the block ends.
Messages are only peeked at (no signature recorded), so the re-queued ones are
processed as if nothing had happened. It relies on ipykernel's shell stream and
ZMQStream internals; where they differ it yields None and the caller cannot read
messages (it must not wait then).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, Optional

Accept = Callable[[Optional[str], dict[str, Any], list[Any]], bool]
Poll = Callable[[], Any]
_active = threading.Lock()


def _main_shell_stream() -> tuple[Any, Any]:
    """(the main shell's ZMQStream, the kernel's session); raises where this kernel is not one we know."""
    from ipykernel.eventloops import get_shell_stream
    from IPython import get_ipython

    kernel = get_ipython().kernel
    channel_thread = getattr(kernel, "shell_channel_thread", None)
    if channel_thread is not None and threading.current_thread() is not channel_thread.parent_thread:
        raise RuntimeError("not on the main shell (a subshell)")
    stream = get_shell_stream(kernel)
    stream._recv_callback, stream._recv_copy  # noqa: B018  (the internals swapped below must exist)
    return stream, kernel.session


@contextlib.contextmanager
def main_shell_pump(accept: Accept) -> Iterator[Optional[Poll]]:
    """Yield `poll()`, which reads the main shell's queued messages now (or None where that is not possible)."""
    if not _active.acquire(blocking=False):
        yield None
        return
    try:
        stream, session = _main_shell_stream()
    except Exception:
        _active.release()
        yield None
        return
    import zmq

    original, copy = stream._recv_callback, stream._recv_copy
    held: list[Any] = []

    def take(frames: Any) -> None:
        try:
            _, parts = session.feed_identities(frames, copy=copy)
            message = session.deserialize(parts, content=False, copy=copy)  # content=False: no signature kept
            if message["header"]["msg_type"] == "comm_msg":
                content = session.unpack(message["content"])
                if accept(content.get("comm_id"), content.get("data") or {}, message["buffers"]):
                    return
        except Exception:
            pass
        held.append(frames)

    stream.on_recv(take, copy=copy)
    try:
        yield lambda: stream.flush(zmq.POLLIN)
    finally:
        stream.on_recv(original, copy=copy)
        for frames in held:  # as ZMQStream runs its callback: the same order, after this cell
            result = original(frames)
            if asyncio.iscoroutine(result) or asyncio.isfuture(result):
                asyncio.ensure_future(result)
        _active.release()
