"""`GgufFileBackend`: the base of engines that load a local GGUF file (llama.cpp, mistral.rs).

It owns what every such engine needs before native code opens the file: the
bounds-checked header walk (a broken file is a one-line `InvalidModelFile`, never a
native crash), the engine probe (a build that faults on this machine is proven
in a child process and never loaded here), and the file's `ChatFormat` (template,
BOS and EOS text), read from the header for the engine to write prompts with.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..chat_format import ChatFormat
from ..gguf_header import GgufHeader
from ..models import model_id_for, validate_model_file
from ..types import LlmConfig
from .base import LlmBackend
from .probe import ProbePlan, ProbeVerdict, prove_engine


@dataclass(frozen=True)
class CheckedFile:
    """A model file that passed its checks: its header, and the settings the probe chose."""

    header: GgufHeader
    verdict: Optional[ProbeVerdict]


class GgufFileBackend(LlmBackend[LlmConfig]):
    """An engine that loads a local GGUF file, described by an `LlmConfig`."""

    _header: Optional[GgufHeader] = None
    #: What the engine probe chose on this machine (set at load; None before, or without a probe).
    engine_verdict: Optional[ProbeVerdict] = None
    #: The loaded file's template, BOS and EOS text (set before `_load_model` runs).
    chat: ChatFormat = ChatFormat()

    def _check(self, config: LlmConfig) -> CheckedFile:
        """Validate the config and the file's header, and prove the engine on this machine."""
        config.validate()
        path = Path(config.model_path)
        header = validate_model_file(path)
        plan = self.probe_plan()
        return CheckedFile(header, prove_engine(plan, path) if plan is not None else None)

    def _load(self, config: LlmConfig, checked: CheckedFile) -> None:
        self.engine_verdict = checked.verdict
        self.chat = ChatFormat.of(checked.header, config.chat_template)
        self._load_model(config, checked.header)
        self._header = checked.header

    @classmethod
    def supports_architecture(cls, architecture: str) -> Optional[bool]:
        """Whether this engine knows a GGUF architecture ("llama", "gemma3"): True, False, or None (not known).

        By default, the ones llama.cpp's own `gguf` package names; an engine that knows fewer says so.
        """
        from gguf.constants import MODEL_ARCH_NAMES

        return architecture in MODEL_ARCH_NAMES.values()

    def probe_plan(self) -> Optional[ProbePlan]:
        """How to prove this engine in a child process before loading it here; None: nothing native to prove."""
        return None

    def engine_settings(self) -> dict[str, Any]:
        """Settings the probe chose for this machine (empty: the engine's defaults)."""
        return dict(self.engine_verdict.settings) if self.engine_verdict else {}

    def engine_note(self) -> Optional[str]:
        """The probe's one line when it turned something off on this machine; else None."""
        return self.engine_verdict.note if self.engine_verdict else None

    def engine_settings_label(self) -> Optional[str]:
        """The probe's label for the safer setting in force ("no extra buffer types"); None for defaults."""
        verdict = self.engine_verdict
        return verdict.label if verdict is not None and not verdict.is_default else None

    @property
    def header(self) -> Optional[GgufHeader]:
        """The validated GGUF header of the loaded model file (tokens, template, architecture), if any."""
        return self._header if self.is_loaded() else None

    @abstractmethod
    def _load_model(self, config: LlmConfig, header: GgufHeader) -> None:
        """Load the validated model file into the engine (with `engine_settings()` applied)."""

    def model_id(self) -> str:
        """The catalog name of the model file, else its file stem."""
        return model_id_for(Path(self._source.model_path)) if self._source else ""

    def describe_source(self) -> str:
        """The model file's path."""
        return str(self._source.model_path) if self._source else ""

    def context_length(self) -> Optional[int]:
        """The context size the model was loaded with."""
        return self._source.context_length if self._source else None
