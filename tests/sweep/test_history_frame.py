"""History as a DataFrame, and the public accessor for the current session."""

from __future__ import annotations

import pandas as pd

import xybrid_notebook
from xybrid_notebook import LlmConfig
from xybrid_notebook.backends.scripted import Script, ScriptedBackend
from xybrid_notebook.export import CSV_COLUMNS, history_frame
from xybrid_notebook.session import Session


def test_history_frame_has_one_row_per_run_with_the_export_columns() -> None:
    session = Session()
    backend = ScriptedBackend(Script(chunks=("a", "b", "c")))
    backend.load(LlmConfig("scripted.gguf"))
    session.backends["local"] = backend
    outputs = [session.generate("hello there", mode="raw", max_tokens=n) for n in (2, 3)]
    frame = history_frame(session.history)
    assert list(frame.columns) == CSV_COLUMNS
    assert frame["tokens_generated"].tolist() == [o.tokens_generated for o in outputs] == [2, 3]
    assert frame["ttft_ms"].tolist() == [o.ttft_ms for o in outputs]
    assert pd.api.types.is_datetime64_any_dtype(frame["started_at"])


def test_current_session_outside_ipython_is_one_session_per_process() -> None:
    first = xybrid_notebook.current_session()
    assert first is xybrid_notebook.current_session()
    assert isinstance(xybrid_notebook.history(), pd.DataFrame)
