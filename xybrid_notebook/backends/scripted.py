"""ScriptedBackend: fixed chunks and delays, for exact timing arithmetic and UI tests only."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from ..metrics import EngineReport, PhasePlan
from ..types import GenerationConfig, LlmConfig
from .base import EngineChunk, LlmBackend, Prompt


@dataclass
class Script:
    """What the scripted engine does: its chunks, the wait before each, and its figures.

    `delays_s[i]` is slept before chunk i. `fail_after` raises RuntimeError after
    that many chunks. `prompt_tokens` defaults to the prompt's word count.
    """

    chunks: Sequence[str] = ("Hello", ",", " world", "!")
    delays_s: Sequence[float] = ()
    tokens_per_chunk: Sequence[int] = ()
    finish_reason: str = "stop"
    prompt_tokens: Optional[int] = None
    prompt_cached_tokens: Optional[int] = None
    fail_after: Optional[int] = None
    engine_decode_tps: Optional[float] = None
    engine_prefill_tps: Optional[float] = None
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)


PHASES = PhasePlan(first=("prepare",), repeating=("decode", "text"), cpu=True)
_DECODE, _TEXT = PHASES.names.index("decode"), PHASES.names.index("text")


class ScriptedBackend(LlmBackend[LlmConfig]):
    """Plays a `Script`; loads no file. Not a real engine: never the only proof of a feature.

    Its waits are the `decode` phase of each chunk, the rest of its loop `text`.
    """

    name = "scripted"
    phase_plan = PHASES

    def __init__(self, script: Optional[Script] = None) -> None:
        super().__init__()
        self.script = script or Script()
        self.prompts: list[Prompt] = []

    def _check(self, config: LlmConfig) -> None:
        """Accept any valid config without reading a file."""
        config.validate()

    def _load(self, config: LlmConfig, checked: None) -> None:
        pass

    def _unload(self) -> None:
        pass

    def model_id(self) -> str:
        """The scripted engine's model name."""
        return "scripted"

    def context_length(self) -> Optional[int]:
        """The context size in the config it was given."""
        return self._source.context_length if self._source else None

    def _prepare(self, prompt: Prompt, config: GenerationConfig) -> Any:
        self.prompts.append(prompt)
        return prompt

    def _stream(self, prepared: Any, config: GenerationConfig, report: EngineReport) -> Iterator[EngineChunk]:
        script = self.script
        text = prepared if isinstance(prepared, str) else " ".join(m.content for m in prepared)
        report.prompt_tokens = script.prompt_tokens if script.prompt_tokens is not None else len(text.split())
        report.prompt_cached_tokens = script.prompt_cached_tokens
        report.engine_decode_tps = script.engine_decode_tps
        report.engine_prefill_tps = script.engine_prefill_tps
        limit = min(len(script.chunks), config.max_tokens)
        marking = self.phase_plan is PHASES  # a subclass may mark nothing (the benchmark's baseline)
        phases = self.phases
        for i in range(limit):
            if script.fail_after is not None and i >= script.fail_after:
                raise RuntimeError(f"scripted failure after {i} chunks")
            if marking:
                phases.enter(_DECODE)
            if i < len(script.delays_s) and script.delays_s[i] > 0:
                script.sleep(script.delays_s[i])
            if marking:
                phases.enter(_TEXT)
            n_tokens = script.tokens_per_chunk[i] if i < len(script.tokens_per_chunk) else 1
            report.tokens_generated += n_tokens
            yield EngineChunk(script.chunks[i], n_tokens)
        report.finish_reason = "length" if limit < len(script.chunks) else script.finish_reason
