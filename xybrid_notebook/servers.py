"""Servers the notebook starts on loopback: llama.cpp's batching `llama-server`, or llama-cpp-python's serial server.

`serve(model, parallel=4)` builds llama-server once (`llama_tools`, the llama.cpp the
in-process engine uses), proves llama.cpp on this machine with the engine probe (where
it turned weight repacking off, the server gets `--no-repack`), starts the server in
a process group of its own and returns a `ServedModel` whose `url` the remote backend
and load tests take. A server that dies by a signal while starting is named as such,
and tried once more without repacking. `serial=True` starts llama-cpp-python's
server instead (one request at a time): the contrast. Every server is stopped by
`stop_served()` or when the kernel exits.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .errors import BackendUnavailable, InvalidInput
from .loopback import LOOPBACK, ServerDidNotStart, free_port, start_server, stop_group
from .model_sources import resolve_source

LOG_FOLDER_PREFIX = "xybrid-serve-"  # a served model's log lives here until it stops
_SERVED: dict[int, ServedModel] = {}
DEFAULT_PARALLEL = 4
CTX_PER_SLOT = 1024
START_TIMEOUT_S = 180.0


@dataclass
class ServedModel:
    """One server the notebook started: what it serves, how, where, and its process."""

    kind: str
    model: Path
    parallel: int
    ctx: int
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    argv: list[str]
    notes: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL (`--backend remote` and load tests take it)."""
        return f"http://{LOOPBACK}:{self.port}/v1"

    @property
    def model_id(self) -> str:
        """The name the server answers to (its `/v1/models` id): the file's name without `.gguf`."""
        return self.model.stem

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def line(self) -> str:
        """`llama-server (4 slots, ctx 4096) serving smollm2 at http://127.0.0.1:PORT/v1 (pid N)`."""
        slots = f"{self.parallel} slot{'s' if self.parallel != 1 else ''}" if self.kind == "llama-server" else "serial"
        state = "" if self.alive else f" — exited ({self.process.returncode})"
        return f"{self.kind} ({slots}, ctx {self.ctx}) serving {self.model.name} at {self.url} (pid {self.pid}){state}"

    def stop(self) -> None:
        """Stop the server and its children, and remove the folder of its log."""
        stop_group(self.process, grace_s=5.0)
        _SERVED.pop(self.port, None)
        if self.log.parent.name.startswith(LOG_FOLDER_PREFIX):
            shutil.rmtree(self.log.parent, ignore_errors=True)


def _signal_name(code: Optional[int]) -> str:
    if code is None:
        return "no answer in time"
    if code >= 0:
        return f"exit code {code}"
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _check(parallel: object, ctx: object, port: object, threads: object) -> None:
    for name, value, low in (("parallel", parallel, 1), ("ctx", ctx, 64), ("port", port, 1), ("threads", threads, 1)):
        if value is None and name != "parallel":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (name == "port" and value > 65535):
            raise InvalidInput(
                f"{name}: must be a whole number ≥ {low}{' and ≤ 65535' if name == 'port' else ''}, not {value!r}"
            )
    if port is not None and port in _SERVED:
        raise InvalidInput(f"port: {port} is already served by this notebook ({_SERVED[port].line()})")


def llama_server_argv(
    binary: Path, model: Path, parallel: int, ctx: int, port: int, threads: int, no_repack: bool
) -> list[str]:
    """llama-server's command line: loopback, `parallel` slots, continuous batching, `/metrics`, the given threads."""
    argv = [
        str(binary),
        "--model",
        str(model),
        "--alias",
        model.stem,
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--parallel",
        str(parallel),
        "--ctx-size",
        str(ctx),
        "--threads",
        str(threads),
        "--cont-batching",
        "--metrics",
        "--no-webui",
    ]
    return argv + (["--no-repack"] if no_repack else [])


def serial_server_argv(model: Path, ctx: int, port: int, threads: int) -> list[str]:
    """llama-cpp-python's server (one request at a time) behind xybrid's engine probe."""
    return [
        sys.executable,
        "-m",
        "xybrid_notebook.backends.llama_server",
        "--model",
        str(model),
        "--model_alias",
        model.stem,
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--n_ctx",
        str(ctx),
        "--n_threads",
        str(threads),
    ]


def serve(
    model: Optional[str] = None,
    *,
    parallel: int = DEFAULT_PARALLEL,
    ctx: Optional[int] = None,
    port: Optional[int] = None,
    threads: Optional[int] = None,
    serial: bool = False,
) -> ServedModel:
    """Start a server for `model` (a catalog name or a .gguf; default the catalog default) on loopback."""
    _check(parallel, ctx, port, threads)
    path = resolve_source(model)
    threads = threads or os.cpu_count() or 1
    port = port or free_port()
    ctx = ctx or CTX_PER_SLOT * (1 if serial else parallel)
    log = Path(tempfile.mkdtemp(prefix=LOG_FOLDER_PREFIX)) / "server.log"
    if serial:
        argv = serial_server_argv(path, ctx, port, threads)
        process = _start(argv, port, log, "llama-cpp-python's server")
        served = ServedModel("llama-cpp-python (serial)", path, 1, ctx, port, process, log, argv)
    else:
        served = _start_llama_server(path, parallel, ctx, port, threads, log)
    _SERVED[port] = served
    return served


def _start(argv: list[str], port: int, log: Path, name: str) -> subprocess.Popen[bytes]:
    # /v1/models: llama-server answers 503 there until the model is loaded; llama-cpp-python has no /health.
    return start_server(argv, f"http://{LOOPBACK}:{port}/v1/models", log, name=name, timeout_s=START_TIMEOUT_S)


def _start_llama_server(path: Path, parallel: int, ctx: int, port: int, threads: int, log: Path) -> ServedModel:
    from .backends.llama_cpp_bench import probed_settings
    from .llama_tools import find

    binary = find("llama-server")
    no_repack = not probed_settings(path).get("use_extra_bufts", True)
    notes = ["the engine probe turned weight repacking off on this CPU: --no-repack"] if no_repack else []
    argv = llama_server_argv(binary, path, parallel, ctx, port, threads, no_repack)
    try:
        process = _start(argv, port, log, "llama-server")
    except ServerDidNotStart as exc:
        died = _signal_name(exc.returncode)
        if no_repack or "SIG" not in died:
            raise BackendUnavailable(f"llama-server did not start ({died}); its log: {log}") from exc
        notes.append(f"llama-server died by {died} with repacking on; started again with --no-repack")
        argv = llama_server_argv(binary, path, parallel, ctx, port, threads, True)
        process = _start(argv, port, log, "llama-server")
    return ServedModel("llama-server", path, parallel, ctx, port, process, log, argv, notes)


def served() -> list[ServedModel]:
    """The servers this notebook started, oldest first (exited ones included until stopped)."""
    return list(_SERVED.values())


def stop_served(port: Optional[int] = None) -> list[ServedModel]:
    """Stop the server on `port`, or all of them; return what was stopped."""
    if port is not None and port not in _SERVED:
        raise InvalidInput(f"port: no server this notebook started listens on {port}")
    chosen = [_SERVED[port]] if port is not None else list(_SERVED.values())
    for server in chosen:
        server.stop()
    return chosen


atexit.register(stop_served)
