"""Session: the loaded backend, the default generation config, the conversation and run history.

Everything the magics do goes through here, so it works the same from plain Python.
`current_session()` is the session of this kernel's magics (registered with
`attach_session`), or one session per process outside IPython.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from .backends import canonical_name, create_backend
from .backends.base import LlmBackend, OnToken, Prompt
from .backends.remote import RemoteSpec
from .errors import InvalidInput, PromptTooLong
from .format import fmt_mib
from .host import HostLoad, HostSampler
from .metrics import NS_PER_MS, NS_PER_S, ChunkClock
from .model_sources import resolve_source
from .otel import Telemetry, TelemetrySettings
from .routing import LOAD_REMOTE, RouteChoice, check_route, choose_route, fallback_route
from .run_errors import GenerationError
from .shell import running_shell
from .types import ChatMessage, GenerationConfig, GenerationOutput, LlmConfig

DEFAULT_BACKEND = "llama-cpp"
RunMode = str  # "single" (one user turn), "chat" (the kept conversation) or "raw"
RUN_MODES = ("single", "chat", "raw")


def check_mode(mode: str) -> RunMode:
    """`mode` if it is a run mode, else one line naming the choices."""
    if mode not in RUN_MODES:
        raise InvalidInput(f"mode must be single, chat or raw, got {mode!r}")
    return mode


@dataclass
class LoadSummary:
    """What a load did: which model, where, how big, how long."""

    model_id: str
    source: str
    backend: str
    execution_provider: str
    context_length: Optional[int]
    memory_bytes: Optional[int]
    load_seconds: float
    engine_note: Optional[str] = None

    def line(self) -> str:
        """One line for the user (a second one when something was turned off on this machine)."""
        line = (
            f"Loaded {self.model_id} on {self.backend} ({self.execution_provider}) | "
            f"context {self.context_length} | memory {fmt_mib(self.memory_bytes)} | {self.load_seconds:.2f} s"
        )
        return line if self.engine_note is None else f"{self.engine_note}\n{line}"


@dataclass
class RunRecord:
    """One generation of the session, whatever its ending."""

    index: int
    started_at: datetime
    mode: RunMode
    prompt: str
    config: GenerationConfig
    output: GenerationOutput

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: run metadata, the config, and every figure with per-chunk timings."""
        config = dataclasses.asdict(self.config)
        config["stop"] = list(self.config.stop)
        return {
            "index": self.index,
            "started_at": self.started_at.isoformat(timespec="milliseconds"),
            "mode": self.mode,
            "prompt": self.prompt,
            "config": config,
            "output": self.output.to_dict(),
        }


def name_stalls(output: GenerationOutput, t_start_ns: int, load: Optional[HostLoad]) -> None:
    """Give each stall of `output` the other processes that used the CPU during its gap (from `load`)."""
    if load is None or not output.stalls:
        return
    offsets = output.chunk_offsets_ms
    for stall in output.stalls:
        index = stall["index"]
        start = (t_start_ns + offsets[index - 1] * NS_PER_MS) / NS_PER_S
        end = (t_start_ns + offsets[index] * NS_PER_MS) / NS_PER_S
        stall["others"] = load.processes.who_ran(start, end)


@dataclass
class Session:
    """The state behind `%xybrid` and `%%generate`; usable from plain Python too."""

    backends: dict[str, LlmBackend] = field(default_factory=dict)
    route: str = "auto"
    defaults: GenerationConfig = field(default_factory=GenerationConfig)
    system_prompt: Optional[str] = None
    chat_system: Optional[str] = None
    history: list[RunRecord] = field(default_factory=list)
    #: `LoadResult`s of this session's load tests, oldest first.
    load_tests: list[Any] = field(default_factory=list)
    #: OpenTelemetry export (`otel.Telemetry`) while it is on, else None.
    telemetry: Optional[Telemetry] = None
    conversation: list[ChatMessage] = field(default_factory=list)
    backend_factory: Callable[[str], LlmBackend] = create_backend

    # -- models --------------------------------------------------------------------------------
    def load(
        self,
        model: Optional[str] = None,
        backend: str = DEFAULT_BACKEND,
        context_length: int = 4096,
        n_threads: Optional[int] = None,
        n_gpu_layers: int = 0,
        *,
        url: Optional[str] = None,
        api_key_env: Optional[str] = None,
        timeout_s: float = 30.0,
    ) -> LoadSummary:
        """Load a local model, or set up a remote server (`backend="remote"`, `url`).

        The previous model of the same kind stays loaded until the new one has loaded.
        """
        fresh = self.backend_factory(canonical_name(backend))
        source = self._source_for(fresh, model, context_length, n_threads, n_gpu_layers, url, api_key_env, timeout_s)
        started = time.perf_counter()
        fresh.load(source)
        seconds = time.perf_counter() - started
        previous = self.backends.get(fresh.target)
        self.backends[fresh.target] = fresh
        if previous is not None:
            previous.unload()
        self.reset_chat()
        return LoadSummary(
            model_id=fresh.model_id(),
            source=fresh.describe_source(),
            backend=fresh.label(),
            execution_provider=fresh.execution_provider(),
            context_length=fresh.context_length(),
            memory_bytes=fresh.memory_usage(),
            load_seconds=seconds,
            engine_note=fresh.engine_note(),
        )

    @staticmethod
    def _source_for(
        backend: LlmBackend,
        model: Optional[str],
        context_length: int,
        n_threads: Optional[int],
        n_gpu_layers: int,
        url: Optional[str],
        api_key_env: Optional[str],
        timeout_s: float,
    ) -> Any:
        """What `backend.load` takes: a `RemoteSpec` for a server, else an `LlmConfig` for a model file."""
        if backend.target == "remote":
            if not model:
                raise InvalidInput(f"name the model the server serves: {LOAD_REMOTE}")
            return RemoteSpec(url or "", model, api_key_env, timeout_s).validate()
        if url is not None or api_key_env is not None:
            raise InvalidInput("--url and --api-key-env are for --backend remote only")
        return LlmConfig(resolve_source(model), context_length, n_threads, n_gpu_layers).validate()

    def unload(self) -> bool:
        """Free the local model and forget the remote server; False if neither was there."""
        if not self.backends:
            return False
        for backend in self.backends.values():
            backend.unload()
        self.backends.clear()
        self.reset_chat()
        return True

    @property
    def backend(self) -> Optional[LlmBackend]:
        """The local backend, if one is loaded."""
        return self.backends.get("local")

    @property
    def remote(self) -> Optional[LlmBackend]:
        """The remote backend, if a server is set up."""
        return self.backends.get("remote")

    def _has(self, target: str) -> bool:
        backend = self.backends.get(target)
        return backend is not None and backend.is_loaded()

    def _choose(self) -> RouteChoice:
        return choose_route(self.route, self._has("local"), self._has("remote"))

    def set_route(self, route: str) -> str:
        """Choose where runs go: local, remote, or auto (xybrid's policy)."""
        self.route = check_route(route)
        return self.route

    def require_backend(self) -> LlmBackend:
        """The backend the current route picks first, or `ModelNotLoaded` with the command that fixes it."""
        return self.backends[self._choose().target]

    # -- configuration -------------------------------------------------------------------------
    def configure(self, **changes: Any) -> GenerationConfig:
        """Change the default generation config; invalid values leave it unchanged."""
        system = changes.pop("system", None)
        updated = self.run_config(**changes)
        self.defaults = updated
        if system is not None:
            self.system_prompt = system or None
        return updated

    def reset_chat(self) -> int:
        """Forget the conversation and its system prompt; return how many messages were dropped."""
        dropped = len(self.conversation)
        self.conversation.clear()
        self.chat_system = None
        return dropped

    def set_chat_system(self, system: Optional[str]) -> Optional[str]:
        """Make `system` the conversation's system prompt for this turn and the ones after ('' clears it).

        Returns a line to show when it changes mid-conversation (the engine's cached
        prefix no longer matches); None otherwise, and when `system` is None.
        """
        if system is None:
            return None
        new = system or None
        changed = bool(self.conversation) and new != self.conversation_system()
        self.chat_system = new
        if not changed:
            return None
        return "The conversation's system prompt changed: its cached prefix will be recomputed on this turn."

    def conversation_system(self) -> Optional[str]:
        """The system prompt `--chat` turns are sent with: the conversation's own, else the session default."""
        return self.chat_system if self.chat_system is not None else self.system_prompt

    # -- generation ----------------------------------------------------------------------------
    def build_prompt(self, text: str, mode: RunMode, system: Optional[str] = None) -> Prompt:
        """The raw text, or the messages (system prompt, kept turns if chatting, this turn)."""
        if mode == "raw":
            return text
        if system is None:
            system = self.conversation_system() if mode == "chat" else self.system_prompt
        messages = [ChatMessage.system(system)] if system else []
        if mode == "chat":
            messages.extend(self.conversation)
        messages.append(ChatMessage.user(text))
        return messages

    def run_config(self, **overrides: Any) -> GenerationConfig:
        """The defaults with `overrides` applied, checked: what one run would use (nothing changes)."""
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(GenerationConfig)})
        if unknown:
            names = ", ".join(f.name for f in dataclasses.fields(GenerationConfig))
            raise InvalidInput(f"unknown generation setting {unknown[0]!r}: choose from {names}")
        return dataclasses.replace(self.defaults, **overrides)

    def generate(
        self,
        text: str,
        *,
        mode: RunMode = "single",
        system: Optional[str] = None,
        on_token: Optional[OnToken] = None,
        clock: Optional[ChunkClock] = None,
        config: Optional[GenerationConfig] = None,
        **overrides: Any,
    ) -> GenerationOutput:
        """Run one generation and record it; a cancelled or failed run is recorded too.

        `config` is the run's settings as `run_config` made them; without it, the
        defaults with `overrides`.
        """
        check_mode(mode)
        if config is None:
            config = self.run_config(**overrides)
        elif overrides:
            raise InvalidInput("give either config or setting overrides, not both")
        if mode == "chat":
            self.set_chat_system(system)
            system = None
        prompt = self.build_prompt(text, mode, system)
        run = functools.partial(self._run_on, prompt, mode, text, config, on_token, clock)
        choice = self._choose()
        try:
            return run(choice)
        except (PromptTooLong, GenerationError) as exc:
            retry = fallback_route(self.route, choice, exc, self._has("remote"))
            if retry is None:
                raise
            return run(retry)

    def _run_on(
        self,
        prompt: Prompt,
        mode: RunMode,
        text: str,
        config: GenerationConfig,
        callback: Optional[OnToken],
        clock: Optional[ChunkClock],
        choice: RouteChoice,
    ) -> GenerationOutput:
        backend = self.backends[choice.target]
        clock = clock or ChunkClock()
        clock.reset()
        started_at = datetime.now()
        sampler = HostSampler().start()
        try:
            if isinstance(prompt, str):
                output = backend.generate_raw_streaming(prompt, config, callback, clock=clock)
            else:
                output = backend.generate_streaming(prompt, config, callback, clock=clock)
        except BaseException:
            load = sampler.stop()
            # Only a run that streamed is recorded (a refused one, e.g. a bad prompt, left no output of its own).
            if clock.finished and backend.last_output is not None:
                name_stalls(backend.last_output, clock.t_start, load)
                self._record(started_at, mode, text, config, backend.last_output, choice, load)
            raise
        load = sampler.stop()
        name_stalls(output, clock.t_start, load)
        self._record(started_at, mode, text, config, output, choice, load)
        return output

    def _record(
        self,
        started_at: datetime,
        mode: RunMode,
        text: str,
        config: GenerationConfig,
        output: GenerationOutput,
        choice: RouteChoice,
        load: Optional[HostLoad],
    ) -> None:
        output.route, output.route_reason = choice.target, choice.reason
        if load is not None:
            output.other_cpu_cores_mean = load.other_cpu_cores_mean
            output.other_cpu_cores_peak = load.other_cpu_cores_peak
            output.engine_cpu_cores_mean = load.engine_cpu_cores_mean
        self.history.append(RunRecord(len(self.history) + 1, started_at, mode, text, config, output))
        if self.telemetry is not None:  # queued for the export thread: nothing is sent from here
            source = self.backends[choice.target].describe_source() if choice.target == "remote" else ""
            operation = "text_completion" if mode == "raw" else "chat"
            self.telemetry.record_run(output, config, started_at.timestamp(), operation, source)
        if mode == "chat" and output.text:
            self.conversation += [ChatMessage.user(text), ChatMessage.assistant(output.text)]

    @property
    def last_output(self) -> Optional[GenerationOutput]:
        """The output of the most recent run, if any."""
        return self.history[-1].output if self.history else None

    def clear_history(self) -> int:
        """Forget the recorded runs; return how many there were."""
        count = len(self.history)
        self.history.clear()
        return count

    # -- status --------------------------------------------------------------------------------
    def set_telemetry(self, settings: Optional[TelemetrySettings]) -> Optional[str]:
        """Turn OpenTelemetry export on with `settings` (replacing any), or off with None; its status line."""
        if self.telemetry is not None:
            self.telemetry.shutdown()
            self.telemetry = None
        if settings is not None:
            self.telemetry = Telemetry(settings)
            return self.telemetry.status()
        return None

    def status(self) -> dict[str, Any]:
        """What is loaded locally and remotely, the defaults, the conversation and the history length."""
        local = self.backends.get("local")
        remote = self.backends.get("remote")
        return {
            "loaded": self._has("local"),
            **_backend_status(local if self._has("local") else None),
            "defaults": dataclasses.asdict(self.defaults),
            "system_prompt": self.system_prompt,
            "chat_system_prompt": self.chat_system,
            "remote": f"{remote.model_id()} at {remote.describe_source()} ({remote.label()})"
            if remote is not None and self._has("remote")
            else None,
            "route": self.route,
            "chat_turns": len(self.conversation) // 2,
            "runs": len(self.history),
            "load_tests": len(self.load_tests),
            "telemetry": self.telemetry.status() if self.telemetry is not None else "off",
        }


def _backend_status(backend: Optional[LlmBackend]) -> dict[str, Any]:
    """The figures of one loaded backend (every value None when there is none)."""
    if backend is None:
        keys = ("model", "source", "backend", "execution_provider", "context_length", "memory_bytes", "engine_settings")
        return dict.fromkeys(keys)
    return {
        "model": backend.model_id(),
        "source": backend.describe_source(),
        "backend": backend.label(),
        "execution_provider": backend.execution_provider(),
        "context_length": backend.context_length(),
        "memory_bytes": backend.memory_usage(),
        "engine_settings": backend.engine_note() or "engine defaults",
    }


def prompt_preview(prompt: str, width: int = 40) -> str:
    """The start of a prompt on one line, for tables."""
    flat = " ".join(prompt.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


_attached: dict[int, Session] = {}
_process_session: Optional[Session] = None


def attach_session(shell: Any, session: Session) -> None:
    """Make `session` the one `current_session()` returns inside `shell` (what `%load_ext` does)."""
    _attached[id(shell)] = session


def detach_session(shell: Any) -> Optional[Session]:
    """Forget `shell`'s session (what `%unload_ext` does); returns it."""
    return _attached.pop(id(shell), None)


def current_session() -> Session:
    """The session `%xybrid` and `%%generate` use in this kernel; outside IPython, one session per process."""
    global _process_session
    shell = running_shell()
    if shell is not None and id(shell) in _attached:
        return _attached[id(shell)]
    if _process_session is None:
        _process_session = Session()
    return _process_session


__all__ = [
    "DEFAULT_BACKEND",
    "LoadSummary",
    "RunRecord",
    "Session",
    "attach_session",
    "current_session",
    "detach_session",
    "prompt_preview",
]
