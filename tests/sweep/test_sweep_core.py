"""Sweep core on a scripted backend and a fake clock: exact means, SDs and CIs; bad input; stopping."""

from __future__ import annotations

import json
import math
import statistics

import pytest

from xybrid_notebook.errors import InvalidInput, XybridError
from xybrid_notebook.experiments import COLUMNS, expand, parse_flash_attn, parse_int_list, sweep
from xybrid_notebook.experiments.stats import paired_difference, summarize

T_975_DF2 = 4.302652729911275  # Student's t, two-sided 95 %, 2 degrees of freedom (table value)
T_975_DF3 = 3.182446305284263


def test_summary_is_mean_sample_sd_and_student_t_half_width() -> None:
    values = [10.0, 12.0, 17.0]
    s = summarize(values)
    assert s.mean == pytest.approx(statistics.mean(values))
    assert s.sd == pytest.approx(statistics.stdev(values))
    assert s.ci95 == pytest.approx(T_975_DF2 * statistics.stdev(values) / math.sqrt(3))
    assert summarize([5.0]).sd is None and summarize([5.0]).ci95 is None
    assert summarize([None, 4.0, None, 6.0]).n == 2


def test_paired_difference_is_b_minus_a_per_pair() -> None:
    a, b = [10.0, 11.0, 12.0, 13.0], [12.0, 12.5, 15.0, 14.5]
    d = paired_difference(a, b)
    diffs = [y - x for x, y in zip(a, b)]
    assert d.diff == pytest.approx(statistics.mean(diffs))
    assert d.diff_ci95 == pytest.approx(T_975_DF3 * statistics.stdev(diffs) / 2)
    assert d.diff_pct == pytest.approx(100 * statistics.mean(diffs) / statistics.mean(a))
    assert d.significant is (abs(d.diff) > d.diff_ci95)


def test_sweep_figures_are_exact_on_a_scripted_backend(scripted_on_fake_time) -> None:
    factors = [50.0, 1.0, 1.5, 2.5]  # the first run is the warm-up and must not count
    backend, fake = scripted_on_fake_time(factors)
    result = sweep(backend=backend, n_prompt=3, n_gen=4, repetitions=3, warmup=1, clock_factory=fake.clock)
    row = result.to_pandas().iloc[0]
    recorded = factors[1:]
    pp = [3 / (0.2 * f) for f in recorded]  # 3 prompt words / TTFT
    tg = [3 / (0.15 * f) for f in recorded]  # (4 tokens - first chunk's 1) / (t_4 - t_1)
    assert row["pp_tps_mean"] == pytest.approx(statistics.mean(pp))
    assert row["pp_tps_sd"] == pytest.approx(statistics.stdev(pp))
    assert row["pp_tps_ci95"] == pytest.approx(T_975_DF2 * statistics.stdev(pp) / math.sqrt(3))
    assert row["tg_tps_mean"] == pytest.approx(statistics.mean(tg))
    assert row["tg_tps_ci95"] == pytest.approx(T_975_DF2 * statistics.stdev(tg) / math.sqrt(3))
    assert row["ttft_ms_mean"] == pytest.approx(statistics.mean(200 * f for f in recorded))
    assert row["samples"]["tg_tps"] == pytest.approx(tg)
    assert row["repetitions"] == 3 and row["backend"] == "scripted"
    assert row["sample_ms_per_token"] is None  # a streaming backend cannot separate its sampler
    assert list(result.to_pandas().columns) == COLUMNS


def test_exports_carry_the_same_figures(scripted_on_fake_time, tmp_path) -> None:
    backend, fake = scripted_on_fake_time([1.0, 2.0])
    result = sweep(backend=backend, n_prompt=3, n_gen=4, repetitions=2, warmup=0, clock_factory=fake.clock)
    row = result.to_pandas().iloc[0]
    bench = json.loads(result.to_llama_bench_json())
    assert [(t["n_prompt"], t["n_gen"]) for t in bench] == [(3, 0), (0, 4)]
    assert bench[1]["avg_ts"] == pytest.approx(row["tg_tps_mean"])
    assert bench[1]["stddev_ts"] == pytest.approx(row["tg_tps_sd"])
    assert bench[0]["samples_ts"] == pytest.approx(row["samples"]["pp_tps"])
    assert "| tg4 |" in result.to_llama_bench_markdown()
    saved = json.loads(result.to_json(tmp_path / "s.json"))
    assert saved["configurations"][0]["tg_tps_mean"] == pytest.approx(row["tg_tps_mean"])
    assert (tmp_path / "s.json").exists()
    assert "tg_tps_ci95" in result.to_csv(tmp_path / "s.csv").splitlines()[0]


def test_every_combination_runs_in_order(scripted_on_fake_time) -> None:
    backend, fake = scripted_on_fake_time([1.0])
    result = sweep(backend=backend, n_prompt=[2, 3], n_gen=[2, 4], repetitions=1, warmup=0, clock_factory=fake.clock)
    frame = result.to_pandas()
    assert list(zip(frame["n_prompt"], frame["n_gen"])) == [(2, 2), (2, 4), (3, 2), (3, 4)]
    assert result.swept == ["n_prompt", "n_gen"]


def test_stop_mid_sweep_keeps_finished_configurations(scripted_on_fake_time) -> None:
    backend, fake = scripted_on_fake_time([1.0])
    seen = []

    def interrupt_after_first(progress) -> None:
        if progress.finished is not None:
            seen.append(progress.finished)
        if seen and progress.current is not None and progress.done_runs > 3:
            raise KeyboardInterrupt

    result = sweep(
        backend=backend,
        n_prompt=[2, 3, 4],
        n_gen=4,
        repetitions=2,
        warmup=1,
        clock_factory=fake.clock,
        on_progress=interrupt_after_first,
    )
    assert result.stopped and len(result) == 1 and result.planned == 3
    assert result.to_pandas()["n_prompt"].tolist() == [2]
    assert len(backend.prompts) == 4  # 3 runs of the first configuration, then one of the second


def test_should_stop_ends_before_the_next_run(scripted_on_fake_time) -> None:
    backend, fake = scripted_on_fake_time([1.0])
    result = sweep(
        backend=backend,
        n_prompt=[2, 3],
        n_gen=4,
        repetitions=1,
        warmup=0,
        clock_factory=fake.clock,
        should_stop=lambda: len(backend.prompts) >= 1,
    )
    assert result.stopped and len(result) == 1


@pytest.mark.parametrize(
    "params, words",
    [
        ({"type_k": "q7_0"}, "unknown KV cache type 'q7_0'"),
        ({"threads": 0}, "threads must be a whole number >= 1"),
        ({"threads": [1, 0]}, "threads must be a whole number >= 1"),
        ({"depth": 10**7}, "is beyond the model's context of"),
        ({"n_batch": -1}, "n_batch"),
        ({"flash_attn": "yes"}, "flash_attn"),
        ({"n_prompt": 0, "n_gen": 0}, "both 0"),
        ({"batch": 5}, "unknown sweep parameter 'batch'"),
        ({"threads": []}, "threads has no values"),
    ],
)
def test_bad_values_are_one_line_and_nothing_runs(params, words, scripted_on_fake_time) -> None:
    with pytest.raises(InvalidInput) as info:
        sweep(repetitions=1, **params)  # llama-cpp by name: a model would load only after the checks
    assert words in str(info.value) and "\n" not in str(info.value)


def test_a_parameter_a_backend_cannot_vary_is_named(scripted_on_fake_time) -> None:
    backend, fake = scripted_on_fake_time([1.0])
    for params, name in (({"threads": 2}, "threads"), ({"depth": 16}, "depth"), ({"type_v": "q8_0"}, "type_v")):
        with pytest.raises(InvalidInput, match=f"^{name}: scripted cannot vary it"):
            sweep(backend=backend, n_prompt=2, n_gen=2, clock_factory=fake.clock, **params)
    assert backend.prompts == []


def test_depth_beyond_a_loaded_backends_context(scripted_on_fake_time) -> None:
    backend, fake = scripted_on_fake_time([1.0])
    with pytest.raises(InvalidInput, match="beyond the model's context of 256"):
        sweep(backend=backend, n_prompt=200, n_gen=100)


@pytest.mark.parametrize(
    "text, values",
    [
        ("1,2", [1, 2]),
        ("16-512*2", [16, 32, 64, 128, 256, 512]),
        ("0-1024+512", [0, 512, 1024]),
        ("1-3", [1, 2, 3]),
        ("128", [128]),
        ("1,4-8*2", [1, 4, 8]),
    ],
)
def test_llama_bench_list_and_range_syntax(text, values) -> None:
    assert parse_int_list(text) == values


@pytest.mark.parametrize("text", ["a", "1-", "8-4*2", "1-8*1", "0-8*2", "1-8+0", ""])
def test_unreadable_lists_are_one_line(text) -> None:
    with pytest.raises(XybridError) as info:
        parse_int_list(text)
    assert "\n" not in str(info.value)


def test_flash_attn_words() -> None:
    assert parse_flash_attn("0,1,auto") == [False, True, None]
    with pytest.raises(InvalidInput, match="flash_attn"):
        parse_flash_attn("maybe")


def test_expand_checks_all_before_returning() -> None:
    configs = expand({"threads": [1, 2], "n_prompt": 8, "n_gen": 4})
    assert [c.threads for c in configs] == [1, 2]


def test_compare_pairs_interleaved_runs_and_words_the_verdict(scripted_on_fake_time) -> None:
    from xybrid_notebook.experiments import compare

    # one backend plays A and B alternately: warm-up A, warm-up B, then A, B, A, B, A, B
    factors = [9.0, 9.0, 1.0, 0.5, 1.1, 0.54, 0.9, 0.47]
    backend, fake = scripted_on_fake_time(factors)
    result = compare(
        {"n_prompt": 3}, {"n_prompt": 4}, backend=backend, n_gen=4, repetitions=3, warmup=1, clock_factory=fake.clock
    )
    a, b = factors[2::2], factors[3::2]
    tg_a, tg_b = [3 / (0.15 * f) for f in a], [3 / (0.15 * f) for f in b]
    diffs = [y - x for x, y in zip(tg_a, tg_b)]
    frame = result.to_pandas().set_index("metric")
    tg = frame.loc["decode rate (tok/s)"]
    assert tg["a_mean"] == pytest.approx(statistics.mean(tg_a)) and tg["b_mean"] == pytest.approx(statistics.mean(tg_b))
    assert tg["diff"] == pytest.approx(statistics.mean(diffs))
    assert tg["diff_ci95"] == pytest.approx(T_975_DF2 * statistics.stdev(diffs) / math.sqrt(3))
    assert tg["diff_pct"] == pytest.approx(100 * statistics.mean(diffs) / statistics.mean(tg_a))
    assert tg["a_cv_pct"] == pytest.approx(100 * statistics.stdev(tg_a) / statistics.mean(tg_a))
    pct, ci = tg["diff_pct"], tg["diff_pct_ci95"]
    assert result.verdict.startswith(f"B decodes {abs(pct):.0f} ± {ci:.0f} % faster")
    ttft = frame.loc["TTFT (ms)"]
    assert f"B's TTFT is {abs(ttft['diff_pct']):.0f} ± {ttft['diff_pct_ci95']:.0f} % lower" in result.verdict
    assert [p.count(" ") for p in backend.prompts] == [2, 3] * 4  # A (3 words), B (4 words), interleaved


def test_compare_without_a_significant_difference_says_so(scripted_on_fake_time) -> None:
    from xybrid_notebook.experiments import compare

    factors = [1.0, 1.0, 1.0, 1.2, 1.0, 0.8, 1.0, 1.1]
    backend, fake = scripted_on_fake_time(factors)
    result = compare({"n_gen": 4}, {"n_gen": 4}, backend=backend, n_prompt=2, repetitions=3, clock_factory=fake.clock)
    assert "decode rate: no significant difference" in result.verdict
    assert result.to_pandas()["significant"].tolist()[0] is False or not result.to_pandas()["significant"][0]


def test_compare_needs_one_configuration_per_side(scripted_on_fake_time) -> None:
    from xybrid_notebook.experiments import compare

    backend, fake = scripted_on_fake_time([1.0])
    with pytest.raises(InvalidInput, match="A must be one configuration"):
        compare({"n_gen": [2, 4]}, {"n_gen": 4}, backend=backend, n_prompt=2)
    assert backend.prompts == []
