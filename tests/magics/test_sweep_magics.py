"""`%xybrid sweep`, `%xybrid compare` and `%xybrid history --df` through a real InteractiveShell."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

from xybrid_notebook.backends import register_backend, unregister_backend
from xybrid_notebook.backends.scripted import ScriptedBackend
from xybrid_notebook.experiments import CompareResult, SweepResult
from xybrid_notebook.magics.experiment_commands import SWEEP_OUTPUT_NAME

from .conftest import one_line_error


@pytest.fixture(scope="module", autouse=True)
def scripted_backend() -> Iterator[None]:
    """The scripted engine under the name "scripted", for this module's sweeps."""
    register_backend("scripted", ScriptedBackend)
    yield
    unregister_backend("scripted")


def test_sweep_runs_every_combination_and_stores_the_result(shell: InteractiveShell, capsys) -> None:
    result = shell.run_line_magic("xybrid", "sweep --backend scripted -p 2,3 -n 4 -r 2 --warmup 0 -o mine")
    assert isinstance(result, SweepResult) and shell.user_ns["mine"] is result
    assert shell.user_ns[SWEEP_OUTPUT_NAME] is result
    assert result.to_pandas()["n_prompt"].tolist() == [2, 3]
    assert result.to_pandas()["repetitions"].tolist() == [2, 2]
    assert "4/4 runs" in capsys.readouterr().out


@pytest.mark.parametrize(
    "line, words",
    [
        ("sweep -ctk q7_0 -p 8 -n 4", "unknown KV cache type 'q7_0'"),
        ("sweep -t 0 -p 8 -n 4", "threads must be a whole number >= 1"),
        ("sweep -d 40000 -p 8 -n 4", "beyond the model's context"),
        ("sweep -p 16-8*2", "never ends"),
        ("sweep -p x", "cannot read 'x'"),
        ("sweep --backend scripted -t 2 -p 2 -n 2", "threads: scripted cannot vary it"),
        ("sweep -p 8 -n 4 -o 1x", "-o needs a Python variable name"),
        ("compare -t 1,2,4 -p 8 -n 4", "exactly one option with two values"),
        ("compare -t 1,2 -p 8,16 -n 4", "exactly one option with two values"),
    ],
)
def test_bad_sweeps_are_one_line_and_nothing_runs(shell: InteractiveShell, line: str, words: str, capsys) -> None:
    assert words in one_line_error(lambda: shell.run_line_magic("xybrid", line))
    assert "runs" not in capsys.readouterr().out


def test_compare_runs_a_and_b_and_returns_the_verdict(shell: InteractiveShell) -> None:
    result = shell.run_line_magic("xybrid", "compare --backend scripted -p 2,3 -n 4 -r 2 --warmup 0")
    assert isinstance(result, CompareResult)
    assert result.labels == ("n_prompt=2", "n_prompt=3")
    assert "decode rate" in result.verdict or "decodes" in result.verdict
    assert len(result.a.repetitions) == len(result.b.repetitions) == 2


def test_history_df_is_an_assignable_dataframe(shell: InteractiveShell) -> None:
    frame = shell.run_line_magic("xybrid", "history --df")
    assert isinstance(frame, pd.DataFrame) and "ttft_ms" in frame.columns


def test_help_lists_sweep_and_compare(shell: InteractiveShell, capsys) -> None:
    shell.run_line_magic("xybrid", "help")
    out = capsys.readouterr().out
    assert "%xybrid sweep" in out and "%xybrid compare" in out


def test_compare_with_a_loaded_model_uses_it_as_the_common_model(shell: InteractiveShell) -> None:
    from xybrid_notebook import LlmConfig, resolve_model

    session = shell.find_magic("xybrid").__self__.session
    backend = ScriptedBackend()
    backend.load(LlmConfig(resolve_model()))
    session.backends["local"] = backend
    try:
        result = shell.run_line_magic("xybrid", "compare --backend scripted -n 2,4 -p 2 -r 2 --warmup 0")
        assert result.labels == ("n_gen=2", "n_gen=4") and result.a.config.model == resolve_model()
    finally:
        session.unload()


def test_every_llama_bench_option_parses_to_sweep_parameters() -> None:
    from types import SimpleNamespace

    from xybrid_notebook.magics.experiment_commands import experiment_params
    from xybrid_notebook.magics.registry import find, parse_line
    from xybrid_notebook.session import Session

    args = parse_line(
        find("sweep").parser,
        "-t 1,2 -p 16-64*2 -n 8 -d 0,32 -b 64 -ub 32 -fa 0,auto -ctk f16,q8_0 -ctv q8_0 "
        "-m gemma3-270m --backend llama-cpp -r 3 --warmup 0",
    )
    assert experiment_params(args, SimpleNamespace(session=Session())) == {
        "threads": [1, 2],
        "n_prompt": [16, 32, 64],
        "n_gen": [8],
        "depth": [0, 32],
        "n_batch": [64],
        "n_ubatch": [32],
        "flash_attn": [False, None],
        "type_k": ["f16", "q8_0"],
        "type_v": ["q8_0"],
        "model": ["gemma3-270m"],
        "backend": ["llama-cpp"],
    }
    assert (args.repetitions, args.warmup) == (3, 0)
