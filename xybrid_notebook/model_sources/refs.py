"""What a model name refers to: a Hub repo (`org/repo:QUANT`, `org/repo/file.gguf`, `hf:`), an Ollama or
LM Studio model (`ollama:NAME[:TAG]`, `lmstudio:publisher/repo[:QUANT]`), or else a catalog name or a path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from ..errors import InvalidInput

HF_PREFIX, OLLAMA_PREFIX, LMSTUDIO_PREFIX = "hf:", "ollama:", "lmstudio:"
_PART = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_REPO = re.compile(rf"^(?P<repo>{_PART}/{_PART})(?::(?P<quant>[A-Za-z0-9_.-]+))?$")
_REPO_FILE = re.compile(rf"^(?P<repo>{_PART}/{_PART})/(?P<file>[^:]+\.gguf)$", re.IGNORECASE)


@dataclass(frozen=True)
class RepoRef:
    """A repo of GGUF files (on the Hub, or an LM Studio folder) and which file: by quantization or by name."""

    repo: str
    quant: Optional[str] = None
    filename: Optional[str] = None

    def suffix(self) -> str:
        """`:QUANT`, `/file.gguf`, or nothing."""
        return f"/{self.filename}" if self.filename else (f":{self.quant}" if self.quant else "")


@dataclass(frozen=True)
class HubRef(RepoRef):
    """A Hugging Face Hub repo (`hf:` may be left out)."""

    def name(self) -> str:
        """The name to load it by."""
        return f"{HF_PREFIX}{self.repo}{self.suffix()}"


@dataclass(frozen=True)
class LmStudioRef(RepoRef):
    """A model in LM Studio's folders: `publisher/repo`."""

    def name(self) -> str:
        """The name to load it by."""
        return f"{LMSTUDIO_PREFIX}{self.repo}{self.suffix()}"


@dataclass(frozen=True)
class OllamaRef:
    """A model in Ollama's store: `NAME[:TAG]` (`library/` and `:latest` implied, as `ollama run` does)."""

    model: str
    tag: str = "latest"

    def name(self) -> str:
        """The name to load it by."""
        return f"{OLLAMA_PREFIX}{self.model}:{self.tag}"


ModelRef = Union[HubRef, LmStudioRef, OllamaRef]


def _repo_ref(text: str, kind: type[RepoRef], original: str) -> RepoRef:
    file_match = _REPO_FILE.match(text)
    if file_match:
        return kind(file_match["repo"], filename=file_match["file"])
    match = _REPO.match(text)
    if match:
        return kind(match["repo"], quant=match["quant"])
    raise InvalidInput(f"{original!r} is not a repo reference: write org/repo, org/repo:Q4_K_M or org/repo/file.gguf")


def _ollama_ref(text: str, original: str) -> OllamaRef:
    model, _, tag = text.strip().partition(":")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_./-]*", model) or (tag and not re.fullmatch(r"[\w.-]+", tag)):
        raise InvalidInput(f"{original!r} is not an Ollama model name: write ollama:NAME or ollama:NAME:TAG")
    return OllamaRef(model, tag or "latest")


def looks_like_path(text: str) -> bool:
    """Written as a path (absolute, home, relative dot, a backslash), or something that exists here."""
    return text.startswith(("/", "~", ".")) or "\\" in text or Path(text).expanduser().exists()


def parse_reference(text: str) -> Optional[ModelRef]:
    """The store reference `text` names; None for anything else (a catalog name or a path)."""
    lowered = text.lower()
    if lowered.startswith(HF_PREFIX):
        return _hub_ref(text[len(HF_PREFIX) :], text)
    if lowered.startswith(OLLAMA_PREFIX):
        return _ollama_ref(text[len(OLLAMA_PREFIX) :], text)
    if lowered.startswith(LMSTUDIO_PREFIX):
        ref = _repo_ref(text[len(LMSTUDIO_PREFIX) :], LmStudioRef, text)
        return LmStudioRef(ref.repo, ref.quant, ref.filename)
    if looks_like_path(text) or (text.lower().endswith(".gguf") and text.count("/") < 2):
        return None
    if _REPO.match(text) or _REPO_FILE.match(text):
        return _hub_ref(text, text)
    return None


def _hub_ref(text: str, original: str) -> HubRef:
    ref = _repo_ref(text, HubRef, original)
    return HubRef(ref.repo, ref.quant, ref.filename)
