"""xybrid_notebook: see where the time goes in local LLM inference, token by token.

In a notebook: `%load_ext xybrid_notebook`, then `%xybrid load` and a `%%generate` cell.
From Python: `create_backend("llama-cpp")`, `load(LlmConfig(resolve_model()))`, `generate_streaming(...)`.
"""

from __future__ import annotations

from typing import Any

from .backends import available_backends, create_backend, register_backend
from .backends.base import LlmBackend
from .errors import (
    BackendUnavailable,
    GenerationError,
    GenerationInProgress,
    InvalidInput,
    InvalidModelFile,
    ModelNotFound,
    ModelNotLoaded,
    XybridError,
)
from .compare import CompareResult, compare
from .frames import current_session
from .models import CATALOG, DEFAULT_MODEL, resolve_model
from .sweep import DepthCurve, SweepResult, depth_curve, sweep
from .types import ChatMessage, GenerationConfig, GenerationOutput, LlmConfig, PartialToken

__version__ = "0.1.0"


def history() -> Any:
    """The current session's runs as a pandas DataFrame (one row per run, the CSV export's columns)."""
    from .frames import history_frame

    return history_frame(current_session().history)


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext xybrid_notebook`: register `%xybrid` and `%%generate`."""
    from .magics import register

    register(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext xybrid_notebook`: remove the magics and free the loaded model."""
    from .magics import unregister

    unregister(ipython)


__all__ = [
    "BackendUnavailable",
    "CATALOG",
    "ChatMessage",
    "CompareResult",
    "DEFAULT_MODEL",
    "DepthCurve",
    "GenerationConfig",
    "GenerationError",
    "GenerationInProgress",
    "GenerationOutput",
    "InvalidInput",
    "InvalidModelFile",
    "LlmBackend",
    "LlmConfig",
    "ModelNotFound",
    "ModelNotLoaded",
    "PartialToken",
    "SweepResult",
    "XybridError",
    "available_backends",
    "compare",
    "create_backend",
    "current_session",
    "depth_curve",
    "history",
    "register_backend",
    "resolve_model",
    "sweep",
]
