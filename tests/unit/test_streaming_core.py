"""The core's streaming contract, on the scripted backend: cancel, interrupt, errors, busy."""

from __future__ import annotations

import threading

import pytest

from xybrid_notebook import ChatMessage, GenerationConfig, LlmConfig
from xybrid_notebook.backends.scripted import Script, ScriptedBackend
from xybrid_notebook.errors import GenerationInProgress, InvalidInput, ModelNotLoaded
from xybrid_notebook.run_errors import GenerationCancelled, GenerationError

CONFIG = GenerationConfig(max_tokens=100, temperature=0)


def loaded(script: Script | None = None) -> ScriptedBackend:
    backend = ScriptedBackend(script)
    backend.load(LlmConfig("scripted.gguf"))
    return backend


def test_on_token_gets_every_chunk_in_order_with_cumulative_text() -> None:
    backend = loaded(Script(chunks=("a", "", "b", "c")))
    seen = []
    out = backend.generate_raw_streaming("hi", CONFIG, lambda t: seen.append((t.index, t.token, t.cumulative_text)))
    assert seen == [(0, "a", "a"), (1, "b", "ab"), (2, "c", "abc")]  # the empty piece is no chunk
    assert out.text == "abc" and out.emitted_chunks == 3 and out.finish_reason == "stop"


def test_returning_false_cancels_and_keeps_partial_text() -> None:
    backend = loaded(Script(chunks=tuple("abcdef")))
    out = backend.generate_raw_streaming("hi", CONFIG, lambda t: t.index < 2)
    assert out.finish_reason == "cancelled"
    assert out.text == "abc" and len(out.chunk_offsets_ms) == 3
    assert backend.is_loaded() and backend.generate_raw("hi", CONFIG).text == "abcdef"


def test_keyboard_interrupt_cancels_records_and_reraises() -> None:
    backend = loaded(Script(chunks=tuple("abcdef")))

    def interrupt(token):
        if token.index == 1:
            raise KeyboardInterrupt

    with pytest.raises(GenerationCancelled) as info:
        backend.generate_raw_streaming("hi", CONFIG, interrupt)
    assert isinstance(info.value, KeyboardInterrupt)
    partial = info.value.partial
    assert partial.finish_reason == "cancelled" and partial.text == "ab"
    assert backend.last_output is partial
    assert backend.generate_raw("hi", CONFIG).finish_reason == "stop"


def test_callback_exception_stops_and_propagates_unchanged() -> None:
    backend = loaded(Script(chunks=tuple("abc")))

    def boom(token):
        raise ValueError("listener broke")

    with pytest.raises(ValueError, match="listener broke") as info:
        backend.generate_raw_streaming("hi", CONFIG, boom)
    assert type(info.value) is ValueError and info.value.__traceback__ is not None  # the bug, unchanged
    assert backend.last_output.finish_reason == "error"
    assert backend.last_output.text == "a"
    assert backend.generate_raw("hi", CONFIG).text == "abc"


def test_engine_failure_mid_stream_is_a_generation_error_with_partial_output() -> None:
    backend = loaded(Script(chunks=tuple("abcdef"), fail_after=3))
    with pytest.raises(GenerationError, match="scripted failure") as info:
        backend.generate_raw("hi", CONFIG)
    assert info.value.partial.text == "abc"
    assert info.value.partial.finish_reason == "error"
    backend.script.fail_after = None
    assert backend.generate_raw("hi", CONFIG).text == "abcdef"


def test_max_tokens_ends_with_length() -> None:
    out = loaded(Script(chunks=tuple("abcdef"))).generate_raw("hi", GenerationConfig(max_tokens=2))
    assert out.text == "ab" and out.finish_reason == "length"


def test_a_second_generation_while_one_runs_is_refused() -> None:
    gate, release = threading.Event(), threading.Event()
    backend = loaded(Script(chunks=tuple("abc")))

    def wait(token):
        gate.set()
        release.wait(5)

    worker = threading.Thread(target=backend.generate_raw_streaming, args=("hi", CONFIG, wait))
    worker.start()
    assert gate.wait(5)
    with pytest.raises(GenerationInProgress):
        backend.generate_raw("hi", CONFIG)
    release.set()
    worker.join(5)
    assert backend.generate_raw("hi", CONFIG).text == "abc"


def test_generating_before_load_says_how_to_load() -> None:
    with pytest.raises(ModelNotLoaded, match="load"):
        ScriptedBackend().generate_raw("hi", CONFIG)


@pytest.mark.parametrize(
    "prompt, message",
    [("", "empty"), ("   \n\t", "empty"), ("a\x00b", "NUL"), ("a\ud800b", "surrogate")],
)
def test_bad_prompts_are_rejected_in_one_line(prompt: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        loaded().generate_raw(prompt, CONFIG)
    assert "\n" not in str(info.value)


def test_chat_messages_are_checked_too() -> None:
    with pytest.raises(InvalidInput, match="user message"):
        loaded().generate([ChatMessage.user("ok"), ChatMessage.user("\x00")], CONFIG)
    with pytest.raises(InvalidInput, match="no messages"):
        loaded().generate([], CONFIG)


def test_fallback_streaming_emits_one_final_chunk() -> None:
    from xybrid_notebook.backends.base import LlmBackend

    class Whole(ScriptedBackend):
        _stream = LlmBackend._stream

        def _complete(self, prepared, config, report):
            report.tokens_generated = 3
            return "one two three"

    backend = Whole()
    backend.load(LlmConfig("x.gguf"))
    assert not backend.supports_streaming()
    chunks = []
    out = backend.generate_raw_streaming("hi", CONFIG, chunks.append)
    assert [c.token for c in chunks] == ["one two three"] and out.emitted_chunks == 1
    assert ScriptedBackend().supports_streaming()
