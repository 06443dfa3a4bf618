"""RemoteBackend: any OpenAI-compatible server (vLLM, llama.cpp's server, mistral.rs's server,
a hosted API), streamed over server-sent events and timed by the same core as local engines.

What the server says about itself (usage, llama.cpp `timings`) becomes the engine figures.
The API key is read from an environment variable at request time and never stored,
printed, exported or put in an error message.

Phases: `connect` and `send` come from httpx's trace events, `wait` is each wait on
the stream, `text` our parsing of an event. Where the server times each token
(llama-server, asked with `timings_per_token`), the waits are split once the run
ends (`split_waits`): `server_queue`, `server_prefill` (its `prompt_ms`),
`server_decode` (its `predicted_ms`, token by token) and `transport` (the rest).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Optional

from ..errors import BackendUnavailable, InvalidInput, ModelNotFound
from ..metrics import EngineReport, PhaseClock, PhasePlan
from ..run_errors import GenerationError
from ..types import GenerationConfig
from .base import EngineChunk, LlmBackend, Prompt, Requirement

DEFAULT_TIMEOUT_S = 30.0
PHASES = PhasePlan(first=("prepare", "connect", "send"), repeating=("wait", "text"))
_CONNECT, _SEND, _WAIT, _TEXT = (PHASES.names.index(name) for name in ("connect", "send", "wait", "text"))
NO_SERVER_TIMINGS = "this server reports no per-token timings: only the client side is split"
_TRACE_PHASES = {
    "connection.connect_tcp.started": _CONNECT,
    "http11.send_request_headers.started": _SEND,
    "http11.send_request_body.complete": _WAIT,
}
_FINISH = {"stop": "stop", "length": "length", "eos": "stop", "tool_calls": "stop", "content_filter": "stop"}


def _httpx() -> Any:
    try:
        import httpx
    except ImportError:
        raise BackendUnavailable("httpx is not installed: pip install httpx") from None
    return httpx


@dataclass(frozen=True)
class RemoteSpec:
    """A model on a server: base URL (ending in /v1), model name, env var holding the key, first-byte timeout."""

    url: str
    model: str
    api_key_env: Optional[str] = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    def validate(self) -> RemoteSpec:
        """Check the fields; `InvalidInput` naming the one that is wrong. Returns the spec, URL trimmed."""
        if not self.url.startswith(("http://", "https://")):
            raise InvalidInput(f"--url must start with http:// or https://, got {self.url!r}")
        if not self.model or not self.model.strip():
            raise InvalidInput("name the model the server serves, e.g. %xybrid load MODEL --backend remote --url URL")
        if not self.timeout_s > 0:
            raise InvalidInput(f"timeout must be > 0 seconds, got {self.timeout_s}")
        return RemoteSpec(self.url.rstrip("/"), self.model, self.api_key_env, self.timeout_s)

    def headers(self) -> dict[str, str]:
        """Request headers; the key is read from the environment now and kept nowhere."""
        headers = {"Accept": "text/event-stream"}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise InvalidInput(f"the environment variable {self.api_key_env} is empty or unset: export the API key")
            headers["Authorization"] = f"Bearer {key}"
        return headers


def _server_message(response: Any) -> str:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return (response.text or "").strip()[:200]
    error = body.get("error", body) if isinstance(body, dict) else body
    message = error.get("message") or error.get("detail") if isinstance(error, dict) else error
    return str(message)[:200]


def _check_status(response: Any, url: str) -> None:
    if response.status_code < 400:
        return
    response.read()
    hints = {
        401: "check the API key (--api-key-env)",
        403: "the key may lack access",
        404: "check the URL and the model name",
        429: "rate limited: wait and retry",
    }
    hint = hints.get(response.status_code, "the server failed" if response.status_code >= 500 else "")
    raise GenerationError(f"{url} answered HTTP {response.status_code}: {_server_message(response)} ({hint})")


def _transport_error(exc: Exception, url: str, timeout_s: float) -> GenerationError:
    httpx = _httpx()
    if isinstance(exc, (httpx.ConnectTimeout, httpx.ReadTimeout)):
        return GenerationError(f"no answer from {url} within {timeout_s:g} s: is the server overloaded? (--timeout)")
    if isinstance(exc, httpx.ConnectError):
        reason = str(exc).split("] ")[-1] or "connection failed"
        return GenerationError(f"cannot connect to {url}: {reason} (is the server running, is the URL right?)")
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return GenerationError(f"the stream from {url} was cut: {exc}")
    return GenerationError(f"request to {url} failed: {type(exc).__name__}: {exc}")


def parse_event_data(data: str) -> Optional[dict[str, Any]]:
    """The JSON object an event's `data` carries; None for an empty payload and for `[DONE]`.

    A payload that is not a JSON object raises `GenerationError` naming it; an
    `error` object from the server raises `GenerationError` with its message.
    """
    payload = data.strip()
    if not payload or payload == "[DONE]":
        return None
    try:
        event = json.loads(payload)
    except ValueError:
        raise GenerationError(f"malformed server-sent event: {payload[:80]!r}") from None
    if not isinstance(event, dict):
        raise GenerationError(f"malformed server-sent event: {payload[:80]!r}")
    if "error" in event:
        raise GenerationError(f"the server reported an error mid-stream: {_event_error(event['error'])}")
    return event


def _event_error(error: Any) -> str:
    return str(error.get("message", error)) if isinstance(error, dict) else str(error)


def _read_usage(event: dict[str, Any], report: EngineReport) -> None:
    usage = event.get("usage")
    if isinstance(usage, dict):
        report.tokens_generated = int(usage.get("completion_tokens") or report.tokens_generated)
        report.prompt_tokens = int(usage.get("prompt_tokens") or report.prompt_tokens)
        details = usage.get("prompt_tokens_details") or {}
        if details.get("cached_tokens") is not None:
            report.prompt_cached_tokens = int(details["cached_tokens"])
    timings = event.get("timings")  # llama.cpp's server
    if isinstance(timings, dict):
        if timings.get("predicted_per_second"):
            report.engine_decode_tps = float(timings["predicted_per_second"])
        if timings.get("prompt_per_second"):
            report.engine_prefill_tps = float(timings["prompt_per_second"])
        if timings.get("cache_n") is not None:
            report.prompt_cached_tokens = int(timings["cache_n"])
        if timings.get("prompt_n") is not None and report.prompt_cached_tokens is not None:
            report.prompt_tokens = report.prompt_tokens or int(timings["prompt_n"]) + report.prompt_cached_tokens


def _piece(choice: dict[str, Any]) -> str:
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return delta.get("content") or ""
    return choice.get("text") or ""


def _trace_marker(phases: PhaseClock) -> Any:
    """httpx's `trace` extension: marks `connect` (a new connection), `send` and the start of the wait."""

    def trace(event: str, info: dict[str, Any]) -> None:
        phase = _TRACE_PHASES.get(event)
        if phase is not None:
            phases.enter(phase)

    return trace


@dataclass(frozen=True)
class ServerTiming:
    """llama-server's running `timings` as one chunk's event carried them (ms on the server's clock)."""

    prompt_ms: float
    predicted_ms: float


def split_waits(phases_ms: dict[str, list[float]], timings: list[Optional[ServerTiming]]) -> dict[str, list[float]]:
    """Split each chunk's `wait` by the server's own timings: chunk 0's into `server_queue` (the rest),
    `server_prefill` and `server_decode`; every later one into `server_decode` and `transport` (the rest).

    The server decodes the next token while the client handles the last one (the two are
    pipelined), so a decode step is longer than the wait it ends. The server's decode is
    what held the chunk back: it takes the wait first, then the chunk's `client` and `text`
    time (our work it hid); a step longer than its whole gap (two chunks read at once)
    carries on into the next chunks, and what is left at the end goes back into earlier
    ones (down to chunk 0's queue: the next decode begins as the first chunk leaves the
    server, before the client stamps it). No phase is negative, each chunk's phases still
    sum to its gap, and the decodes add up to the server's `predicted_ms` at the last chunk.
    """
    waits = phases_ms.get("wait", [])
    if not waits or len(timings) < len(waits) or any(t is None for t in timings[: len(waits)]):
        return phases_ms
    known = [t for t in timings[: len(waits)] if t is not None]
    n = len(waits)
    split = {name: list(values) for name, values in phases_ms.items() if name != "wait"}
    queue, prefill, decode, transport = [0.0] * n, [0.0] * n, [0.0] * n, list(waits)
    prefill[0], decode[0], transport[0] = known[0].prompt_ms, known[0].predicted_ms, 0.0
    queue[0] = waits[0] - prefill[0] - decode[0]
    # taken in this order; chunk 0's queue last: the second token's decode began before the first chunk was stamped
    hidden = [transport, split.get("client", [0.0] * n), split.get("text", [0.0] * n), queue]
    carry = 0.0
    for i in range(1, n):
        carry += known[i].predicted_ms - known[i - 1].predicted_ms
        carry -= _absorb(decode, hidden, i, carry)
    for i in range(n - 1, -1, -1):  # what the last chunks could not hold goes back into earlier ones
        if carry <= 0:
            break
        carry -= _absorb(decode, hidden, i, carry)
    client = split.pop("client")
    return {
        **split,
        "server_queue": queue,
        "server_prefill": prefill,
        "server_decode": decode,
        "transport": transport,
        "client": client,
    }


def _absorb(decode: list[float], pools: list[list[float]], i: int, amount: float) -> float:
    """Move up to `amount` ms of chunk i's pools (in order) into its server decode; return how much moved."""
    moved = 0.0
    for pool in pools:
        take = min(max(amount - moved, 0.0), pool[i])
        pool[i] -= take
        moved += take
    decode[i] += moved
    return moved


def _server_timing(event: dict[str, Any]) -> Optional[ServerTiming]:
    timings = event.get("timings")
    if not isinstance(timings, dict) or timings.get("predicted_ms") is None:
        return None
    return ServerTiming(float(timings.get("prompt_ms") or 0.0), float(timings["predicted_ms"]))


class RemoteBackend(LlmBackend[RemoteSpec]):
    """An OpenAI-compatible HTTP endpoint, measured exactly like a local engine."""

    name = "remote"
    target = "remote"
    requires = (Requirement("httpx", "pip install httpx"),)
    phase_plan = PHASES

    def __init__(self) -> None:
        super().__init__()
        self._server_kind: Optional[str] = None
        self._client: Any = None

    # -- lifecycle ---------------------------------------------------------------------------
    def load(self, source: RemoteSpec) -> None:
        """Check the spec, connect, and check the server serves the model."""
        super().load(source.validate())

    def _load(self, spec: RemoteSpec, checked: None) -> None:
        """Check the server answers and serves the model."""
        httpx = _httpx()
        client = httpx.Client(timeout=httpx.Timeout(spec.timeout_s, connect=min(spec.timeout_s, 10)))
        try:
            response = client.get(f"{spec.url}/models", headers=spec.headers())
        except httpx.HTTPError as exc:
            client.close()
            raise _transport_error(exc, spec.url, spec.timeout_s) from None
        if response.status_code >= 400 and response.status_code != 404:
            client.close()
            _check_status(response, spec.url)
        models = self._model_ids(response)
        if models and spec.model not in models:
            client.close()
            raise ModelNotFound(f"the server does not serve {spec.model!r}; it serves: {', '.join(sorted(models)[:8])}")
        self._server_kind = self._guess_kind(response)
        self._client = client

    @staticmethod
    def _model_ids(response: Any) -> set[str]:
        try:
            return {str(m["id"]) for m in response.json().get("data", [])}
        except (ValueError, AttributeError, KeyError, TypeError):
            return set()

    @staticmethod
    def _guess_kind(response: Any) -> str:
        try:
            owners = {str(m.get("owned_by", "")) for m in response.json().get("data", [])}
        except (ValueError, AttributeError, TypeError):
            owners = set()
        if "vllm" in owners:
            return "vllm"
        if "llamacpp" in owners:
            return "llama-server"
        if "me" in owners and "uvicorn" in response.headers.get("server", ""):
            return "llama-cpp-python-server"
        return "remote"

    def _unload(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    # -- introspection -----------------------------------------------------------------------
    def model_id(self) -> str:
        """The model name on the server."""
        return self._source.model if self._source else ""

    def describe_source(self) -> str:
        """The server's base URL."""
        return self._source.url if self._source else ""

    def execution_provider(self) -> str:
        """The server kind when it can tell ("vllm", "llama-server", "llama-cpp-python-server"), else "remote"."""
        return self._server_kind or "remote"

    # -- generation --------------------------------------------------------------------------
    def _prepare(self, prompt: Prompt, config: GenerationConfig) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.model_id(),
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "top_k": config.top_k,
            "min_p": config.min_p,
            "repeat_penalty": config.repeat_penalty,
        }
        if self._server_kind == "llama-server":
            body["timings_per_token"] = True  # its running `timings` on every chunk: the waits can be split
        if config.seed is not None:
            body["seed"] = config.seed
        if config.stop:
            body["stop"] = list(config.stop)
        if isinstance(prompt, str):
            body["prompt"] = prompt
            return "completions", body
        body["messages"] = [{"role": m.role, "content": m.content} for m in prompt]
        return "chat/completions", body

    def _stream(
        self, prepared: tuple[str, dict[str, Any]], config: GenerationConfig, report: EngineReport
    ) -> Iterator[EngineChunk]:
        httpx = _httpx()
        path, body = prepared
        assert self._source is not None and self._client is not None
        url = f"{self._source.url}/{path}"
        report.finish_reason = "stop"
        timings: list[Optional[ServerTiming]] = []
        report.phase_refiner = lambda phases_ms: self._split(phases_ms, timings, report)
        extensions = {"trace": _trace_marker(self.phases)}
        for attempt in (1, 2):
            answered = False
            try:
                with self._client.stream(
                    "POST", url, json=body, headers=self._source.headers(), extensions=extensions
                ) as response:
                    answered = True
                    _check_status(response, self._source.url)
                    yield from self._events(response, report, timings)
                return
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                # A pooled connection the server had closed after its last stream (llama-server does, though it
                # says keep-alive) fails before any byte of the answer: nothing was generated, so once more on a
                # fresh connection is safe. After the first byte, a cut is the run's error.
                if answered or attempt == 2:
                    raise _transport_error(exc, self._source.url, self._source.timeout_s) from None
            except httpx.HTTPError as exc:
                raise _transport_error(exc, self._source.url, self._source.timeout_s) from None

    @staticmethod
    def _split(
        phases_ms: dict[str, list[float]], timings: list[Optional[ServerTiming]], report: EngineReport
    ) -> dict[str, list[float]]:
        split = split_waits(phases_ms, timings)
        if split is phases_ms:
            report.phase_note = NO_SERVER_TIMINGS
        return split

    def _events(
        self, response: Any, report: EngineReport, timings: list[Optional[ServerTiming]]
    ) -> Iterator[EngineChunk]:
        """Chunks from the server-sent events of one response (framing by httpx-sse); each text chunk's
        server timings go to `timings`."""
        from httpx_sse import EventSource, SSEError

        counted, finished = 0, False
        try:
            for sse in self.phases.timed(EventSource(response).iter_sse(), _WAIT, _TEXT):
                if sse.data.strip() == "[DONE]":
                    finished = True
                    continue
                event = parse_event_data(sse.data)
                if event is None:
                    continue
                _read_usage(event, report)
                for choice in event.get("choices") or []:
                    if choice.get("finish_reason"):
                        finished = True
                        report.finish_reason = _FINISH.get(choice["finish_reason"], "stop")
                    text = _piece(choice)
                    if text:
                        counted += 1
                        timings.append(_server_timing(event))
                        if event.get("usage") is None:
                            report.tokens_generated = max(report.tokens_generated, counted)
                        yield EngineChunk(text, 1, None, report.finish_reason if choice.get("finish_reason") else None)
        except SSEError as exc:
            raise GenerationError(f"{self.describe_source()} did not answer with an event stream: {exc}") from None
        if not finished:
            raise GenerationError(
                f"the stream from {self.describe_source() or 'the server'} "
                "ended before the generation finished (connection cut?)"
            )
