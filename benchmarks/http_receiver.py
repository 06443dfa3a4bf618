"""A loopback HTTP receiver that reads every POST and answers one fixed status (a stand-in OTLP receiver).

`AnsweringReceiver(200)` accepts every export (for measuring the exporter's cost);
`AnsweringReceiver(400)` refuses every one (for the refusal's one-line report). Never the
only proof: the telemetry tests also export to real Prometheus and MLflow.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class AnsweringReceiver(ThreadingHTTPServer):
    """Serves in a daemon thread on 127.0.0.1 until `shutdown()`; `url` is its base URL."""

    def __init__(self, status: int) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()
