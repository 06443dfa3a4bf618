"""Models by name from where they already are: Hugging Face Hub references, the Hugging Face cache,
LM Studio, Ollama and `$XYBRID_MODEL_DIRS`, with each model's card before the load.

`resolve_source(name)` turns any model name into a local GGUF path: a catalog name or a path as
`models.resolve_model` does, else a store reference (`refs.py`), downloading a Hub file once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Optional, Union

from ..models import CATALOG, name_model_file, resolve_model
from .hub import resolve_hub
from .quant import quant_label
from .refs import HubRef, LmStudioRef, ModelRef, OllamaRef, parse_reference
from .stores import resolve_lmstudio, resolve_ollama


def _quiet(line: str) -> None:
    """Say nothing (the Python API's default; the magics print)."""


def store_reference(model: Optional[Union[str, Path]]) -> Optional[ModelRef]:
    """The Hub, Ollama or LM Studio reference `model` is; None for a catalog name, a path, or nothing."""
    if model is None or isinstance(model, Path):
        return None
    text = model.strip()
    return None if not text or text in CATALOG else parse_reference(text)


def _loaded_name(ref: ModelRef, path: Path) -> str:
    if isinstance(ref, HubRef):
        label = quant_label(path.name)
        return f"{ref.repo}:{label}" if label else f"{ref.repo}/{path.name}"
    return ref.name()


def resolve_ref(ref: ModelRef, say: Callable[[str], None] = _quiet) -> Path:
    """The local GGUF path of a store reference (downloading a Hub file that is not cached yet)."""
    if isinstance(ref, OllamaRef):
        path = resolve_ollama(ref)
    elif isinstance(ref, LmStudioRef):
        path = resolve_lmstudio(ref)
    else:
        path = resolve_hub(ref, say)
    name_model_file(path, _loaded_name(ref, path))
    return path


def resolve_source(model: Optional[Union[str, Path]] = None, say: Callable[[str], None] = _quiet) -> Path:
    """Any model name -> its local GGUF path: a catalog name, a path, or a Hub, Ollama or LM Studio reference."""
    ref = store_reference(model)
    return resolve_model(model) if ref is None else resolve_ref(ref, say)


__all__ = ["resolve_ref", "resolve_source", "store_reference"]
