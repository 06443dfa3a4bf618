"""Run a load test from the kernel: check the target, make the prompts, drive the process tree, build the result.

`run_load_test` is what `xn.load_test` and `%xybrid loadtest` call. It reports a
`LoadProgress` at most `PROGRESS_INTERVAL_S` apart (and at every level's start and
end); Stop (the kernel's interrupt) asks the tree to stop, and whatever was measured
is kept. Nothing is measured before the target answered and the prompts are ready.
A key the server refuses (HTTP 401/403) is one line naming where it came from
(`$VAR` or the header's name), never the key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Optional, Union

from ..errors import InvalidInput
from .figures import Record, level_row, mark_warmup
from .phases import add_level_split, split_notes
from .process import LoadProcess
from .result import LoadResult, records_of
from .server_metrics import LoadTimeline
from .spec import (
    REFUSED,
    LoadSpec,
    TokenCount,
    build_levels,
    check_api_key_env,
    check_headers,
    check_master_bind,
    check_positive,
    check_url,
    check_workers,
    parse_slo,
    parse_token_count,
    request_headers,
)
from .workload import Workload, build_workload, resolve_tokenizer

PROGRESS_INTERVAL_S = 0.5


@dataclass
class LoadProgress:
    """Where a load test is: the level running, its requests so far, the finished levels' rows, the time left."""

    spec: LoadSpec
    level: int
    level_started: float
    level_completed: int
    elapsed_s: float
    records: list[Record]
    rows: list[dict[str, Any]] = field(default_factory=list)
    status: str = ""
    timeline: LoadTimeline = field(default_factory=LoadTimeline)

    @property
    def eta_s(self) -> Optional[float]:
        """Seconds left: the rest of this level (by its request count or duration) and the later levels alike."""
        if self.level < 0:
            return None
        level = self.spec.levels[self.level]
        in_level = time.monotonic() - self.level_started
        wanted = self.spec.requests_for(level)
        if wanted is None:
            assert self.spec.duration_s is not None
            this_left = max(0.0, self.spec.duration_s - in_level)
            per_level = self.spec.duration_s
        else:
            wanted += self.spec.warmup_for(level)
            if self.level_completed == 0:
                return None
            this_left = in_level / self.level_completed * max(0, wanted - self.level_completed)
            per_level = in_level + this_left
        return this_left + per_level * (len(self.spec.levels) - self.level - 1)


ProgressCallback = Callable[[LoadProgress], None]


def _probe_target(spec: LoadSpec) -> str:
    """The model id to send; one line if the URL does not answer like an OpenAI-compatible server."""
    import httpx

    url, model = spec.url, spec.model or None
    try:
        response = httpx.get(f"{url}/models", headers=request_headers(spec), timeout=5.0)
    except httpx.HTTPError as exc:
        raise InvalidInput(f"url: {url} does not answer ({type(exc).__name__}: {exc})") from None
    if response.status_code in (401, 403):
        raise InvalidInput(spec.refused(f"HTTP {response.status_code} from {url}/models"))
    if response.status_code >= 400:
        raise InvalidInput(
            f"url: {url}/models answered HTTP {response.status_code}; is it an OpenAI-compatible server?"
        )
    try:
        ids = [str(m.get("id")) for m in response.json().get("data", [])]
    except (ValueError, AttributeError):
        ids = []
    return model or (ids[0] if ids else "")


def build_spec(
    url: str,
    *,
    concurrency: Union[str, int, Sequence[int], None] = None,
    rate: Union[str, float, Sequence[float], None] = None,
    max_in_flight: int = 32,
    duration_s: Optional[float] = None,
    requests: Optional[int] = None,
    warmup: Optional[int] = None,
    prompt_tokens: Union[int, str, TokenCount] = 128,
    output_tokens: Union[int, str, TokenCount] = 64,
    shared_prefix: int = 0,
    api: str = "chat",
    model: Optional[str] = None,
    slo: Union[str, Mapping[str, Any], None] = None,
    workers: int = 0,
    master_bind: Optional[str] = None,
    seed: Optional[int] = None,
    timeout_s: float = 300.0,
    headers: Optional[Mapping[str, str]] = None,
    api_key_env: Optional[str] = None,
    ignore_eos: bool = True,
    server_pid: Optional[int] = None,
    trace_id: str = "",
) -> LoadSpec:
    """A checked `LoadSpec` from the arguments of `load_test` (one line per mistake; nothing is started)."""
    if api not in ("chat", "completions"):
        raise InvalidInput(f"api: choose chat or completions, not {api!r}")
    if isinstance(shared_prefix, bool) or not isinstance(shared_prefix, int) or shared_prefix < 0:
        raise InvalidInput(f"shared_prefix: must be a whole number of tokens ≥ 0, not {shared_prefix!r}")
    check_positive(timeout_s, "timeout_s")
    return LoadSpec(
        url=check_url(url),
        levels=build_levels(concurrency, rate, max_in_flight),
        model=model or "",
        api=api,  # type: ignore[arg-type]
        duration_s=check_positive(duration_s, "duration_s"),
        requests=_whole(check_positive(requests, "requests", whole=True)),
        warmup=_warmup(warmup),
        prompt_tokens=parse_token_count(prompt_tokens, "prompt_tokens"),
        output_tokens=parse_token_count(output_tokens, "output_tokens"),
        shared_prefix=shared_prefix,
        ignore_eos=ignore_eos,
        seed=int(time.time_ns() % 2**31) if seed is None else int(seed),
        workers=check_workers(workers),
        master_bind=check_master_bind(master_bind),
        timeout_s=float(timeout_s),
        headers=check_headers(headers),
        slo=parse_slo(slo),
        server_pid=server_pid,
        trace_id=trace_id,
        api_key_env=check_api_key_env(api_key_env),
    )


def _whole(value: Optional[float]) -> Optional[int]:
    return None if value is None else int(value)


def _warmup(value: Optional[int]) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"warmup: must be a whole number of requests ≥ 0, not {value!r}")
    return value


def prepare(spec: LoadSpec, local_model: Optional[str] = None) -> tuple[LoadSpec, Workload]:
    """Check that the target answers, learn its model id, and make the prompts (before anything is measured)."""
    spec = replace(spec, model=_probe_target(spec))
    tokenizer, counted_by = resolve_tokenizer(spec, local_model)
    return spec, build_workload(spec, tokenizer, counted_by)


class _Collector:
    """The records and rows of a running test, turned into progress and the result."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.records: list[Record] = []
        self.rows: list[dict[str, Any]] = []
        self.level, self.level_started, self.level_completed = -1, time.monotonic(), 0
        self.started = time.monotonic()
        self.stopped, self.reason, self.status = False, "", "starting the load processes…"
        self.fatal: Optional[str] = None
        self.level_t0 = 0.0
        self.lost_workers: list[str] = []
        self.timeline = LoadTimeline()

    def take(self, event: dict[str, Any]) -> bool:
        """Apply one event; True if it changes what a view shows at once (a level started or ended)."""
        kind = event.pop("event")
        if self.timeline.take(kind, event):
            return False
        if kind == "request":
            self.records.append(event)
            if event.get("outcome") != "cut":
                self.level_completed += 1
            return False
        if kind == "level_start":
            self.level, self.level_started, self.level_completed = event["level"], time.monotonic(), 0
            self.level_t0 = float(event.get("t") or time.time())
            self.status = ""
            return True
        if kind == "level_end":
            self._finish_level(event["level"], event.get("cpu"), (self.level_t0, float(event.get("t") or time.time())))
            return True
        if kind == "worker_lost":
            self.lost_workers.append(str(event["worker"]))
            self.status = f"lost Locust worker {event['worker']} (no heartbeat)"
            return True
        if kind == "workers":
            self.status = f"waiting for Locust workers: {event['ready']}/{event['expected']} connected"
            return True
        if kind == "master":
            self.status = f"Locust master listening on {event['bind']}"
            return True
        if kind == "fatal":
            self.fatal = str(event["message"])
        if kind == "done":
            self.stopped = bool(event.get("stopped")) or self.stopped
            self.reason = str(event.get("reason") or self.reason)
        return True

    def _finish_level(self, index: int, cpu: Optional[Mapping[str, float]], span: tuple[float, float]) -> None:
        level = self.spec.levels[index]
        records = records_of(self.records, index)
        mark_warmup([r for r in records if r.get("outcome") != "cut"], self.spec.warmup_for(level))
        self.rows.append(level_row(index, level, self.spec, records, cpu, span))
        add_level_split(self.rows[-1], records, self.timeline)

    def refused(self) -> bool:
        """The server refused the key and nothing succeeded: the test has nothing to show but that."""
        return self.reason.startswith(REFUSED) and not any(r.get("outcome") == "ok" for r in self.records)

    def progress(self) -> LoadProgress:
        return LoadProgress(
            self.spec,
            self.level,
            self.level_started,
            self.level_completed,
            time.monotonic() - self.started,
            self.records,
            self.rows,
            self.status,
            self.timeline,
        )


def run_load_test(
    spec: LoadSpec,
    workload: Workload,
    *,
    server: str = "",
    on_progress: Optional[ProgressCallback] = None,
    should_stop: Optional[Callable[[], bool]] = None,
    on_process: Optional[Callable[[LoadProcess], None]] = None,
) -> LoadResult:
    """Run every level of `spec` on Locust and return the result; an interrupt stops it and keeps what was measured."""
    collector = _Collector(spec)
    process = LoadProcess(spec, workload.prompts)
    last_report, ended = 0.0, False
    try:
        if on_process is not None:
            on_process(process)
        while not ended:
            try:
                changed = False
                for event in process.next_events(0.1):
                    if event["event"] == "exit":
                        ended = True
                        break
                    changed = collector.take(event) or changed
                if should_stop is not None and should_stop():
                    raise KeyboardInterrupt
            except KeyboardInterrupt:
                collector.stopped, collector.reason = True, "stopped"
                process.stop()
                _drain(process, collector)
                ended = True
            now = time.monotonic()
            if on_progress is not None and (changed or now - last_report >= PROGRESS_INTERVAL_S):
                last_report = now
                on_progress(collector.progress())
    finally:
        process.finish()
    if collector.fatal and not collector.rows:
        raise InvalidInput(collector.fatal)
    if collector.refused():
        raise InvalidInput(collector.reason)
    if not collector.rows and process.process.returncode not in (0, None) and not collector.stopped:
        raise RuntimeError(f"the load process failed (exit {process.process.returncode}):\n{process.log_tail()}")
    notes = [f"prompt tokens counted with {workload.counted_by}"]
    notes += [
        f"lost Locust worker {name} (no heartbeat): its requests in flight are missing"
        for name in collector.lost_workers
    ]
    notes += split_notes(collector.records, collector.timeline)
    return LoadResult(
        spec,
        collector.rows,
        collector.records,
        stopped=collector.stopped,
        reason=collector.reason,
        counted_by=workload.counted_by,
        server=server,
        notes=notes,
        log=process.log,
        timeline=collector.timeline,
    )


def _drain(process: LoadProcess, collector: _Collector, grace_s: float = 1.8) -> None:
    """After a stop: keep taking events until the tree is done, at most `grace_s` (a second interrupt ends it)."""
    deadline = time.monotonic() + grace_s
    try:
        while time.monotonic() < deadline:
            for event in process.next_events(0.05):
                if event["event"] == "exit":
                    return
                collector.take(event)
    except KeyboardInterrupt:
        return


def load_test(
    url: str,
    *,
    on_progress: Optional[ProgressCallback] = None,
    local_model: Optional[str] = None,
    server: str = "",
    **options: Any,
) -> LoadResult:
    """Check the options (see `build_spec`), make the prompts, run every level, and return the `LoadResult`."""
    spec = build_spec(url, **options)
    if on_progress is not None:
        on_progress(_preparing(spec, "counting prompt tokens…"))
    spec, workload = prepare(spec, local_model)
    return run_load_test(spec, workload, server=server, on_progress=on_progress)


def _preparing(spec: LoadSpec, status: str) -> LoadProgress:
    return LoadProgress(spec, -1, time.monotonic(), 0, 0.0, [], [], status)
