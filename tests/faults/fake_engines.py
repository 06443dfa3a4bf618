"""Fake native engines for the fault tests: one that always segfaults, one that segfaults unless made safe.

The crash is real (`ctypes.string_at(0)` reads address 0), and happens only in
the probe's child process: the backend's own `_load` never crashes, so a test
that sees the kernel die has found a real bug in the isolation.
"""

from __future__ import annotations

import ctypes
from typing import Any

from xybrid_notebook.backends.base import LlmBackend
from xybrid_notebook.backends.probe import ProbePlan, ProbeStep
from xybrid_notebook.backends.scripted import ScriptedBackend
from xybrid_notebook.gguf_header import GgufHeader
from xybrid_notebook.types import LlmConfig

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


class _FakeNativeBackend(ScriptedBackend):
    """Scripted generation behind the real load path: GGUF check, then the probe in a child."""

    load = LlmBackend.load
    probe_target = ""

    def _load(self, config: LlmConfig, header: GgufHeader) -> None:
        self.loaded_with = self.engine_settings()

    def probe_plan(self) -> ProbePlan:
        return ProbePlan(
            engine=f"fake engine {self.name}",
            package="xybrid_notebook",
            target=f"{__name__}:{self.probe_target}",
            steps=(ProbeStep("default settings"), ProbeStep("safe mode", {"safe": True}, SAFE_NOTE)),
        )

    def wire_label(self) -> str:
        return self.name


class AlwaysCrashingBackend(_FakeNativeBackend):
    """Faults in every setting."""

    name = "segv"
    probe_target = "always_crash"


class CrashUnlessSafeBackend(_FakeNativeBackend):
    """Faults unless run in safe mode."""

    name = "fragile"
    probe_target = "crash_unless_safe"
