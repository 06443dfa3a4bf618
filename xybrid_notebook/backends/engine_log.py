"""The engines' own log, kept out of the notebook's cells and readable on demand.

llama.cpp and mistral.rs print start-up chatter and warnings from native code.
In a Jupyter kernel that text lands in red under the cell. Instead it is kept
here, bounded, and shown by `%xybrid status --log`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable

MAX_LINES = 2000

_lines: deque[str] = deque(maxlen=MAX_LINES)
_lock = threading.Lock()


def record(source: str, lines: Iterable[str]) -> None:
    """Keep `lines` from `source` ("llama.cpp", "mistral.rs"), dropping the oldest beyond `MAX_LINES`."""
    with _lock:
        _lines.extend(f"[{source}] {line}" for line in lines if line.strip())


def tail(count: int = 200) -> list[str]:
    """The newest `count` lines, oldest first."""
    with _lock:
        return list(_lines)[-count:] if count > 0 else []


def clear() -> None:
    """Forget every kept line."""
    with _lock:
        _lines.clear()
