"""`LlmBackend`: the seed's trait, with the timing done once, here, for every engine.

A backend implements four engine hooks (`_load`, `_unload`, `_prepare`,
`_stream`) and never reads a clock. The public `generate*` methods validate
input, take the busy lock, start the run's `PhaseClock` (so that `_prepare` is
the first phase of the TTFT), and hand the engine's chunk iterator to
`timed_stream`, which stamps each chunk the moment it arrives. A backend names
the phases it passes through (`phase_plan`, `self.phases.enter`); the core reads
the clock.
"""

from __future__ import annotations

import importlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Optional, TypeVar, Union

from ..errors import BackendUnavailable, GenerationInProgress, InvalidInput, ModelNotLoaded, XybridError
from ..metrics import ChunkClock, EngineReport, PhaseClock, PhasePlan, RunIdentity
from ..run_errors import GenerationCancelled, GenerationError
from ..types import ChatMessage, GenerationConfig, GenerationOutput, PartialToken

OnToken = Callable[[PartialToken], Optional[bool]]
Prompt = Union[str, Sequence[ChatMessage]]


@dataclass(slots=True)
class EngineChunk:
    """A piece of text as the engine hands it over; empty pieces are not chunks."""

    text: str
    n_tokens: int = 1
    token_id: Optional[int] = None
    finish_reason: Optional[str] = None


def import_engine(module: str, pip_name: str) -> Any:
    """Import an engine's Python package, or say how to install it (`BackendUnavailable`)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailable(f"{pip_name} is not installed ({exc}): pip install {pip_name}") from None


class _CallbackFailed(Exception):
    def __init__(self, original: BaseException) -> None:
        self.original = original


def check_prompt_text(text: str, what: str = "prompt") -> None:
    """Reject text no engine can take: empty, NUL bytes, lone surrogates."""
    if not isinstance(text, str):
        raise InvalidInput(f"the {what} must be text, got {type(text).__name__}")
    if not text.strip():
        raise InvalidInput(f"the {what} is empty: write something to send to the model")
    if "\x00" in text:
        raise InvalidInput(f"the {what} contains a NUL byte (\\x00): remove it")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"the {what} contains a lone surrogate at character {exc.start}: it is not valid Unicode"
        ) from None


def timed_stream(
    stream: Iterator[EngineChunk],
    report: EngineReport,
    identity: RunIdentity,
    on_token: Optional[OnToken] = None,
    clock: Optional[ChunkClock] = None,
    on_end: Optional[Callable[[GenerationOutput], None]] = None,
    phases: Optional[PhaseClock] = None,
) -> GenerationOutput:
    """Consume an engine's chunk iterator, timestamp every non-empty chunk, build the output.

    With `phases` (already started, its clock the one that times the run), every chunk's
    gap is split into the phases the backend marked. `on_token` returning False cancels.
    However the run ends, `on_end` receives its output first. An interrupt becomes
    `GenerationCancelled` and an engine failure `GenerationError`, each holding the
    partial output; an exception raised by `on_token` (a bug in a listener) propagates
    unchanged, with its traceback.
    """
    if phases is not None:
        clock = phases.clock
    else:
        clock = clock or ChunkClock()
        clock.start()
    pieces: list[str] = []
    stamp, keep_piece = (phases.stamp if phases is not None else clock.stamp), pieces.append
    finish: Optional[str] = None
    failure: Optional[BaseException] = None
    try:
        for chunk in stream:
            text = chunk.text
            if not text:
                continue
            stamp(chunk.n_tokens)
            keep_piece(text)
            if on_token is not None:
                try:
                    keep = on_token(
                        PartialToken(text, chunk.token_id, len(pieces) - 1, None, chunk.finish_reason, pieces=pieces)
                    )
                except Exception as exc:
                    raise _CallbackFailed(exc) from exc
                if keep is False:
                    finish = "cancelled"
                    break
    except KeyboardInterrupt as exc:
        finish, failure = "cancelled", exc
    except _CallbackFailed as exc:
        finish, failure = "error", exc.original
    except XybridError as exc:
        finish, failure = "error", exc
    except Exception as exc:
        finish, failure = "error", GenerationError(f"the engine failed while generating: {exc}")
        failure.__cause__ = exc
    finally:
        clock.stop()
        stream_close = getattr(stream, "close", None)
        if stream_close is not None:
            stream_close()
    output = clock.build_output(pieces, report, identity, finish or report.finish_reason, phases)
    if failure is not None:
        output.error = f"{type(failure).__name__}: {failure}" if finish == "error" else None
    if on_end is not None:
        on_end(output)
    if isinstance(failure, KeyboardInterrupt):
        raise GenerationCancelled(output) from failure
    if isinstance(failure, GenerationError):
        failure.partial = output
    if failure is not None:
        raise failure
    return output


SourceT = TypeVar("SourceT")


@dataclass(frozen=True)
class Requirement:
    """A Python module a backend needs at run time, and how to install it."""

    module: str
    install: str


class LlmBackend(ABC, Generic[SourceT]):
    """An inference engine behind one interface; mirrors xybrid-core's `LlmBackend` trait.

    `SourceT` is what `load()` takes: an `LlmConfig` for a local model file
    (`GgufFileBackend`), a `RemoteSpec` for a server.
    """

    #: Registry name, e.g. "llama-cpp".
    name: ClassVar[str] = "base"
    #: Where runs on this backend go: "local" (this machine) or "remote" (a server).
    target: ClassVar[str] = "local"
    #: Modules the backend imports at run time; the registry reports it unusable while one is missing.
    requires: ClassVar[tuple[Requirement, ...]] = ()
    #: The phases this backend marks in every run (`prepare` alone: the rest of each gap is `client`).
    phase_plan: ClassVar[PhasePlan] = PhasePlan()

    def __init__(self) -> None:
        self._source: Optional[SourceT] = None
        self._busy = threading.Lock()
        self.last_output: Optional[GenerationOutput] = None
        self.phases = PhaseClock(ChunkClock(), self.phase_plan)

    # -- lifecycle ---------------------------------------------------------------------------
    def load(self, source: SourceT) -> None:
        """Check `source`, then load it; a model already loaded is replaced only once the check passed."""
        checked = self._check(source)
        if self.is_loaded():
            self.unload()
        self._load(source, checked)
        self._source = source

    def unload(self) -> None:
        """Free the model; calling it with nothing loaded does nothing."""
        if self.is_loaded():
            self._unload()
        self._source = None

    def is_loaded(self) -> bool:
        """True while a model is loaded."""
        return self._source is not None

    @property
    def source(self) -> Optional[SourceT]:
        """What was loaded (an `LlmConfig`, a `RemoteSpec`), if anything."""
        return self._source

    def describe_source(self) -> str:
        """Where the loaded model comes from, for people: a file path, a URL."""
        return str(self._source) if self._source is not None else ""

    def model_id(self) -> str:
        """Short name of the loaded model."""
        return ""

    # -- generation --------------------------------------------------------------------------
    def generate(self, messages: Sequence[ChatMessage], config: GenerationConfig) -> GenerationOutput:
        """Generate a reply to chat messages; returns when done."""
        return self._run(list(messages), config, None)

    def generate_raw(self, prompt: str, config: GenerationConfig) -> GenerationOutput:
        """Generate a continuation of a raw prompt (no chat template)."""
        return self._run(prompt, config, None)

    def generate_streaming(
        self,
        messages: Sequence[ChatMessage],
        config: GenerationConfig,
        on_token: Optional[OnToken],
        *,
        clock: Optional[ChunkClock] = None,
    ) -> GenerationOutput:
        """Generate a chat reply, calling `on_token` per chunk (None: nobody listens); False from it cancels.

        Pass a `clock` to read each chunk's timestamp (`clock.offsets_ns[token.index]`)
        from inside `on_token`.
        """
        return self._run(list(messages), config, on_token, clock)

    def generate_raw_streaming(
        self, prompt: str, config: GenerationConfig, on_token: Optional[OnToken], *, clock: Optional[ChunkClock] = None
    ) -> GenerationOutput:
        """Continue a raw prompt, calling `on_token` per chunk (None: nobody listens); False from it cancels."""
        return self._run(prompt, config, on_token, clock)

    def supports_streaming(self) -> bool:
        """True when the engine delivers text piece by piece (not one final chunk)."""
        return type(self)._stream is not LlmBackend._stream

    # -- introspection -----------------------------------------------------------------------
    def memory_usage(self) -> Optional[int]:
        """Approximate bytes held by the loaded model, if known."""
        return None

    def context_length(self) -> Optional[int]:
        """Context size (tokens) of the loaded model; None where this side cannot tell."""
        return None

    def last_cached_prefix_len(self) -> Optional[int]:
        """Prompt tokens reused from the KV cache on the last call; None if unknown."""
        return None

    def reset_cache(self) -> None:
        """Forget cached prompt state, so the next call computes its prompt from scratch."""

    def count_prompt_tokens(self, prompt: Prompt) -> Optional[int]:
        """Tokens this engine makes of `prompt`, formatted as a run would send it; nothing is generated.

        Two engines given the same model file and text may disagree (their tokenizers differ);
        None where the engine cannot tell without generating (a remote server).
        """
        self._check_prompt(prompt)
        return self._count_prompt_tokens(prompt)

    def _count_prompt_tokens(self, prompt: Prompt) -> Optional[int]:
        """Engine hook for `count_prompt_tokens`; None by default."""
        return None

    def execution_provider(self) -> str:
        """Where the model runs: "cpu", "cuda" or "metal"."""
        return "cpu"

    def engine_note(self) -> Optional[str]:
        """One line saying what was turned off on this machine and why; None when nothing was."""
        return None

    def engine_settings_label(self) -> Optional[str]:
        """A short name for what was turned off on this machine (recorded with every run); None: nothing."""
        return None

    def label(self) -> str:
        """The engine's one name in figures, tables and exports: its registry name ("llama-cpp", "mistralrs", ...)."""
        return self.name

    def identity(self) -> RunIdentity:
        """Which engine runs which model, where, and with what turned off."""
        return RunIdentity(self.label(), self.model_id(), self.execution_provider(), self.engine_settings_label())

    # -- the core ----------------------------------------------------------------------------
    def _check_prompt(self, prompt: Prompt) -> None:
        """A usable prompt for a loaded model, or one line saying what is wrong."""
        if isinstance(prompt, str):
            check_prompt_text(prompt)
        else:
            if not prompt:
                raise InvalidInput("no messages to send: give at least one user message")
            for message in prompt:
                check_prompt_text(message.content, f"{message.role} message")
        if not self.is_loaded():
            raise ModelNotLoaded("no model is loaded: call load() first (in a notebook: %xybrid load)")

    def _run(
        self,
        prompt: Prompt,
        config: GenerationConfig,
        on_token: Optional[OnToken],
        clock: Optional[ChunkClock] = None,
    ) -> GenerationOutput:
        self._check_prompt(prompt)
        if not self._busy.acquire(blocking=False):
            raise GenerationInProgress("a generation is already running on this backend: wait for it or stop it")
        try:
            self.last_output = None
            self.phases = phases = PhaseClock(clock or ChunkClock(), self.phase_plan, self.phase_threads())
            phases.start()  # `prepare` is the first phase of the TTFT
            prepared = self._prepare(prompt, config)
            report = EngineReport()
            stream = self._stream(prepared, config, report)
            return timed_stream(stream, report, self.identity(), on_token, on_end=self._keep_output, phases=phases)
        finally:
            self._busy.release()

    def phase_threads(self) -> int:
        """The threads the engine computes with in this process (a CPU share's denominator)."""
        return 1

    def _keep_output(self, output: GenerationOutput) -> None:
        self.last_output = output

    # -- engine hooks ------------------------------------------------------------------------
    def _check(self, source: SourceT) -> Any:
        """Reject a bad source before anything loaded is dropped; what it returns is passed to `_load`."""
        return None

    @abstractmethod
    def _load(self, source: SourceT, checked: Any) -> None:
        """Load the checked source into the engine."""

    @abstractmethod
    def _unload(self) -> None:
        """Release every resource the engine holds for the model."""

    @abstractmethod
    def _prepare(self, prompt: Prompt, config: GenerationConfig) -> Any:
        """Build the engine request (format, tokenize, check the context); no generation yet."""

    def _stream(self, prepared: Any, config: GenerationConfig, report: EngineReport) -> Iterator[EngineChunk]:
        """Yield chunks as the engine produces them, filling `report` as it learns figures.

        The fallback for engines without streaming: one chunk holding the whole text.
        """
        yield EngineChunk(self._complete(prepared, config, report))

    def _complete(self, prepared: Any, config: GenerationConfig, report: EngineReport) -> str:
        """Non-streaming generation, for engines that override neither this nor `_stream`."""
        raise NotImplementedError(f"{type(self).__name__} implements neither _stream nor _complete")
