"""Against llama.cpp's real llama-server (4 slots, continuous batching): sequential runs never fail; load figures
agree with the server's own `timings`; the magics serve, list and stop it."""

from __future__ import annotations

import numpy as np
import pytest

from xybrid_notebook import ChatMessage, GenerationConfig, create_backend
from xybrid_notebook.backends.remote import RemoteSpec
from xybrid_notebook.load import load_test
from xybrid_notebook.servers import ServedModel, served

from .conftest import alive

pytestmark = pytest.mark.slow


def test_fifty_sequential_runs_through_the_remote_backend_none_failing(served_llama: ServedModel) -> None:
    # llama-server closes the connection after every stream although it says keep-alive.
    backend = create_backend("remote")
    backend.load(RemoteSpec(served_llama.url, served_llama.model_id))
    try:
        config = GenerationConfig(max_tokens=4, temperature=0.0)
        outputs = [backend.generate([ChatMessage("user", "Count: one, two,")], config) for _ in range(50)]
    finally:
        backend.unload()
    assert [o.finish_reason for o in outputs].count("length") + [o.finish_reason for o in outputs].count("stop") == 50
    assert backend.execution_provider() in ("llama-server", "remote")


def test_load_figures_agree_with_the_servers_own_timings(served_llama: ServedModel) -> None:
    result = load_test(served_llama.url, concurrency=[1, 2], requests=4, prompt_tokens=64, output_tokens=24)
    assert result.counted_by == "the server's /tokenize"
    assert [row["errors"] for row in result.rows] == [0, 0]
    ok = [r for r in result.records if r["outcome"] == "ok"]
    assert ok and all(r["output_tokens"] == 24 and len(r["offsets_ms"]) == 24 for r in ok)
    for record in ok:
        timings = record["timings"]
        # TTFT holds the server's prompt processing; alone (c=1) the rest is HTTP on loopback and one sampled
        # token, while at c=2 a request may also wait for a slot's batch.
        assert timings["prompt_ms"] <= record["offsets_ms"][0]
        if record["level"] == 0:
            assert record["offsets_ms"][0] <= timings["prompt_ms"] + 250.0
        gaps = np.diff(record["offsets_ms"])
        ours = 1000.0 / float(np.mean(gaps))
        assert ours == pytest.approx(timings["predicted_per_second"], rel=0.25)
    assert result.rows[0]["server_decode_tps_p50"] is not None
    assert result.rows[0]["loadgen_cores"] is not None and result.rows[0]["server_cores"] is None  # pid unknown


def test_a_shared_prefix_is_served_from_the_prompt_cache(served_llama: ServedModel) -> None:
    result = load_test(
        served_llama.url, concurrency=[1], requests=3, prompt_tokens=64, shared_prefix=48, output_tokens=4
    )
    measured = [r for r in result.records if r["outcome"] == "ok" and not r["warmup"]]
    # After the first request, a slot holds the shared 48 tokens (and the chat template's own first ones).
    assert all(r["timings"]["cache_n"] >= 48 for r in measured), [r["timings"]["cache_n"] for r in measured]
    assert result.rows[0]["server_cached_tokens_mean"] >= 48


def test_a_server_that_faults_while_starting_is_named_and_started_without_repacking(
    smollm2_path, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in for a CPU whose repacking faults: the real llama-server, but SIGSEGV unless --no-repack is given.
    from xybrid_notebook import llama_tools, servers
    from xybrid_notebook.backends import llama_cpp_bench

    faulting = tmp_path / "llama-server"
    faulting.write_text(
        f'#!/bin/sh\ncase " $* " in *" --no-repack "*) exec {llama_tools.find("llama-server")} "$@";; esac\n'
        "kill -SEGV $$\n"
    )
    faulting.chmod(0o755)
    monkeypatch.setattr(llama_tools, "find", lambda target: faulting)
    monkeypatch.setattr(llama_cpp_bench, "probed_settings", lambda path: {"use_extra_bufts": True})
    server = servers.serve(str(smollm2_path), parallel=1)
    try:
        assert "--no-repack" in server.argv and server.alive
        assert server.notes == ["llama-server died by SIGSEGV with repacking on; started again with --no-repack"]
    finally:
        server.stop()
    assert alive([server.pid]) == []


def test_the_magics_serve_list_load_and_stop(smollm2_path, capsys: pytest.CaptureFixture[str]) -> None:
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "xybrid_notebook")
    shell.run_line_magic("xybrid", f"serve {smollm2_path} --parallel 2")
    printed = capsys.readouterr().out
    assert "llama-server (2 slots" in printed and "--backend remote --url http://127.0.0.1:" in printed
    mine = served()[-1]
    try:
        status = repr(shell.run_line_magic("xybrid", "status"))
        assert f"server :{mine.port}" in status
        shell.run_line_magic("xybrid", "loadtest -c 1,2 -n 2 --prompt-tokens 32 --output-tokens 8 --text -o lt")
        result = shell.user_ns["lt"]
        assert [row["load"] for row in result.rows] == ["c=1", "c=2"]
        assert result.rows[0]["server_cores"] is not None  # the server this notebook started: its CPU is measured
        with pytest.raises(UsageError, match="concurrency: each level must be a whole number ≥ 1, not 0$"):
            shell.run_line_magic("xybrid", "loadtest -c 0")
    finally:
        shell.run_line_magic("xybrid", f"serve --stop --port {mine.port}")
        shell.run_line_magic("unload_ext", "xybrid_notebook")
    assert alive([mine.pid]) == []
    assert "Stopped llama-server" in capsys.readouterr().out
