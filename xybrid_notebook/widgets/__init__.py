"""Notebook views: the run view (an anywidget) and its static form, the experiment view, tables, the text fallback.

`widgets_wanted` decides between widgets and text for a shell.
"""

from __future__ import annotations

import os
from typing import Any


def widgets_wanted(shell: Any, forced_text: bool = False) -> bool:
    """True in a Jupyter kernel that can show widgets, unless text is asked for (`--text`, `XYBRID_VIEW=text`)."""
    if forced_text or os.environ.get("XYBRID_VIEW", "").lower() == "text":
        return False
    return type(shell).__name__ == "ZMQInteractiveShell"
