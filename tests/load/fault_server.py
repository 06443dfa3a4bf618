"""A loopback stub that misbehaves on purpose: refuses some requests (429/503), stalls, or serves few at once.

It is the cadence stub (`benchmarks/cadence_server.py`) with one of these faults:
- `refuse_every=N`: every Nth request (after the first `spare_first`) is answered with the next of `statuses`
  (a JSON error body);
- `stall=True`: every request (after the first `spare_first`) is read and never answered, the connection held open;
- `slots=K`: at most K streams at once, the others wait in the server (a server with K slots).
Every POST counts as a request (the load test's `/tokenize` probe too). Exact arithmetic and error paths only:
the real llama-server is tested beside it.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Optional

from benchmarks.cadence_server import CadenceServer


class FaultServer(CadenceServer):
    """The cadence stub with a fault; `refused` counts the refusals by status."""

    def __init__(
        self,
        cadence_ms: float = 20.0,
        *,
        refuse_every: int = 0,
        statuses: tuple[int, ...] = (429, 503),
        stall: bool = False,
        slots: int = 0,
        port: int = 0,
        spare_first: int = 0,
    ) -> None:
        self.refuse_every, self.statuses, self.stall, self.spare_first = refuse_every, statuses, stall, spare_first
        self.refused: Counter[int] = Counter()
        self.closing = False
        self._slots: Optional[asyncio.Semaphore] = None
        self._slot_count = slots
        super().__init__(cadence_ms, port=port)

    async def _stream(self, writer: asyncio.StreamWriter, tokens: int) -> None:
        if self.stall and self.requests > self.spare_first:
            while not self.closing:  # read, then silence with the connection open
                await asyncio.sleep(0.05)
            return
        if self.refuse_every and self.requests > self.spare_first and self.requests % self.refuse_every == 0:
            status = self.statuses[(self.requests // self.refuse_every) % len(self.statuses)]
            self.refused[status] += 1
            body = json.dumps({"error": {"code": status, "message": "busy: try again later"}}).encode()
            head = f"HTTP/1.1 {status} Busy\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            writer.write(head.encode() + body)
            await writer.drain()
            return
        if self._slot_count:
            if self._slots is None:
                self._slots = asyncio.Semaphore(self._slot_count)
            async with self._slots:
                await super()._stream(writer, tokens)
            return
        await super()._stream(writer, tokens)

    def close(self) -> None:
        """Release the stalled and waiting requests, stop listening, cut every stream (once)."""
        if self.closing:
            return
        self.closing = True

        async def cancel_the_others() -> None:
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(cancel_the_others(), self.loop).result(5)
        super().close()
