"""User-facing errors: each says what went wrong and how to fix it, in one line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .types import GenerationOutput


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


class GenerationError(XybridError):
    """The engine failed while generating; `partial` holds what it produced before failing."""

    def __init__(self, message: str, partial: Optional[GenerationOutput] = None) -> None:
        super().__init__(message)
        self.partial = partial


class GenerationCancelled(KeyboardInterrupt):
    """A run stopped by an interrupt (Stop, the kernel's interrupt, Ctrl-C); `partial` holds what it produced.

    A `KeyboardInterrupt`, so code that handles interrupts keeps working.
    """

    def __init__(self, partial: GenerationOutput) -> None:
        super().__init__("generation cancelled")
        self.partial = partial


class GenerationInProgress(XybridError):
    """A generation was started while another one is still running."""
