"""xybrid_notebook: see where the time goes in local LLM inference, token by token.

In a notebook: `%load_ext xybrid_notebook`, then `%xybrid load` and a `%%generate` cell.
From Python: `xn.current_session().load()`, then `xn.generate(prompt)`, `xn.sweep(...)`,
`xn.compare(a, b, ...)`, `xn.serve(model, parallel=4)` and `xn.load_test(server, concurrency=[...])`
(see `api.py`); or a backend directly: `create_backend("llama-cpp")`,
`load(LlmConfig(resolve_model()))`, `generate_streaming(...)`.
"""

from __future__ import annotations

from typing import Any

from .api import compare, generate, history, load_test, local_models, model_card, serve, sweep, telemetry
from .backends import available_backends, create_backend, register_backend
from .backends.base import LlmBackend, Requirement
from .backends.gguf_file import GgufFileBackend
from .backends.remote import RemoteSpec
from .errors import (
    BackendUnavailable,
    GenerationInProgress,
    InvalidInput,
    InvalidModelFile,
    ModelNotFound,
    ModelNotLoaded,
    ModelUnreachable,
    XybridError,
)
from .experiments import CompareResult, DepthCurve, SweepResult, depth_curve
from .gap_shading import ChunkTiming, GapScale, chunk_timings, slowest_chunks
from .load import LoadResult
from .models import CATALOG, DEFAULT_CHAT_MODEL, DEFAULT_MODEL, DEFAULT_RAW_MODEL, default_model_for, resolve_model
from .run_errors import GenerationCancelled, GenerationError
from .servers import ServedModel, served, stop_served
from .session import Session, current_session
from .types import ChatMessage, GenerationConfig, GenerationOutput, LlmConfig, PartialToken

__version__ = "0.1.0"


def show_xybrid_error(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> Any:
    """IPython's handler for a `XybridError` raised in a cell (`xn.generate(...)` too): one line, its name and
    message, no traceback; it is a mistake to fix, not a bug. (`_showtraceback` is what IPython and ipykernel
    display an error through: a notebook gets an error output holding just that line.)"""
    lines = shell.InteractiveTB.get_exception_only(etype, value)
    shell._showtraceback(etype, value, lines)
    return lines


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext xybrid_notebook`: register `%xybrid` and `%%generate`, and show a `XybridError` as one line."""
    from .magics import register
    from .widgets import widgets_wanted

    register(ipython)
    ipython.set_custom_exc((XybridError,), show_xybrid_error)
    if widgets_wanted(ipython, False):
        # plotly.js goes to the browser now, once, while nothing is being measured.
        from .widgets.plotly_loader import ensure_plotly_loader

        ensure_plotly_loader()


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext xybrid_notebook`: remove the magics, free the loaded model, and give errors their traceback."""
    from .magics import unregister

    unregister(ipython)
    if tuple(getattr(ipython, "custom_exceptions", ())) == (XybridError,):
        ipython.set_custom_exc((), None)


__all__ = [
    "BackendUnavailable",
    "CATALOG",
    "ChatMessage",
    "ChunkTiming",
    "CompareResult",
    "DEFAULT_CHAT_MODEL",
    "DEFAULT_MODEL",
    "DEFAULT_RAW_MODEL",
    "DepthCurve",
    "GapScale",
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
    "LoadResult",
    "ModelNotFound",
    "ModelNotLoaded",
    "ModelUnreachable",
    "PartialToken",
    "RemoteSpec",
    "Requirement",
    "ServedModel",
    "Session",
    "SweepResult",
    "XybridError",
    "available_backends",
    "chunk_timings",
    "compare",
    "create_backend",
    "current_session",
    "default_model_for",
    "depth_curve",
    "generate",
    "history",
    "load_test",
    "local_models",
    "model_card",
    "register_backend",
    "resolve_model",
    "serve",
    "served",
    "slowest_chunks",
    "stop_served",
    "sweep",
    "telemetry",
]
