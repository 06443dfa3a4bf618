"""Fake native engines for the fault tests: one that always segfaults, one that segfaults unless made safe.

The crash is real (`ctypes.string_at(0)` reads address 0), and happens only in
the probe's child process: the backend's own load never crashes, so a test that
sees the kernel die has found a real bug in the isolation.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from typing import Any

from xybrid_notebook.backends.base import EngineChunk, Prompt
from xybrid_notebook.backends.gguf_file import GgufFileBackend
from xybrid_notebook.backends.probe import ProbePlan, ProbeStep
from xybrid_notebook.gguf_header import GgufHeader
from xybrid_notebook.metrics import EngineReport
from xybrid_notebook.types import GenerationConfig, LlmConfig

SAFE_NOTE = "the fake engine faults here: it runs in safe mode"


def segfault() -> None:
    """Read address 0: SIGSEGV."""
    ctypes.string_at(0)


def always_crash(model_path: str, settings: dict[str, Any]) -> None:
    """A build that faults whatever its settings."""
    segfault()


def crash_unless_safe(model_path: str, settings: dict[str, Any]) -> None:
    """A build that faults unless given the safe setting (like llama.cpp on a host whose AMX faults)."""
    if not settings.get("safe"):
        segfault()


class _FakeNativeBackend(GgufFileBackend):
    """The real load path (GGUF check, then the probe in a child); two fixed chunks per run."""

    probe_target = ""

    def _load_model(self, config: LlmConfig, header: GgufHeader) -> None:
        self.loaded_with = self.engine_settings()

    def _unload(self) -> None:
        pass

    def _prepare(self, prompt: Prompt, config: GenerationConfig) -> Prompt:
        return prompt

    def _stream(self, prepared: Prompt, config: GenerationConfig, report: EngineReport) -> Iterator[EngineChunk]:
        report.prompt_tokens, report.finish_reason = 1, "stop"
        for piece in ("fine", " thanks"):
            report.tokens_generated += 1
            yield EngineChunk(piece)

    def probe_plan(self) -> ProbePlan:
        return ProbePlan(
            engine=f"fake engine {self.name}",
            package="xybrid_notebook",
            target=f"{__name__}:{self.probe_target}",
            steps=(ProbeStep("default settings"), ProbeStep("safe mode", {"safe": True}, SAFE_NOTE)),
        )


class AlwaysCrashingBackend(_FakeNativeBackend):
    """Faults in every setting."""

    name = "segv"
    probe_target = "always_crash"


class CrashUnlessSafeBackend(_FakeNativeBackend):
    """Faults unless run in safe mode."""

    name = "fragile"
    probe_target = "crash_unless_safe"
