"""A loopback stub of an OpenAI-compatible server that streams chat chunks at a fixed cadence (asyncio).

It answers `/v1/models` and streams `max_tokens` chunks exactly `cadence_ms` apart on an
absolute schedule, for any number of streams at once, so any spread in the gaps a load
generator measures is the generator's own. It can close the connection after every
stream (as llama-server does) and be shut down mid-test (and started again on its port:
`port=`); `token_times` holds the wall-clock time each chunk was written. The load tests and
`benchmarks/load_cost.py` use it; it is never the only proof that a feature works.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time


class CadenceServer:
    """An OpenAI-like server that streams chat chunks `cadence_ms` apart, in a thread of its own."""

    def __init__(self, cadence_ms: float = 20.0, close_after_stream: bool = False, port: int = 0) -> None:
        self.cadence_s = cadence_ms / 1000.0
        self.close_after_stream = close_after_stream
        self.requests = 0
        self.token_times: list[float] = []
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self._writers: set[asyncio.StreamWriter] = set()

        async def start() -> None:
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", port, backlog=512, reuse_address=True)
            self.port = self.server.sockets[0].getsockname()[1]
            started.set()

        self.thread = threading.Thread(target=self._run, args=(start,), daemon=True)
        self.thread.start()
        started.wait(10)
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def _run(self, start: object) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(start())  # type: ignore[operator]
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method, path = lines[0].split(" ")[:2]
                length = next((int(h.split(":")[1]) for h in lines if h.lower().startswith("content-length")), 0)
                body = json.loads(await reader.readexactly(length)) if length else {}
                if method == "GET":
                    payload = json.dumps({"object": "list", "data": [{"id": "stub", "object": "model"}]}).encode()
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        + f"Content-Length: {len(payload)}\r\n\r\n".encode()
                        + payload
                    )
                    await writer.drain()
                    continue
                self.requests += 1
                await self._stream(writer, int(body.get("max_tokens", 16)))
                if self.close_after_stream:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _stream(self, writer: asyncio.StreamWriter, tokens: int) -> None:
        close = b"Connection: close\r\n" if self.close_after_stream else b""
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n" + close)
        writer.write(b"\r\n")
        loop = asyncio.get_running_loop()
        due = loop.time()
        for index in range(tokens):
            due += self.cadence_s
            await asyncio.sleep(max(0.0, due - loop.time()))
            finish = "length" if index == tokens - 1 else None
            event = {"choices": [{"index": 0, "delta": {"content": f"t{index} "}, "finish_reason": finish}]}
            if finish:
                event["usage"] = {"prompt_tokens": 8, "completion_tokens": tokens}
            data = f"data: {json.dumps(event)}\n\n".encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
            self.token_times.append(time.time())
        done = b"data: [DONE]\n\n"
        writer.write(f"{len(done):x}\r\n".encode() + done + b"\r\n0\r\n\r\n")
        await writer.drain()

    def close(self) -> None:
        """Stop listening and cut every open stream."""

        async def shut() -> None:
            self.server.close()
            for writer in list(self._writers):
                writer.transport.abort()

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
