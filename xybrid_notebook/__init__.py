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
from .compare import CompareResult, compare
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
from .frames import current_session
from .models import CATALOG, DEFAULT_CHAT_MODEL, DEFAULT_MODEL, DEFAULT_RAW_MODEL, default_model_for, resolve_model
from .sweep import DepthCurve, SweepResult, depth_curve, sweep
from .types import ChatMessage, GenerationConfig, GenerationOutput, LlmConfig, PartialToken

__version__ = "0.1.0"


def history() -> Any:
    """The current session's runs as a pandas DataFrame (one row per run, the CSV export's columns)."""
    from .frames import history_frame

    return history_frame(current_session().history)


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
    "CompareResult",
    "DEFAULT_CHAT_MODEL",
    "DEFAULT_MODEL",
    "DEFAULT_RAW_MODEL",
    "DepthCurve",
    "GenerationCancelled",
    "GenerationConfig",
    "GenerationError",
    "GenerationInProgress",
    "GenerationOutput",
    "GgufFileBackend",
    "InvalidInput",
    "InvalidModelFile",
    "LlmBackend",
    "LlmConfig",
    "ModelNotFound",
    "ModelNotLoaded",
    "PartialToken",
    "RemoteSpec",
    "Requirement",
    "SweepResult",
    "XybridError",
    "available_backends",
    "compare",
    "create_backend",
    "current_session",
    "default_model_for",
    "depth_curve",
    "history",
    "register_backend",
    "resolve_model",
    "sweep",
]
