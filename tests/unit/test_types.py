"""Config validation: every out-of-range value is one `InvalidInput` naming its field."""

from __future__ import annotations

import math

import pytest

from xybrid_notebook import ChatMessage, GenerationConfig, LlmConfig, PartialToken
from xybrid_notebook.errors import InvalidInput


@pytest.mark.parametrize(
    "field, value",
    [
        ("max_tokens", 0),
        ("max_tokens", -5),
        ("max_tokens", 1.5),
        ("max_tokens", True),
        ("temperature", -0.1),
        ("temperature", math.nan),
        ("temperature", math.inf),
        ("top_p", 0.0),
        ("top_p", 1.01),
        ("top_p", math.nan),
        ("top_k", -1),
        ("min_p", -0.1),
        ("min_p", 1.5),
        ("min_p", math.nan),
        ("repeat_penalty", 0.0),
        ("repeat_penalty", math.inf),
        ("seed", -1),
        ("seed", "x"),
        ("stop", "END"),
        ("stop", ("",)),
    ],
)
def test_bad_generation_values_name_their_field(field: str, value: object) -> None:
    with pytest.raises(InvalidInput, match=field):
        GenerationConfig(**{field: value}).validate()


def test_defaults_are_valid_and_match_the_spec() -> None:
    config = GenerationConfig().validate()
    assert (config.max_tokens, config.temperature, config.top_p, config.top_k) == (256, 0.8, 0.95, 40)
    assert (config.min_p, config.repeat_penalty, config.seed, tuple(config.stop)) == (0.05, 1.0, None, ())
    llm = LlmConfig("m.gguf").validate()
    assert (llm.context_length, llm.n_threads, llm.n_gpu_layers, llm.chat_template) == (4096, None, 0, None)


@pytest.mark.parametrize("field, value", [("context_length", 0), ("n_threads", 0), ("n_gpu_layers", -2)])
def test_bad_load_values_name_their_field(field: str, value: int) -> None:
    with pytest.raises(InvalidInput, match=field):
        LlmConfig("m.gguf", **{field: value}).validate()


def test_message_constructors() -> None:
    assert ChatMessage.system("s") == ChatMessage("system", "s")
    assert ChatMessage.user("u").role == "user" and ChatMessage.assistant("a").role == "assistant"


def test_partial_token_text_and_finality() -> None:
    pieces = ["a", "b", "c"]
    token = PartialToken("b", 7, 1, pieces=pieces)
    assert token.cumulative_text == "ab" and not token.is_final()
    assert PartialToken("c", None, 2, "abc", "stop").is_final()
