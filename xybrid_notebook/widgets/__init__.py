"""Notebook views of a run: the widget run view, its static HTML form and the plain-text fallback."""

from __future__ import annotations

import os
import sys
from typing import Any


def widgets_wanted(shell: Any, forced_text: bool = False) -> bool:
    """True in a Jupyter kernel that can show widgets, unless text is asked for (`--text`, `XYBRID_VIEW=text`)."""
    if forced_text or os.environ.get("XYBRID_VIEW", "").lower() == "text":
        return False
    return type(shell).__name__ == "ZMQInteractiveShell"


def current_shell() -> Any:
    """The running IPython shell, or None (outside IPython, IPython is not even imported)."""
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()
