"""xybrid_notebook: see where the time goes in local LLM inference, token by token.

In a notebook: `%load_ext xybrid_notebook`, then `%xybrid load` and a `%%generate` cell.
From Python: `create_backend("llama-cpp")`, `load(LlmConfig(resolve_model()))`, `generate_streaming(...)`.
"""

from __future__ import annotations

from typing import Any

from .backends import available_backends, create_backend, register_backend
from .backends.base import LlmBackend, Requirement
from .backends.gguf_file import GgufFileBackend
from .backends.remote import RemoteSpec
from .errors import (
    BackendUnavailable,
    GenerationCancelled,
    GenerationError,
    GenerationInProgress,
    InvalidInput,
    InvalidModelFile,
    ModelNotFound,
    ModelNotLoaded,
    XybridError,
)
from .models import CATALOG, DEFAULT_CHAT_MODEL, DEFAULT_MODEL, DEFAULT_RAW_MODEL, default_model_for, resolve_model
from .types import ChatMessage, GenerationConfig, GenerationOutput, LlmConfig, PartialToken

__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext xybrid_notebook`: register `%xybrid` and `%%generate`."""
    from .magics import _widgets_wanted, register

    register(ipython)
    if _widgets_wanted(ipython, False):
        # plotly.js goes to the browser now, once, while nothing is being measured.
        from .widgets.plotly_loader import ensure_plotly_loader

        ensure_plotly_loader()


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext xybrid_notebook`: remove the magics and free the loaded model."""
    from .magics import unregister

    unregister(ipython)


__all__ = [
    "BackendUnavailable",
    "CATALOG",
    "ChatMessage",
    "DEFAULT_CHAT_MODEL",
    "DEFAULT_MODEL",
    "GenerationCancelled",
    "DEFAULT_RAW_MODEL",
    "GenerationConfig",
    "GenerationError",
    "GenerationInProgress",
    "GenerationOutput",
    "InvalidInput",
    "GgufFileBackend",
    "InvalidModelFile",
    "LlmBackend",
    "LlmConfig",
    "ModelNotFound",
    "ModelNotLoaded",
    "PartialToken",
    "RemoteSpec",
    "Requirement",
    "XybridError",
    "available_backends",
    "create_backend",
    "default_model_for",
    "register_backend",
    "resolve_model",
]
