"""User-facing errors: each says what went wrong and how to fix it, in one line.

The two that end a run and carry its partial output, `GenerationError` and
`GenerationCancelled`, live in `run_errors.py`, above the types they carry.
"""

from __future__ import annotations


class XybridError(Exception):
    """Base of every error a user can fix; shown as one line, without a traceback."""


class ModelNotFound(XybridError):
    """The model name or path does not point at a model file."""


class ModelNotLoaded(XybridError):
    """A generation was asked for before any model was loaded."""


class InvalidModelFile(XybridError):
    """The file exists but is not a readable, complete GGUF model."""


class InvalidInput(XybridError):
    """A configuration value, prompt or argument is out of range or malformed."""


class PromptTooLong(InvalidInput):
    """The prompt does not fit the loaded model's context."""


class BackendUnavailable(XybridError):
    """The backend is unknown, or its native library is not installed."""


class GenerationInProgress(XybridError):
    """A generation was started while another one is still running."""


class ModelUnreachable(XybridError):
    """The model is named rightly but cannot be fetched: a gated repo without access, no network, offline mode."""
