"""A loopback stand-in for the Hugging Face Hub, enough of its API for huggingface_hub's real client.

It answers what the client asks for a model repo: `GET /api/models/{repo}[/revision/{rev}]` (the model
info with `siblings`, sizes and LFS sha256), and `HEAD`/`GET /{repo}/resolve/{rev}/{file}` with `ETag`
(the sha256, as the Hub gives for LFS files), `X-Repo-Commit`, `Content-Length` and byte ranges
(`206` with `Content-Range`, for resumed downloads). A gated repo answers the file with 401 and
`X-Error-Code: GatedRepo`; an unknown repo 401 with `RepoNotFound` (as the Hub does without a
token); an unknown file 404 with `EntryNotFound`. Every request is logged (method, path, Range),
and one file can be served slowly, for a download interrupted halfway.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional
from urllib.parse import unquote, urlsplit

CHUNK = 1 << 20


@dataclass
class RepoFile:
    """One file of a repo: its bytes come from `source` (read in place)."""

    source: Path
    sha256: str = ""

    def __post_init__(self) -> None:
        if not self.sha256:
            digest = hashlib.sha256()
            with self.source.open("rb") as handle:
                for block in iter(lambda: handle.read(CHUNK), b""):
                    digest.update(block)
            self.sha256 = digest.hexdigest()

    @property
    def size(self) -> int:
        return self.source.stat().st_size


@dataclass
class Repo:
    """A model repo: its files by path, its commit, gated or not."""

    files: dict[str, RepoFile]
    gated: bool = False
    commit: str = field(default_factory=lambda: hashlib.sha1(str(time.time_ns()).encode()).hexdigest())


@dataclass
class Request:
    """What the stand-in was asked."""

    method: str
    path: str
    range: Optional[str]
    authorized: bool


class HubStandIn:
    """The stand-in's repos, its request log, and a thread serving them on 127.0.0.1."""

    def __init__(self, repos: dict[str, Repo]) -> None:
        self.repos = repos
        self.log: list[Request] = []
        self.slow: dict[str, float] = {}  # file path -> seconds to wait between 1 MiB chunks
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def requests_for(self, file_path: str) -> list[Request]:
        """The GETs and HEADs of `/…/resolve/…/file_path`."""
        return [r for r in self.log if r.path.endswith(f"/{file_path}") and "/resolve/" in r.path]

    def model_info(self, repo_id: str, repo: Repo) -> dict[str, object]:
        siblings = [
            {
                "rfilename": name,
                "size": f.size,
                "blobId": hashlib.sha1(f.sha256.encode()).hexdigest(),
                "lfs": {"sha256": f.sha256, "size": f.size, "pointerSize": 134},
            }
            for name, f in sorted(repo.files.items())
        ]
        return {
            "_id": repo.commit[:24],
            "id": repo_id,
            "modelId": repo_id,
            "sha": repo.commit,
            "private": False,
            "gated": "manual" if repo.gated else False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": ["gguf"],
            "siblings": siblings,
            "lastModified": "2026-12-01T00:00:00.000Z",
            "createdAt": "2026-12-01T00:00:00.000Z",
        }


_INFO = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+?)(?:/revision/(?P<rev>[^/]+))?/?$")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_RANGE = re.compile(r"^bytes=(?P<start>\d+)-(?P<end>\d*)$")


def _handler(hub: HubStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _error(self, status: int, code: str, message: str) -> None:
            body = json.dumps({"error": message}).encode()
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _route(self) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.log.append(Request(self.command, path, self.headers.get("Range"), "authorization" in self.headers))
            info = _INFO.match(path)
            if info and self.command == "GET":
                return self._info(info["repo"])
            resolve = _RESOLVE.match(path)
            if resolve:
                return self._file(resolve["repo"], resolve["file"])
            self._error(404, "EntryNotFound", f"no route {path}")

        def _info(self, repo_id: str) -> None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                return self._error(401, "RepoNotFound", "Repository not found")
            body = json.dumps(hub.model_info(repo_id, repo)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _file(self, repo_id: str, name: str) -> None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                return self._error(401, "RepoNotFound", "Repository not found")
            if repo.gated:
                message = f"Access to model {repo_id} is restricted. You must be authenticated to access it."
                return self._error(401, "GatedRepo", message)
            file = repo.files.get(name)
            if file is None:
                return self._error(404, "EntryNotFound", "Entry not found")
            start, size = 0, file.size
            wanted = _RANGE.match(self.headers.get("Range") or "")
            self.send_response(206 if wanted else 200)
            if wanted:
                start = int(wanted["start"])
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            self.send_header("ETag", f'"{file.sha256}"')
            self.send_header("X-Repo-Commit", repo.commit)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(size - start))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if self.command == "GET":
                self._send(file.source, start, hub.slow.get(name, 0.0))

        def _send(self, source: Path, start: int, pause_s: float) -> None:
            with source.open("rb") as handle:
                handle.seek(start)
                try:
                    for block in iter(lambda: handle.read(CHUNK), b""):
                        self.wfile.write(block)
                        if pause_s:
                            time.sleep(pause_s)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        do_GET = do_HEAD = _route

    return Handler
