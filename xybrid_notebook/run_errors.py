"""How a run that did not end normally reaches its caller: each error carries the output measured so far."""

from __future__ import annotations

from typing import Optional

from .errors import XybridError
from .types import GenerationOutput


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
