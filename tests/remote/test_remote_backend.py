"""The remote backend against a real llama-cpp-python server, and faults against real sockets."""

from __future__ import annotations

import json
import socket
import time

import pytest

from xybrid_notebook import ChatMessage, GenerationConfig, create_backend
from xybrid_notebook.backends.remote import RemoteBackend, RemoteSpec, parse_event_data
from xybrid_notebook.errors import InvalidInput, ModelNotFound
from xybrid_notebook.run_errors import GenerationError
from xybrid_notebook.session import Session

from .conftest import MODEL_NAME, FakeServer, chunk, free_port, sse

GREEDY = GenerationConfig(max_tokens=16, temperature=0)


def remote(url: str, timeout_s: float = 30.0, api_key_env: str | None = None) -> RemoteBackend:
    backend = create_backend("remote")
    assert isinstance(backend, RemoteBackend)
    backend.load(RemoteSpec(url, MODEL_NAME, api_key_env, timeout_s))
    return backend


@pytest.mark.slow
def test_streams_from_a_real_server_timed_like_a_local_engine(llama_server: str, smollm2_llama) -> None:
    backend = remote(llama_server)
    chunks = []
    out = backend.generate_raw_streaming("The history of the bicycle began", GREEDY, chunks.append)
    assert out.emitted_chunks == len(chunks) >= 10 and out.tokens_generated == 16
    assert out.finish_reason == "length" and out.execution_provider == "llama-cpp-python-server"
    assert out.backend == "remote" and out.model_id == MODEL_NAME
    assert 0 < out.ttft_ms < out.generation_time_ms and out.decode_tps > 0
    # the same engine locally, greedy, from an empty cache: the same text
    smollm2_llama.reset_cache()
    assert out.text == smollm2_llama.generate_raw("The history of the bicycle began", GREEDY).text
    # llama-cpp-python's server sends no usage in a stream: unknown, not zero
    assert out.prompt_cached_tokens is None and out.prefill_tps is None


@pytest.mark.slow
def test_chat_and_two_turns(llama_server: str, smollm2_llama) -> None:
    backend = remote(llama_server)
    first = [ChatMessage.system("Be brief."), ChatMessage.user("What is a bicycle?")]
    out1 = backend.generate(first, GREEDY)
    # the server renders the GGUF's own template: the same greedy answer as the local engine
    smollm2_llama.reset_cache()
    assert out1.text == smollm2_llama.generate(first, GREEDY).text and "bicycle" in out1.text.lower()
    out2 = backend.generate(first + [ChatMessage.assistant(out1.text), ChatMessage.user("And a car?")], GREEDY)
    assert out2.finish_reason in ("stop", "length") and out2.text.strip()


@pytest.mark.slow
def test_cancel_closes_the_stream_and_the_server_goes_on(llama_server: str) -> None:
    backend = remote(llama_server)
    out = backend.generate_raw_streaming("Once upon a time", GenerationConfig(max_tokens=500), lambda t: t.index < 3)
    assert out.finish_reason == "cancelled" and out.emitted_chunks == 4
    started = time.perf_counter()
    again = backend.generate_raw("Once upon a time", GenerationConfig(max_tokens=4, temperature=0))
    assert again.tokens_generated == 4 and time.perf_counter() - started < 10


@pytest.mark.slow
def test_auto_route_runs_locally_then_remotely_when_the_prompt_does_not_fit(llama_server: str) -> None:
    session = Session()
    session.load(context_length=64)
    session.load(MODEL_NAME, backend="remote", url=llama_server)
    short = session.generate("Once upon a time", mode="raw", max_tokens=4, temperature=0)
    assert short.route == "local" and "local model is loaded" in short.route_reason
    long = session.generate("word " * 200, mode="raw", max_tokens=4, temperature=0)
    assert long.route == "remote" and "does not fit" in long.route_reason and long.tokens_generated == 4
    session.set_route("local")
    with pytest.raises(InvalidInput, match="context holds 64"):
        session.generate("word " * 200, mode="raw", max_tokens=4)
    session.set_route("remote")
    assert session.generate("Hi", mode="raw", max_tokens=2, temperature=0).route == "remote"
    assert [r.output.route for r in session.history] == ["local", "remote", "remote"]
    session.unload()


def test_auto_route_falls_back_once_when_the_local_run_fails(fake_server: FakeServer) -> None:
    from xybrid_notebook.backends.scripted import Script, ScriptedBackend

    failing = ScriptedBackend(Script(chunks=tuple("abcdef"), fail_after=2))
    session = Session(backend_factory=lambda name: failing if name == "scripted" else create_backend(name))
    session.load(backend="scripted")
    session.load(MODEL_NAME, backend="remote", url=fake_server.url)
    out = session.generate("go", mode="raw")
    assert out.route == "remote" and "fell back" in out.route_reason and out.text == "ok"
    assert [r.output.finish_reason for r in session.history] == ["error", "stop"]


def test_server_figures_become_engine_figures(fake_server: FakeServer) -> None:
    usage = {"prompt_tokens": 12, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 8}}
    timings = {"prompt_per_second": 900.5, "predicted_per_second": 55.5, "cache_n": 8, "prompt_n": 4}
    fake_server.behaviour = lambda h: sse(
        h, [chunk("He"), chunk("llo", "stop"), chunk("", None, usage=usage, timings=timings), "[DONE]"]
    )
    backend = remote(fake_server.url)
    out = backend.generate_raw("Hi", GREEDY)
    assert (out.text, out.tokens_generated, out.prompt_tokens, out.prompt_cached_tokens) == ("Hello", 2, 12, 8)
    assert out.engine_decode_tps == 55.5 and out.engine_prefill_tps == 900.5
    assert backend.execution_provider() == "llama-server"
    body = fake_server.requests[-1]["body"]
    assert body["stream"] and body["stream_options"] == {"include_usage": True} and body["prompt"] == "Hi"


def test_api_key_is_sent_but_never_shown(fake_server: FakeServer, monkeypatch) -> None:
    monkeypatch.setenv("XYBRID_TEST_KEY", "sk-secret-123")
    fake_server.behaviour = lambda h: _json_error(h, 401, "invalid api key")
    backend = remote(fake_server.url, api_key_env="XYBRID_TEST_KEY")
    with pytest.raises(GenerationError) as info:
        backend.generate_raw("Hi", GREEDY)
    assert fake_server.requests[-1]["headers"]["Authorization"] == "Bearer sk-secret-123"
    assert "sk-secret" not in str(info.value) and "401" in str(info.value) and "invalid api key" in str(info.value)
    assert "sk-secret" not in json.dumps(info.value.partial.to_dict())
    monkeypatch.delenv("XYBRID_TEST_KEY")
    with pytest.raises(InvalidInput, match="XYBRID_TEST_KEY is empty or unset"):
        backend.generate_raw("Hi", GREEDY)


def _json_error(handler, status: int, message: str) -> None:
    body = json.dumps({"error": {"message": message}}).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.mark.parametrize(
    "status, message", [(404, "model not found"), (429, "slow down"), (500, "kaboom"), (503, "overloaded")]
)
def test_http_errors_are_one_line_with_the_servers_message(fake_server: FakeServer, status: int, message: str) -> None:
    fake_server.behaviour = lambda h: _json_error(h, status, message)
    with pytest.raises(GenerationError) as info:
        remote(fake_server.url).generate_raw("Hi", GREEDY)
    text = str(info.value)
    assert f"HTTP {status}" in text and message in text and "\n" not in text
    assert info.value.partial.finish_reason == "error"


def test_stream_cut_in_the_middle_keeps_partial_text(fake_server: FakeServer) -> None:
    fake_server.behaviour = lambda h: sse(h, [chunk("one "), chunk("two ")], close_early=True)
    with pytest.raises(GenerationError, match="cut|ended before") as info:
        remote(fake_server.url).generate_raw("Hi", GREEDY)
    partial = info.value.partial
    assert partial.text == "one two " and partial.finish_reason == "error" and partial.emitted_chunks == 2


def test_a_connection_the_server_closed_after_its_last_stream_is_not_a_failed_run(fake_server: FakeServer) -> None:
    """As llama-server does: it says keep-alive, then drops the connection when the next request comes on it."""

    def answer_once_per_connection(handler) -> None:
        if getattr(handler, "answered", False):
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)  # read the request, send nothing
            return
        handler.answered = True
        sse(handler, [chunk("ok", "stop"), "[DONE]"])

    fake_server.behaviour = answer_once_per_connection
    backend = remote(fake_server.url)
    outputs = [backend.generate_raw("Hi", GREEDY) for _ in range(20)]
    assert [out.text for out in outputs] == ["ok"] * 20
    assert len(fake_server.requests) > 20 + 1  # models, 20 runs, and the stale connections met on the way


def test_a_cut_after_the_first_byte_is_not_retried(fake_server: FakeServer) -> None:
    fake_server.behaviour = lambda h: sse(h, [chunk("one ")], close_early=True)
    with pytest.raises(GenerationError, match="cut|ended before"):
        remote(fake_server.url).generate_raw("Hi", GREEDY)
    assert sum(r["path"].endswith("/completions") for r in fake_server.requests) == 1


def test_malformed_sse_is_an_error_naming_the_line(fake_server: FakeServer) -> None:
    fake_server.behaviour = lambda h: sse(h, [chunk("fine "), "{not json", "[DONE]"])
    with pytest.raises(GenerationError, match="malformed server-sent event: '{not json'") as info:
        remote(fake_server.url).generate_raw("Hi", GREEDY)
    assert info.value.partial.text == "fine "


def test_a_stalled_server_times_out_before_the_first_byte(fake_server: FakeServer) -> None:
    fake_server.behaviour = lambda h: time.sleep(3)
    backend = remote(fake_server.url, timeout_s=0.5)
    started = time.perf_counter()
    with pytest.raises(GenerationError, match=r"no answer from .* within 0.5 s"):
        backend.generate_raw("Hi", GREEDY)
    assert time.perf_counter() - started < 2.5


def test_nothing_listening_is_connection_refused() -> None:
    with pytest.raises(GenerationError, match="cannot connect to .*is the server running"):
        create_backend("remote").load(RemoteSpec(f"http://127.0.0.1:{free_port()}/v1", MODEL_NAME, timeout_s=2))


def test_dns_failure_is_one_line() -> None:
    with pytest.raises(GenerationError, match="cannot connect to http://no-such-host.invalid/v1") as info:
        create_backend("remote").load(RemoteSpec("http://no-such-host.invalid/v1", MODEL_NAME, timeout_s=2))
    assert "\n" not in str(info.value)


def test_unknown_model_lists_what_the_server_serves(fake_server: FakeServer) -> None:
    with pytest.raises(ModelNotFound, match=f"it serves: {MODEL_NAME}"):
        create_backend("remote").load(RemoteSpec(fake_server.url, "gpt-9"))


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://x", ""])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="http"):
        create_backend("remote").load(RemoteSpec(url, MODEL_NAME))


def test_event_data_parsing() -> None:
    assert parse_event_data("") is None and parse_event_data("[DONE]") is None
    assert parse_event_data('{"choices": []}') == {"choices": []}
    with pytest.raises(GenerationError, match="mid-stream: boom"):
        parse_event_data('{"error": {"message": "boom"}}')
    with pytest.raises(GenerationError, match="malformed server-sent event"):
        parse_event_data("[1, 2]")


def test_an_event_split_over_several_data_lines_is_joined(fake_server: FakeServer) -> None:
    """SSE framing as the spec says (httpx-sse): data lines of one event join with a newline."""
    split = '{"choices": [{"index": 0, "text": "multi", \ndata: "finish_reason": "stop"}]}'
    fake_server.behaviour = lambda h: sse(h, [chunk("one "), split, "[DONE]"])
    out = remote(fake_server.url).generate_raw("Hi", GREEDY)
    assert out.text == "one multi" and out.finish_reason == "stop"


def test_a_server_answering_json_instead_of_a_stream_is_one_line(fake_server: FakeServer) -> None:
    def plain_json(handler) -> None:
        body = json.dumps({"choices": [{"text": "whole"}]}).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    fake_server.behaviour = plain_json
    with pytest.raises(GenerationError, match="did not answer with an event stream") as info:
        remote(fake_server.url).generate_raw("Hi", GREEDY)
    assert "\n" not in str(info.value)
