"""Where the time goes, on the real engines: phases that sum to every gap, a CPU hog started mid-run
seen as stalls and named, and a remote run split by llama-server's own per-token timings."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from xybrid_notebook import GenerationConfig
from xybrid_notebook.backends.base import LlmBackend
from xybrid_notebook.backends.remote import NO_SERVER_TIMINGS
from xybrid_notebook.host import HOG_NAME, start_cpu_hog
from xybrid_notebook.servers import ServedModel
from xybrid_notebook.session import Session
from xybrid_notebook.types import GenerationOutput

pytestmark = pytest.mark.slow
GREEDY = GenerationConfig(max_tokens=96, temperature=0)


def assert_phases_sum_to_gaps(out: GenerationOutput) -> None:
    gaps = [out.ttft_ms, *out.inter_chunk_ms]
    assert out.phases_ms and all(len(values) == len(gaps) for values in out.phases_ms.values())
    for i, gap in enumerate(gaps):
        assert sum(values[i] for values in out.phases_ms.values()) == pytest.approx(gap, abs=0.05), i


def test_llama_cpp_splits_every_gap_and_agrees_with_its_perf_counters(llama_backend: LlmBackend) -> None:
    import llama_cpp

    llama_backend.reset_cache()
    out = llama_backend.generate_raw_streaming("The history of the bicycle", GREEDY, None)
    assert list(out.phases_ms) == ["prepare", "prefill", "decode", "sample", "text", "client"]
    assert_phases_sum_to_gaps(out)
    assert out.phases_ms["prefill"][0] > 0 and sum(out.phases_ms["prefill"][1:]) == 0
    assert all(v > 0 for v in out.phases_ms["decode"][1:])
    perf = llama_cpp.llama_perf_context(llama_backend._llama._ctx.ctx)  # type: ignore[attr-defined]
    # the same llama_decode calls, timed by llama.cpp and by us (ours adds the Python call and the logits copy)
    assert sum(out.phases_ms["prefill"]) == pytest.approx(perf.t_p_eval_ms, rel=0.10, abs=2.0)
    decoded = sum(out.phases_ms["decode"])
    assert decoded >= perf.t_eval_ms * 0.9  # the last token's decode (after the last chunk) is in t_eval only
    frame = out.breakdown()
    assert frame.share.sum() == pytest.approx(1.0) and frame.set_index("phase").share["decode"] > 0.5


def test_mistral_rs_splits_what_its_stream_allows(mistral_backend: LlmBackend) -> None:
    mistral_backend.reset_cache()
    out = mistral_backend.generate_raw_streaming("The history of the bicycle", GREEDY, None)
    assert list(out.phases_ms) == ["prepare", "engine", "text", "client"]
    assert_phases_sum_to_gaps(out)
    assert out.phase_shares()["engine"] > 0.5


def test_a_cpu_hog_mid_run_shows_as_named_stalls(smollm2_llama: LlmBackend) -> None:
    session = Session()
    session.backends["local"] = smollm2_llama
    config = GenerationConfig(max_tokens=400, temperature=0)
    smollm2_llama.reset_cache()
    hogs = start_cpu_hog(1.5, delay_s=1.5)  # python starts in ~0.1 s; the hog then waits, spins and exits
    try:
        out = session.generate("Tell me a long story about a dragon who rides a bicycle.", config=config)
    finally:
        for hog in hogs:
            hog.wait(timeout=10)
    assert_phases_sum_to_gaps(out)
    assert out.stalls, out.where_time_went
    named = [s for s in out.stalls if any(o["name"] == HOG_NAME for o in s["others"])]
    assert len(named) >= max(1, len(out.stalls) // 2), out.stalls
    assert all(s["cpu_share"] < 0.6 for s in out.stalls)
    assert "stalls" in (out.where_time_went or "") and HOG_NAME in (out.where_time_went or "")


def test_a_quiet_run_flags_few_stalls(smollm2_llama: LlmBackend) -> None:
    session = Session()
    session.backends["local"] = smollm2_llama
    smollm2_llama.reset_cache()
    out = session.generate("Tell me a long story.", config=GenerationConfig(max_tokens=256, temperature=0))
    # at most 1 % on a quiet machine (the benchmark); the test suite's own processes may wake meanwhile
    assert len(out.stalls) <= max(2, out.emitted_chunks // 50), out.stalls


def test_remote_waits_split_by_llama_server_timings(served_llama: ServedModel) -> None:
    session = Session()
    session.load(served_llama.model_id, backend="remote", url=served_llama.url)
    out = session.generate("Name three colours.", config=GenerationConfig(max_tokens=48, temperature=0))
    assert out.phase_note is None
    assert {"connect", "send", "server_queue", "server_prefill", "server_decode", "transport"} <= set(out.phases_ms)
    assert_phases_sum_to_gaps(out)
    assert all(v >= 0 for v in out.phases_ms["transport"])
    assert out.phases_ms["server_prefill"][0] > 0 and out.phase_shares()["server_decode"] > 0.3
    session.unload()


def test_server_prefill_and_decode_are_the_servers_own(served_llama: ServedModel) -> None:
    """Within one request: server_prefill is its prompt_ms, and the decodes add up to its predicted_ms."""
    from xybrid_notebook import create_backend
    from xybrid_notebook.backends.remote import RemoteSpec

    backend = create_backend("remote")
    backend.load(RemoteSpec(served_llama.url, served_llama.model_id))
    captured: list[dict] = []
    original = backend._events  # type: ignore[attr-defined]

    def keep_last_timings(response, report, timings):  # type: ignore[no-untyped-def]
        yield from original(response, report, timings)
        captured.append({"timings": timings})

    backend._events = keep_last_timings  # type: ignore[attr-defined]
    out = backend.generate_raw_streaming("The bicycle was", GenerationConfig(max_tokens=40, temperature=0), None)
    backend.unload()
    assert out.finish_reason == "length"  # the last chunk is the last token decoded
    last = captured[0]["timings"][-1]
    assert out.phases_ms["server_prefill"][0] == pytest.approx(last.prompt_ms, abs=1e-6)
    assert sum(out.phases_ms["server_decode"]) == pytest.approx(last.predicted_ms, abs=1.0)


def test_a_server_without_timings_is_split_on_the_client_side_only(fake_server_url: str) -> None:
    from xybrid_notebook import create_backend
    from xybrid_notebook.backends.remote import RemoteSpec

    backend = create_backend("remote")
    backend.load(RemoteSpec(fake_server_url, "smollm2-135m-instruct"))
    out = backend.generate_raw_streaming("Hi", GenerationConfig(max_tokens=8), None)
    backend.unload()
    assert out.phase_note == NO_SERVER_TIMINGS
    assert {"connect", "send", "wait", "text", "client"} <= set(out.phases_ms)
    assert NO_SERVER_TIMINGS in (out.where_time_went or "")


@pytest.fixture
def fake_server_url() -> object:
    from tests.remote.conftest import FakeServer, chunk, sse

    server = FakeServer()
    server.behaviour = lambda handler: sse(
        handler, [chunk("a"), chunk(" b"), chunk(" c", "stop"), "[DONE]"], pause=0.01
    )
    yield server.url
    server.close()


def test_hog_processes_end_by_themselves(tmp_path: Path) -> None:
    hogs = start_cpu_hog(0.05, processes=1)
    started = time.monotonic()
    assert hogs[0].wait(timeout=10) == 0 and time.monotonic() - started < 10
