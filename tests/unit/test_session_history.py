"""The session records every run that streamed, and nothing for a run that was refused before it began."""

from __future__ import annotations

import pytest

from xybrid_notebook.backends.scripted import Script, ScriptedBackend
from xybrid_notebook.errors import InvalidInput
from xybrid_notebook.run_errors import GenerationError
from xybrid_notebook.session import Session


def test_a_refused_run_adds_nothing_to_the_history() -> None:
    session = Session(backend_factory=lambda name: ScriptedBackend())
    session.load(backend="scripted")
    first = session.generate("hello")
    with pytest.raises(InvalidInput):
        session.generate("a NUL \x00 in the prompt")
    assert [r.output for r in session.history] == [first]  # not the previous run recorded a second time


def test_a_run_that_failed_mid_stream_is_recorded_once_with_its_partial_output() -> None:
    session = Session(backend_factory=lambda name: ScriptedBackend(Script(chunks=tuple("abcdef"), fail_after=2)))
    session.load(backend="scripted")
    with pytest.raises(GenerationError) as info:
        session.generate("go")
    assert len(session.history) == 1 and session.history[0].output is info.value.partial
    assert info.value.partial.text == "ab" and info.value.partial.finish_reason == "error"
