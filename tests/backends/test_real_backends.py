"""Both real engines on the real default model: streaming, equality, cancel, cache, stops, bad input."""

from __future__ import annotations

import pytest

from xybrid_notebook import ChatMessage, GenerationConfig
from xybrid_notebook.backends.base import LlmBackend
from xybrid_notebook.errors import InvalidInput

pytestmark = pytest.mark.slow
GREEDY = GenerationConfig(max_tokens=24, temperature=0)


def engine_text(backend: LlmBackend, prompt: str, max_tokens: int) -> str:
    """The engine's own non-streamed text for the same greedy raw request, bypassing our loop.

    Both sides start from an empty KV cache: a different prefill split changes the
    floating-point sums, and greedy decoding can then take another path at a near-tie.
    """
    backend.reset_cache()
    if backend.name == "llama-cpp":
        tokens = backend.tokenize(backend.format_prompt(prompt))
        result = backend._llama.create_completion(tokens, max_tokens=max_tokens, temperature=0)
        return result["choices"][0]["text"]
    import mistralrs

    from xybrid_notebook.chat_format import RAW_ROLE

    request = mistralrs.ChatCompletionRequest(
        model="default",
        messages=[{"role": RAW_ROLE, "content": backend.format_prompt(prompt)}],
        max_tokens=max_tokens,
        temperature=0.0,
    )
    return backend._runner.send_chat_completion_request(request).choices[0].message.content


def test_streams_chunk_by_chunk_with_every_figure(real_backend: LlmBackend) -> None:
    chunks = []
    out = real_backend.generate_raw_streaming("The capital of France is", GREEDY, chunks.append)
    assert len(chunks) == out.emitted_chunks >= 10
    assert "".join(c.token for c in chunks) == out.text
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert out.tokens_generated == 24 and out.finish_reason == "length"
    assert 0 < out.ttft_ms < out.generation_time_ms
    assert len(out.inter_chunk_ms) == out.emitted_chunks - 1
    assert out.decode_tps > 0 and out.prefill_tps > 0 and out.p95_itl_ms >= out.p50_itl_ms
    assert out.engine_decode_tps > 0 and out.engine_prefill_tps > 0
    assert out.prompt_tokens > 0
    assert out.backend == real_backend.name and out.execution_provider == "cpu"
    assert out.model_id == "gemma3-270m"


def test_streamed_text_equals_the_engines_own_non_streamed_text(real_backend: LlmBackend) -> None:
    prompt = "Here is a list of fruits:"
    real_backend.reset_cache()
    streamed = real_backend.generate_raw_streaming(prompt, GREEDY, lambda t: None).text
    real_backend.reset_cache()
    assert streamed == real_backend.generate_raw(prompt, GREEDY).text
    assert streamed == engine_text(real_backend, prompt, 24)


def test_cjk_and_emoji_stream_as_whole_characters(real_backend: LlmBackend) -> None:
    prompt = "日本の首都は東京です。🍣と🍜が好きです。私の好きな食べ物は"
    config = GenerationConfig(max_tokens=32, temperature=0)
    chunks: list[str] = []
    real_backend.reset_cache()
    out = real_backend.generate_raw_streaming(prompt, config, lambda t: chunks.append(t.token))
    assert any(ord(ch) > 0x2E80 for ch in out.text), out.text
    assert "\ufffd" not in out.text and all(chunk for chunk in chunks)
    assert "".join(chunks) == out.text == engine_text(real_backend, prompt, 32)


def test_cancel_mid_stream_keeps_partial_output_then_next_call_works(real_backend: LlmBackend) -> None:
    config = GenerationConfig(max_tokens=200, temperature=0)
    real_backend.reset_cache()
    out = real_backend.generate_raw_streaming("Once upon a time", config, lambda t: t.index < 4)
    assert out.finish_reason == "cancelled" and out.emitted_chunks == 5
    assert out.text and len(out.chunk_offsets_ms) == 5
    real_backend.reset_cache()
    again = real_backend.generate_raw("Once upon a time", GREEDY)
    assert again.finish_reason == "length" and again.text.startswith(out.text)


def test_keyboard_interrupt_mid_stream_then_next_call_works(real_backend: LlmBackend) -> None:
    def interrupt(token):
        if token.index == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        real_backend.generate_raw_streaming("Once upon a time", GenerationConfig(max_tokens=200), interrupt)
    assert info.value.partial.finish_reason == "cancelled"
    assert info.value.partial.emitted_chunks == 4
    assert real_backend.generate_raw("Hello", GREEDY).tokens_generated == 24


def test_stop_sequence_ends_the_text_before_it(real_backend: LlmBackend) -> None:
    prompt = "Here is a list of fruits:"
    full = real_backend.generate_raw(prompt, GenerationConfig(max_tokens=40, temperature=0)).text
    words = [w for w in full.split() if len(w) > 3]
    stop = words[1]
    out = real_backend.generate_raw(prompt, GenerationConfig(max_tokens=40, temperature=0, stop=(stop,)))
    assert out.finish_reason == "stop"
    assert stop not in out.text and full.startswith(out.text)
    assert full.index(stop) == len(out.text) or full[len(out.text) :].startswith(stop)


def test_prompt_longer_than_the_context_names_both_numbers(real_backend: LlmBackend) -> None:
    with pytest.raises(InvalidInput, match=r"the prompt is \d+ tokens but the context holds 2048"):
        real_backend.generate_raw("word " * 3000, GREEDY)


def test_chat_formatting_reaches_the_engine(real_backend: LlmBackend) -> None:
    messages = [ChatMessage.system("You are terse."), ChatMessage.user("Name a colour.")]
    text = real_backend.format_prompt(messages)
    assert text.startswith("<bos><start_of_turn>user\nYou are terse.\n\nName a colour.<end_of_turn>\n")
    assert text.endswith("<start_of_turn>model\n")
    out = real_backend.generate(messages, GREEDY)
    assert out.tokens_generated > 0 and out.prompt_tokens >= 15


def test_llama_reuses_the_kv_prefix_across_turns(llama_backend: LlmBackend) -> None:
    system = ChatMessage.system("You are a helpful assistant who answers in one short sentence.")
    first = [system, ChatMessage.user("What is the sea?")]
    out1 = llama_backend.generate(first, GREEDY)
    turn2 = first + [ChatMessage.assistant(out1.text), ChatMessage.user("And the sky?")]
    out2 = llama_backend.generate(turn2, GREEDY)
    assert out2.prompt_cached_tokens >= out1.prompt_tokens - 2
    assert llama_backend.last_cached_prefix_len() == out2.prompt_cached_tokens
    fresh = llama_backend.generate([ChatMessage.user("Completely different")], GREEDY)
    assert fresh.prompt_cached_tokens <= 5  # only the shared "<bos><start_of_turn>user\n" prefix


def test_llama_seed_makes_sampling_repeatable(llama_backend: LlmBackend) -> None:
    def sample(seed: int) -> str:
        llama_backend.reset_cache()
        config = GenerationConfig(max_tokens=16, temperature=1.0, seed=seed)
        return llama_backend.generate_raw("Once upon a time", config).text

    a, b, c = sample(1234), sample(1234), sample(99)
    assert a == b and a != c


def test_llama_counts_engine_tokens_per_chunk(llama_backend: LlmBackend) -> None:
    out = llama_backend.generate_raw("日本の首都は", GenerationConfig(max_tokens=32, temperature=0))
    assert sum(out.chunk_tokens) == out.tokens_generated


def test_mistralrs_rejects_a_seed_it_cannot_honour(mistral_backend: LlmBackend) -> None:
    with pytest.raises(InvalidInput, match="seed"):
        mistral_backend.generate_raw("Hi", GenerationConfig(temperature=0.7, seed=1))
    assert mistral_backend.generate_raw("Hi", GenerationConfig(max_tokens=4, temperature=0, seed=1)).text
