"""xybrid_notebook: see where the time goes in local LLM inference, token by token.

In a notebook: `%load_ext xybrid_notebook`, then `%xybrid load` and a `%%generate` cell.
From Python: `create_backend("llama-cpp")`, `load(LlmConfig(resolve_model()))`, `generate_streaming(...)`.
"""

from __future__ import annotations

from typing import Any, Optional

from . import compare as _compare_module
from . import sweep as _sweep_module
from .backends import available_backends, create_backend, register_backend
from .backends.base import LlmBackend, Requirement
from .backends.gguf_file import GgufFileBackend
from .backends.remote import RemoteSpec
from .compare import CompareResult
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
from .gap_shading import ChunkTiming, GapScale, chunk_timings, slowest_chunks
from .models import CATALOG, DEFAULT_CHAT_MODEL, DEFAULT_MODEL, DEFAULT_RAW_MODEL, default_model_for, resolve_model
from .sweep import DepthCurve, SweepResult, depth_curve
from .types import ChatMessage, GenerationConfig, GenerationOutput, LlmConfig, PartialToken

__version__ = "0.1.0"


def sweep(*, live: Optional[bool] = None, repetitions: int = 5, warmup: int = 1, **kwargs: Any) -> SweepResult:
    """Run every combination of the sweep parameters; see `xybrid_notebook.sweep.sweep` for them.

    `live` shows the progress bar, chart and table while it runs (default: in a Jupyter
    kernel with widgets). Bad values raise `InvalidInput` before anything runs.
    """
    kwargs.update(repetitions=repetitions, warmup=warmup)
    return _maybe_live(_sweep_module.sweep, "sweep", live, kwargs)


def compare(
    a: Any, b: Any, *, live: Optional[bool] = None, repetitions: int = 5, warmup: int = 1, **kwargs: Any
) -> CompareResult:
    """Paired A/B in interleaved repetitions; see `xybrid_notebook.compare.compare`. `live` as for `sweep`."""
    kwargs.update(a=a, b=b, repetitions=repetitions, warmup=warmup)
    return _maybe_live(_compare_module.compare, "compare", live, kwargs)


def _maybe_live(run: Any, title: str, live: Optional[bool], kwargs: dict[str, Any]) -> Any:
    from .widgets import current_shell, widgets_wanted

    if not (widgets_wanted(current_shell()) if live is None else live):
        return run(**kwargs)
    from .widgets.sweep_view import SweepLiveView, run_with_view

    return run_with_view(run, SweepLiveView(title), kwargs)


def history() -> Any:
    """The current session's runs as a pandas DataFrame (one row per run, the CSV export's columns)."""
    from .frames import history_frame

    return history_frame(current_session().history)


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext xybrid_notebook`: register `%xybrid` and `%%generate`."""
    from .magics import register
    from .widgets import widgets_wanted

    register(ipython)
    if widgets_wanted(ipython, False):
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
    "ChunkTiming",
    "CompareResult",
    "DEFAULT_CHAT_MODEL",
    "DEFAULT_MODEL",
    "DEFAULT_RAW_MODEL",
    "DepthCurve",
    "GenerationCancelled",
    "GenerationConfig",
    "GenerationError",
    "GenerationInProgress",
    "GapScale",
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
    "chunk_timings",
    "compare",
    "create_backend",
    "current_session",
    "default_model_for",
    "depth_curve",
    "history",
    "register_backend",
    "resolve_model",
    "slowest_chunks",
    "sweep",
]
