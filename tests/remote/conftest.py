"""A real OpenAI-compatible server (llama-cpp-python's) on loopback, and a tiny one that misbehaves."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from xybrid_notebook.loopback import LOOPBACK, free_port, running_server

MODEL_NAME = "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def llama_server(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's server serving the instruct model (its chat template is in the GGUF); its base URL (…/v1).

    Started through xybrid's launcher, which proves llama.cpp on this machine first. Stopped whatever happens.
    """
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "xybrid_notebook.backends.llama_server",
        "--model",
        str(smollm2_path),
        "--model_alias",
        MODEL_NAME,
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--n_ctx",
        "2048",
    ]
    url = f"http://{LOOPBACK}:{port}/v1"
    log = tmp_path_factory.mktemp("server") / "server.log"
    with running_server(argv, f"{url}/models", log, name="llama_cpp.server"):
        yield url


Behaviour = Callable[[BaseHTTPRequestHandler], None]
MODELS = json.dumps({"object": "list", "data": [{"id": MODEL_NAME, "object": "model", "owned_by": "llamacpp"}]})


def sse(handler: BaseHTTPRequestHandler, events: list[str], close_early: bool = False, pause: float = 0.0) -> None:
    """Send a 200 SSE response with the given data lines; optionally drop the connection mid-stream."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    for event in events:
        body = f"data: {event}\n\n".encode()
        handler.wfile.write(f"{len(body):x}\r\n".encode() + body + b"\r\n")
        handler.wfile.flush()
        time.sleep(pause)
    if close_early:
        handler.connection.shutdown(socket.SHUT_RDWR)
        return
    handler.wfile.write(b"0\r\n\r\n")


def chunk(text: str, finish: str | None = None, **extra: object) -> str:
    return json.dumps({"choices": [{"index": 0, "text": text, "finish_reason": finish}], **extra})


class FakeServer:
    """A loopback HTTP server whose answer to a completion request is set per test."""

    def __init__(self) -> None:
        self.behaviour: Behaviour = lambda handler: sse(handler, [chunk("ok", "stop"), "[DONE]"])
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                body = MODELS.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                fake.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": json.loads(self.rfile.read(length) or b"{}"),
                    }
                )
                try:
                    fake.behaviour(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()
