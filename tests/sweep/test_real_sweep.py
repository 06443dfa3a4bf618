"""Real llama.cpp sweeps, kept tiny (the machine is shared): shapes and consistency, never speed."""

from __future__ import annotations

import math

import pytest

from xybrid_notebook import GenerationConfig, compare, depth_curve, sweep

pytestmark = pytest.mark.slow


def test_thread_and_depth_sweep_on_llama_cpp(model_path) -> None:
    result = sweep(model=str(model_path), threads=[1, 2], depth=[0, 16], n_prompt=8, n_gen=4, repetitions=2, warmup=0)
    frame = result.to_pandas()
    assert list(zip(frame["threads"], frame["depth"])) == [(1, 0), (1, 16), (2, 0), (2, 16)]
    for _, row in frame.iterrows():
        assert row["pp_tps_mean"] > 0 and row["tg_tps_mean"] > 0 and row["sample_ms_per_token"] > 0
        assert len(row["samples"]["tg_tps"]) == 2 and math.isfinite(row["tg_tps_ci95"])
        assert row["itl_p50_ms"] <= row["itl_p95_ms"]
        # pp is n_prompt over the pp test's time, which is also the TTFT figure
        assert row["samples"]["pp_tps"][0] == pytest.approx(8 / (row["samples"]["ttft_ms"][0] / 1000))
    curve = result.depth_curve()
    assert curve.positions == sorted(curve.positions) and curve.context_length == 32768


def test_quantized_kv_cache_flash_attention_and_small_batches_run(model_path) -> None:
    result = sweep(
        model=str(model_path),
        type_k="q8_0",
        type_v="q8_0",
        flash_attn=True,
        n_batch=4,
        n_ubatch=4,
        n_prompt=8,
        n_gen=4,
        repetitions=2,
        warmup=0,
        sampling=GenerationConfig(temperature=0),
    )
    row = result.to_pandas().iloc[0]
    assert row["type_v"] == "q8_0" and row["pp_tps_mean"] > 0 and row["tg_tps_mean"] > 0


def test_interrupt_mid_sweep_keeps_the_finished_configuration(model_path) -> None:
    def interrupt_once_one_is_done(progress) -> None:
        if len(progress.results) == 1 and progress.current is not None:
            raise KeyboardInterrupt

    result = sweep(
        model=str(model_path),
        n_gen=[2, 3, 4],
        n_prompt=4,
        repetitions=2,
        warmup=0,
        on_progress=interrupt_once_one_is_done,
    )
    assert result.stopped and result.to_pandas()["n_gen"].tolist() == [2]


def test_compare_two_thread_counts(model_path) -> None:
    result = compare(
        {"threads": 1}, {"threads": 2}, model=str(model_path), n_prompt=8, n_gen=4, repetitions=2, warmup=0
    )
    assert result.labels == ("threads=1", "threads=2")
    assert len(result.to_pandas()) == 3 and result.verdict.count(";") == 2


def test_depth_curve_of_a_real_run(llama_backend) -> None:
    out = llama_backend.generate_raw("The history of the bicycle", GenerationConfig(max_tokens=24, temperature=0))
    curve = depth_curve(out, context_length=llama_backend.context_length())
    assert curve.positions and curve.positions[0] > out.prompt_tokens
    assert curve.positions[-1] <= out.prompt_tokens + out.tokens_generated
    assert all(ms > 0 for ms in curve.ms_per_token)
    assert "context 2048" in curve._repr_html_()
