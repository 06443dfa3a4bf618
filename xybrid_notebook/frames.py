"""The session's runs as a pandas DataFrame (the same columns as the CSV export), and the current session."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from .export import CSV_COLUMNS, csv_row
from .session import RunRecord, Session

_default_session: Optional[Session] = None


def history_frame(records: Sequence[RunRecord]) -> Any:
    """One row per run, with the CSV export's columns; `started_at` is a timestamp."""
    import pandas as pd

    frame = pd.DataFrame([csv_row(record) for record in records], columns=CSV_COLUMNS)
    frame["started_at"] = pd.to_datetime(frame["started_at"])
    return frame


def current_session() -> Session:
    """The session `%xybrid` and `%%generate` use in this kernel; outside IPython, one session per process."""
    global _default_session
    magics = _registered_magics()
    if magics is not None:
        return magics.session
    if _default_session is None:
        _default_session = Session()
    return _default_session


def _registered_magics() -> Any:
    import sys

    if "IPython" not in sys.modules:  # never import IPython from here: plain Python has no magics
        return None
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return None
    from .magics import _REGISTERED

    return _REGISTERED.get(id(shell))
