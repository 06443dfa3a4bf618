"""The load process tree on Locust: users that stream and stamp every chunk, levels, and the records' way home.

Imported only by `python -m xybrid_notebook.load` (Locust patches the process with
gevent on import, so it never runs in the kernel). One process is the controller:
a Locust `LocalRunner` (users in the same process) or a `MasterRunner` with worker
processes (`workers=N` local ones, or ones started elsewhere against `--master-bind`).

- Each `StreamingUser` sends one streamed completion at a time over SSE
  (geventhttpclient, one connection per user, reused; a request that got no byte on a
  reused connection is retried once on a fresh one) and stamps every chunk with the
  project's `ChunkClock`, exactly as a single run does.
- A closed-loop level runs `concurrency` users back to back; an open-loop level draws
  Poisson arrivals at the level's rate (split evenly over the processes) and hands
  each to a free user, at most `in_flight_cap` in flight.
- Every request's raw record (chunk offsets, usage, llama-server `timings`, error)
  goes to the controller as a Locust custom message (`xybrid_request`) and from there
  to stdout as one JSON line; Locust's own rounded statistics are never used.
- The controller ends a level after its duration or its request count, stops the
  users (requests still in flight are reported as `cut`), samples CPU, and moves on.
  `stop` on stdin, stdin closing (the kernel went away) or SIGTERM ends the test; so do
  a refused key (HTTP 401/403), a server that refuses every connection for
  `DEAD_SERVER_S`, and the loss of the last worker (Locust's heartbeat: a worker silent
  for about 4 s is missing; each lost worker is named by the address it said hello from).
- Headers are built at each request (`spec.request_headers`): the key is read from this
  process's environment, never from the spec, and never put in a record or a log line.
- During every level, the controller scrapes the server's `/metrics` four times a second
  (`server_metrics.watch`, a greenlet) and prints each sample as its own JSON line.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from http.client import HTTPException
from typing import Any, Optional
from urllib.parse import urlparse

import gevent
import psutil
from gevent.queue import Queue
from geventhttpclient import HTTPClient
from locust import User, constant, events, task
from locust.env import Environment
from locust.runners import STATE_MISSING, STATE_STOPPED, MasterRunner, Runner

from ..loopback import die_with_parent
from ..metrics import NS_PER_MS, ChunkClock
from ..redact import redact_text
from .server_metrics import Scraper, watch
from .spec import Level, LoadSpec, request_headers

MSG_LEVEL = "xybrid_level"
MSG_REQUEST = "xybrid_request"
MSG_HELLO = "xybrid_hello"
SPAWN_RATE = 10_000.0
WORKERS_TIMEOUT_S = 60.0
#: The server is gone when connections failed this many times in a row (at least once per user) ...
DEAD_SERVER_FAILURES = 4
#: ... for at least this long (a server being restarted answers again within it).
DEAD_SERVER_S = 5.0
#: Answers that mean the key is wrong: the test ends at once, naming where the key came from.
AUTH_ERRORS = ("http_401", "http_403", "auth")
#: A connection that broke: refused, reset, or closed by the server before or while it answered (geventhttpclient's
#: `HTTPConnectionClosed` is an `http.client.HTTPException`, not an `OSError`).
_CONNECT_ERRORS = (ConnectionError, OSError, HTTPException)


class LevelPlan:
    """What the users of one process do now: the level, the workload, and (open loop) the arrivals."""

    def __init__(self) -> None:
        self.index = -1
        self.spec: Optional[LoadSpec] = None
        self.prompts: list[Any] = []
        self.process_index, self.processes = 0, 1
        self.arrivals: Optional[Queue] = None
        self._arrival_greenlet: Optional[gevent.Greenlet] = None
        self.rng = random.Random()
        self.counter = 0

    def begin(self, data: dict[str, Any]) -> None:
        """Take a level from the controller's message: its index, the spec, the prompts, this process's share."""
        self.end()
        self.index = int(data["index"])
        self.spec = LoadSpec.from_json(data["spec"])
        if data.get("prompts") is not None:
            self.prompts = data["prompts"]
        self.processes = max(1, int(data["processes"]))
        self.rng = random.Random(f"{self.spec.seed}/{self.index}/{self.process_index}")
        level = self.spec.levels[self.index]
        if level.kind == "rate":
            self.arrivals = Queue()
            self._arrival_greenlet = gevent.spawn(self._arrive, level.value / self.processes, self.arrivals)

    def end(self) -> None:
        """Stop drawing arrivals."""
        if self._arrival_greenlet is not None:
            self._arrival_greenlet.kill(block=False)
        self._arrival_greenlet, self.arrivals = None, None

    def _arrive(self, rate: float, arrivals: Queue) -> None:
        """Poisson arrivals: exponential gaps at `rate`; each arrival waits in the queue for a free user."""
        rng = random.Random(self.rng.random())
        due = time.perf_counter()
        while True:
            due += rng.expovariate(rate)
            gevent.sleep(max(0.0, due - time.perf_counter()))
            arrivals.put(time.time())

    def next_prompt(self) -> tuple[Any, int]:
        """This process's next prompt (distinct across processes until the pool wraps) and its max_tokens."""
        assert self.spec is not None
        index = (self.process_index + self.processes * self.counter) % max(1, len(self.prompts))
        self.counter += 1
        low, high = self.spec.output_tokens.low, self.spec.output_tokens.high
        return self.prompts[index], self.rng.randint(low, high)


PLAN = LevelPlan()


class StreamFailed(Exception):
    """A request failed; `kind` sorts it (connect, http_NNN, cut, timeout, bad_stream, server_error)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def request_body(spec: LoadSpec, prompt: Any, max_tokens: int) -> tuple[str, bytes]:
    """The path and JSON body of one streamed completion (chat messages or raw text)."""
    body: dict[str, Any] = {
        "model": spec.model,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": max_tokens,
        "temperature": 0.0,
    }
    if spec.ignore_eos:
        body["ignore_eos"] = True
    if spec.api == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
        path = "chat/completions"
    else:
        body["prompt"] = prompt
        path = "completions"
    return path, json.dumps(body).encode()


def _piece(choice: dict[str, Any]) -> str:
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return str(delta.get("content") or delta.get("reasoning_content") or "")
    return str(choice.get("text") or "")


def sse_events(response: Any) -> Iterator[dict[str, Any]]:
    """The JSON events of an SSE response, as each `data:` line arrives; ends at `[DONE]` or the body's end."""
    while True:
        line = response.readline(b"\n")
        if not line:
            return
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            return
        try:
            event = json.loads(data)
        except ValueError:
            raise StreamFailed("bad_stream", f"not JSON: {data[:80]!r}") from None
        if isinstance(event, dict):
            if event.get("error"):
                raise StreamFailed("server_error", str(event["error"])[:200])
            yield event


class StreamingUser(User):
    """One virtual user: one streamed completion at a time, every chunk stamped."""

    wait_time = constant(0)

    def on_start(self) -> None:
        """No connection yet: the first request opens one (and a request that finds it closed, a fresh one)."""
        self.http: Optional[HTTPClient] = None

    def _client(self, spec: LoadSpec, fresh: bool = False) -> HTTPClient:
        if self.http is None or fresh:
            if self.http is not None:
                self.http.close()
            parsed = urlparse(spec.url)
            self.http = HTTPClient(
                parsed.hostname or "127.0.0.1",
                port=parsed.port,
                ssl=parsed.scheme == "https",
                concurrency=1,
                connection_timeout=10.0,
                network_timeout=spec.timeout_s,
            )
        return self.http

    @task
    def one_request(self) -> None:
        """Wait for an arrival (open loop), send one request, stream it, report its record."""
        plan = PLAN
        if plan.spec is None:
            gevent.sleep(0.05)
            return
        arrivals = plan.arrivals
        arrival = arrivals.get() if arrivals is not None else None
        spec, level_index = plan.spec, plan.index
        prompt, max_tokens = plan.next_prompt()
        path, body = request_body(spec, prompt, max_tokens)
        clock = ChunkClock()
        record: dict[str, Any] = {"level": level_index, "arrival": arrival, "max_tokens": max_tokens}
        if arrivals is not None:
            record["queued"] = arrivals.qsize()  # arrivals of this process waiting behind this one
        outcome = "cut"
        try:
            record["sent"] = time.time()
            clock.start()
            self._stream(spec, path, body, clock, record)
            outcome = "ok"
        except StreamFailed as failure:
            outcome, record["error"], record["message"] = "error", failure.kind, str(failure)
        finally:
            # GreenletExit (a level's end) leaves outcome "cut": the request was in flight when the level ended.
            clock.stop()
            self._report(clock, record, outcome)
        if record.get("error") is not None:
            # a server that refuses must not turn the user into a busy loop
            gevent.sleep(0.2 if record["error"] == "connect" else 0.05)

    def _stream(self, spec: LoadSpec, path: str, body: bytes, clock: ChunkClock, record: dict[str, Any]) -> None:
        if spec.api_key_env and not os.environ.get(spec.api_key_env):
            raise StreamFailed("auth", f"${spec.api_key_env} is unset in a load process on {socket.gethostname()}")
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream", **request_headers(spec)}
        if spec.trace_id:  # the request's span id, so a server that traces joins the notebook's trace
            record["span_id"] = f"{random.getrandbits(64) or 1:016x}"
            headers["traceparent"] = f"00-{spec.trace_id}-{record['span_id']}-01"
        request_path = urlparse(spec.url).path.rstrip("/") + "/" + path
        response = None
        for attempt in (1, 2):
            try:
                response = self._client(spec, fresh=attempt == 2).request("POST", request_path, body, headers)
                break
            except _CONNECT_ERRORS as exc:
                # A reused connection the server closed after its last stream fails before any byte: safe to retry.
                # A server that kept silent for timeout_s is not asked again.
                if _timed_out(exc):
                    raise StreamFailed("timeout", f"no byte within {spec.timeout_s:g} s") from None
                if attempt == 2 or self.http is None:
                    raise StreamFailed("connect", f"{type(exc).__name__}: {exc}") from None
        assert response is not None
        try:
            if response.status_code >= 400:
                text = response.read()[:200].decode(errors="replace")
                raise StreamFailed(f"http_{response.status_code}", text.strip())
            self._read(response, clock, record)
        except _CONNECT_ERRORS as exc:
            if _timed_out(exc):
                raise StreamFailed("timeout", f"no byte within {spec.timeout_s:g} s") from None
            raise StreamFailed("cut", f"{type(exc).__name__}: {exc}") from None
        finally:
            response.release()

    @staticmethod
    def _read(response: Any, clock: ChunkClock, record: dict[str, Any]) -> None:
        finished = False
        for event in sse_events(response):
            usage = event.get("usage")
            if isinstance(usage, dict):
                record["prompt_tokens"] = usage.get("prompt_tokens")
                record["output_tokens"] = usage.get("completion_tokens")
                details = usage.get("prompt_tokens_details") or {}
                if isinstance(details, dict) and details.get("cached_tokens") is not None:
                    record["cached_tokens"] = details["cached_tokens"]
            if isinstance(event.get("timings"), dict):
                record["timings"] = event["timings"]
            for choice in event.get("choices") or []:
                if _piece(choice):
                    clock.stamp()
                if choice.get("finish_reason"):
                    finished = True
                    record["finish"] = choice["finish_reason"]
        if not finished:
            raise StreamFailed("cut", "the stream ended before the generation finished")

    def _report(self, clock: ChunkClock, record: dict[str, Any], outcome: str) -> None:
        record["outcome"] = outcome
        if record.get("message") and PLAN.spec is not None:
            record["message"] = redact_text(record["message"], PLAN.spec.secrets())
        record["offsets_ms"] = [round(offset / NS_PER_MS, 4) for offset in clock.offsets_ns]
        record["end_ms"] = round((clock.t_end or clock.t_start) - clock.t_start) / NS_PER_MS
        record["pid"] = os.getpid()
        self.environment.runner.send_message(MSG_REQUEST, record)


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, (TimeoutError, socket.timeout)) or "timed out" in str(exc)


class CpuMeter:
    """CPU time of the load processes, of the server (if its pid is known) and of the whole machine."""

    def __init__(self, server_pid: Optional[int]) -> None:
        self.me = psutil.Process()
        self.server: Optional[psutil.Process] = None
        if server_pid:
            try:
                self.server = psutil.Process(server_pid)
            except psutil.Error:
                self.server = None

    @staticmethod
    def _cpu(process: psutil.Process) -> float:
        try:
            times = process.cpu_times()
            return float(times.user + times.system)
        except psutil.Error:
            return 0.0

    def reading(self) -> dict[str, float]:
        """Seconds of CPU so far: `load` (this process and its children), `server`, `busy` (all), and the wall clock."""
        total = psutil.cpu_times()
        load = self._cpu(self.me) + sum(self._cpu(child) for child in self.me.children(recursive=True))
        return {
            "wall": time.perf_counter(),
            "load": load,
            "server": self._cpu(self.server) if self.server is not None else 0.0,
            "busy": sum(total) - total.idle - getattr(total, "iowait", 0.0),
        }


def emit(event: str, **fields: Any) -> None:
    """One JSON line to the kernel."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class Controller:
    """Runs the levels on a runner, forwards every record, and ends cleanly on stop, a dead server or the end."""

    def __init__(self, spec: LoadSpec, prompts: list[Any], runner: Runner, processes: int) -> None:
        self.spec, self.prompts, self.runner, self.processes = spec, prompts, runner, processes
        self.stopping = False
        self.reason = ""
        self.level = -1
        self.completed = 0
        self.connect_failures, self.failing_since = 0, 0.0
        self.workers: dict[str, str] = {}  # Locust's worker id -> the name it said hello with
        self.lost: list[str] = []
        self.scraper = Scraper(spec.url, request_headers(spec))  # the server's /metrics during every level
        runner.register_message(MSG_REQUEST, self._on_request)
        if isinstance(runner, MasterRunner):
            runner.register_message(MSG_HELLO, self._on_hello)

    def _on_hello(self, environment: Environment, msg: Any, **_: Any) -> None:
        self.workers[str(msg.node_id)] = str(msg.data.get("name") or msg.node_id)

    def _on_request(self, environment: Environment, msg: Any, **_: Any) -> None:
        record = msg.data
        if record.get("level") != self.level:
            return
        emit("request", **record)
        if record.get("outcome") != "cut":
            self.completed += 1
        if record.get("error") in AUTH_ERRORS:
            code = str(record["error"]).removeprefix("http_")
            detail = record.get("message") if record["error"] == "auth" else f"HTTP {code}"
            self.stop(self.spec.refused(str(detail)))
        self._count_connect_failure(
            record.get("error") == "connect" or (record.get("error") == "cut" and not record.get("offsets_ms"))
        )

    def _count_connect_failure(self, failed: bool) -> None:
        """Stop once connections failed `DEAD_SERVER_FAILURES` times in a row (one per user) for `DEAD_SERVER_S`."""
        if not failed:
            self.connect_failures = 0
            return
        now = time.perf_counter()
        if self.connect_failures == 0:
            self.failing_since = now
        self.connect_failures += 1
        enough = self.connect_failures >= max(DEAD_SERVER_FAILURES, self.spec.levels[self.level].users)
        if enough and now - self.failing_since >= DEAD_SERVER_S:
            self.stop(f"the server at {self.spec.url} stopped answering")

    def check_workers(self) -> None:
        """Name every worker that went missing or left; stop once none is left (the records that came are kept)."""
        runner = self.runner
        if not isinstance(runner, MasterRunner):
            return
        present = {client.id for client in runner.clients.all if client.state != STATE_MISSING}
        for worker_id, name in self.workers.items():
            if worker_id not in present and name not in self.lost:
                self.lost.append(name)
                emit("worker_lost", worker=name)
        if self.lost and runner.worker_count <= 0:
            self.stop(f"lost Locust worker {', '.join(self.lost)} (no heartbeat); the records that arrived are kept")

    def stop(self, reason: str) -> None:
        """End the test after the current level's users are stopped."""
        if not self.stopping:
            self.stopping, self.reason = True, reason

    def run(self) -> None:
        """Every level in turn, then `done`."""
        meter = CpuMeter(self.spec.server_pid)
        for index, level in enumerate(self.spec.levels):
            if self.stopping:
                break
            self._run_level(index, level, meter)
        emit("done", stopped=self.stopping, reason=self.reason)

    def _run_level(self, index: int, level: Level, meter: CpuMeter) -> None:
        self.level, self.completed = index, 0  # connection failures count across levels (DEAD_SERVER_S)
        first = index == 0
        self.runner.send_message(
            MSG_LEVEL,
            {
                "index": index,
                "spec": self.spec.to_json(),
                "prompts": self.prompts if first or isinstance(self.runner, MasterRunner) else None,
                "processes": self.processes,
            },
        )
        users = level.users
        if self.processes > 1 and users % self.processes:
            users += self.processes - users % self.processes  # Locust spreads users evenly over the workers
        before = meter.reading()
        emit("level_start", level=index, users=users, t=time.time())
        self.runner.start(users, SPAWN_RATE)
        scraping = gevent.spawn(watch, self.scraper, index, emit)
        target = self.spec.requests_for(level)
        wanted = None if target is None else target + self.spec.warmup_for(level)
        deadline = None if self.spec.duration_s is None else time.perf_counter() + self.spec.duration_s
        while not self.stopping:
            self.check_workers()
            if wanted is not None and self.completed >= wanted:
                break
            if deadline is not None and time.perf_counter() >= deadline:
                break
            gevent.sleep(0.02)
        scraping.kill()
        self._stop_users()
        after = meter.reading()
        emit("level_end", level=index, cpu={k: after[k] - before[k] for k in after}, t=time.time())

    def _stop_users(self) -> None:
        PLAN.end()
        self.runner.stop()
        deadline = time.perf_counter() + 2.0
        while self.runner.state != STATE_STOPPED and time.perf_counter() < deadline:
            gevent.sleep(0.02)
        gevent.sleep(0.05 if isinstance(self.runner, MasterRunner) else 0)  # records sent by cut users


def _take_level(environment: Environment, msg: Any, **_: Any) -> None:
    runner = environment.runner
    PLAN.process_index = int(getattr(runner, "worker_index", 0) or 0)
    PLAN.begin(msg.data)


def _quiet_locust() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    for name in ("locust", "locust.runners", "locust.main"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _watch_stdin(controller: Controller) -> None:
    """`stop` on stdin, or stdin closing (the kernel is gone), ends the test."""
    from gevent.os import make_nonblocking, nb_read

    make_nonblocking(sys.stdin.fileno())  # a blocking read would stop every greenlet of the process
    buffered = b""
    while True:
        data = nb_read(sys.stdin.fileno(), 1024)
        if not data:
            controller.stop("the notebook went away")
            return
        buffered += data
        if b"stop" in buffered:
            controller.stop("stopped")
            return


def _start_local_workers(count: int, port: int) -> list[subprocess.Popen[bytes]]:
    argv = [sys.executable, "-m", "xybrid_notebook.load", "worker", "--master", f"127.0.0.1:{port}"]
    return [
        subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=sys.stderr, preexec_fn=die_with_parent
        )
        for _ in range(count)
    ]


def _wait_for_workers(runner: MasterRunner, expected: int, controller: Controller) -> bool:
    deadline = time.perf_counter() + WORKERS_TIMEOUT_S
    reported = -1
    while len(runner.clients.ready) < expected:
        controller.check_workers()
        if controller.stopping:
            return False
        if len(runner.clients.ready) != reported:
            reported = len(runner.clients.ready)
            emit("workers", ready=reported, expected=expected)
        if time.perf_counter() > deadline and expected:
            emit(
                "fatal",
                message=f"only {reported} of {expected} Locust workers connected within {WORKERS_TIMEOUT_S:.0f} s",
            )
            return False
        gevent.sleep(0.05)
    emit("workers", ready=len(runner.clients.ready), expected=expected)
    return True


def run_controller(spec: LoadSpec, prompts: list[Any]) -> None:
    """The controller process: a local runner, or a master with local or remote workers."""
    _quiet_locust()
    environment = Environment(user_classes=[StreamingUser], events=events, stop_timeout=0)
    distributed = spec.workers > 0 or spec.master_bind is not None
    workers: list[subprocess.Popen[bytes]] = []
    if distributed:
        host, port = (spec.master_bind or "127.0.0.1:0").rsplit(":", 1)
        bind_port = int(port) or _free_port(host)
        runner: Runner = environment.create_master_runner(host, bind_port)
        workers = _start_local_workers(spec.workers, bind_port)
        expected = spec.workers if spec.master_bind is None else max(spec.workers, 1)
        emit("master", bind=f"{host}:{bind_port}")
    else:
        runner = environment.create_local_runner()
        runner.register_message(MSG_LEVEL, _take_level)
        expected = 0
    controller = Controller(spec, prompts, runner, processes=max(1, expected))
    gevent.spawn(_watch_stdin, controller)
    gevent.signal_handler(signal.SIGTERM, controller.stop, "stopped")
    try:
        if not distributed or _wait_for_workers(runner, expected, controller):  # type: ignore[arg-type]
            controller.run()
        else:
            emit("done", stopped=True, reason=controller.reason or "no workers")
    finally:
        runner.quit()
        for worker in workers:
            try:
                worker.wait(2.0)
            except subprocess.TimeoutExpired:
                worker.kill()


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def run_worker(master: str) -> None:
    """A worker process: connect to the master at `HOST:PORT`, run the users it is given, until it says quit."""
    _quiet_locust()
    host, port = master.rsplit(":", 1)
    environment = Environment(user_classes=[StreamingUser], events=events, stop_timeout=0)
    runner = environment.create_worker_runner(host, int(port))
    runner.register_message(MSG_LEVEL, _take_level)
    runner.send_message(MSG_HELLO, {"name": worker_name(host, int(port))})
    runner.greenlet.join()


def worker_name(master_host: str, master_port: int) -> str:
    """`ADDRESS (HOST, pid N)`: the address this worker reaches the master from, its host and its pid."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((master_host, master_port))  # no packet is sent: this only picks the route
            address = str(probe.getsockname()[0])
    except OSError:
        address = "?"
    return f"{address} ({socket.gethostname()}, pid {os.getpid()})"
