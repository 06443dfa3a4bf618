"""The magics through a real InteractiveShell: real-model runs, every bad invocation as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from xybrid_notebook.magics import LAST_OUTPUT_NAME

from .conftest import one_line_error


@pytest.fixture(scope="module")
def loaded(shell: InteractiveShell) -> InteractiveShell:
    shell.run_line_magic("xybrid", "load --ctx 2048")
    return shell


def session(shell: InteractiveShell):
    return shell.find_magic("xybrid").__self__.session


def test_generate_before_load_says_which_command_fixes_it(shell: InteractiveShell) -> None:
    session(shell).unload()
    message = one_line_error(lambda: shell.run_cell_magic("generate", "", "hello"))
    assert "ModelNotLoaded" in message and "%xybrid load" in message


@pytest.mark.slow
def test_generate_streams_stores_output_and_records_history(loaded: InteractiveShell, capsys) -> None:
    loaded.run_cell_magic("generate", "-n 12 -t 0 --raw -o mine", "The history of the bicycle began")
    printed = capsys.readouterr().out
    out = loaded.user_ns["mine"]
    assert loaded.user_ns[LAST_OUTPUT_NAME] is out
    assert out.text and out.text in printed and out.tokens_generated == 12
    *_, summary, where = printed.splitlines()
    assert "TTFT" in summary and where.startswith("where the time went: ") and "decode" in where
    assert session(loaded).history[-1].output is out


@pytest.mark.slow
def test_chat_keeps_the_conversation_and_reuses_the_cache(loaded: InteractiveShell) -> None:
    loaded.run_line_magic("xybrid", "chat --reset")
    loaded.run_line_magic("xybrid", 'config --system "Answer briefly."')
    loaded.run_cell_magic("generate", "--chat -n 8 -t 0", "What is a bicycle?")
    loaded.run_cell_magic("generate", "--chat -n 8 -t 0 -o second", "Who invented it?")
    second = loaded.user_ns["second"]
    assert len(session(loaded).conversation) == 4
    assert second.prompt_cached_tokens > 10
    loaded.run_line_magic("xybrid", 'config --system ""')


@pytest.mark.parametrize(
    "line, expected",
    [
        ("-n abc", "invalid int value"),
        ("-n 0", "max_tokens must be >= 1"),
        ("-t -1", "temperature must be >= 0"),
        ("-t nan", "finite"),
        ("-t inf", "finite"),
        ("--top-p 0", "top_p"),
        ("--bogus", "unrecognized arguments"),
        ("-n", "expected one argument"),
        ("--raw --chat", "exclude each other"),
        ("-o 1x", "variable name"),
    ],
)
def test_bad_generate_flags_are_one_line(loaded: InteractiveShell, line: str, expected: str) -> None:
    runs = len(session(loaded).history)
    assert expected in one_line_error(lambda: loaded.run_cell_magic("generate", line, "hello"))
    assert len(session(loaded).history) == runs and session(loaded).backend.is_loaded()


@pytest.mark.parametrize("body", ["", "   \n  "])
def test_empty_cell_is_one_line(loaded: InteractiveShell, body: str) -> None:
    assert "empty" in one_line_error(lambda: loaded.run_cell_magic("generate", "", body))


@pytest.mark.parametrize(
    "line, expected",
    [
        ("frobnicate", "unknown subcommand"),
        ("load --ctx abc", "invalid int value"),
        ("load --ctx", "expected one argument"),
        ("load /no/such/model.gguf", "ModelNotFound"),
        ("load --backend vllm", "unknown backend"),
        ("config --top-p 1.5", "top_p"),
        ("config --temperature nan", "finite"),
        ("config --max-tokens -3", "max_tokens"),
        ("config --wat 1", "unrecognized"),
        ("status now", "unrecognized arguments: now"),
        ("export", "required: path"),
    ],
)
def test_bad_xybrid_lines_are_one_line_and_change_nothing(loaded: InteractiveShell, line: str, expected: str) -> None:
    before = (session(loaded).backend, session(loaded).defaults, len(session(loaded).history))
    assert expected in one_line_error(lambda: loaded.run_line_magic("xybrid", line))
    assert (session(loaded).backend, session(loaded).defaults, len(session(loaded).history)) == before
    assert session(loaded).backend.is_loaded()


def test_config_changes_and_shows_defaults(loaded: InteractiveShell) -> None:
    table = loaded.run_line_magic("xybrid", "config --max-tokens 33 --seed 7")
    assert "33" in repr(table) and session(loaded).defaults.seed == 7
    loaded.run_line_magic("xybrid", "config --max-tokens 256")
    session(loaded).defaults = type(session(loaded).defaults)()


@pytest.mark.slow
def test_history_and_export(loaded: InteractiveShell, tmp_path: Path) -> None:
    loaded.run_cell_magic("generate", "-n 4 -t 0 --raw", "Once upon a time")
    table = repr(loaded.run_line_magic("xybrid", "history"))
    assert "Once upon a time" in table and "TTFT" in table
    target = tmp_path / "runs.json"
    loaded.run_line_magic("xybrid", f"export {target}")
    runs = json.loads(target.read_text())["runs"]
    assert len(runs) == len(session(loaded).history) and runs[-1]["output"]["chunk_offsets_ms"]
    assert "already exists" in one_line_error(lambda: loaded.run_line_magic("xybrid", f"export {target}"))
    loaded.run_line_magic("xybrid", f"export {target} --force")
    csv_path = tmp_path / "runs.csv"
    loaded.run_line_magic("xybrid", f"export {csv_path}")
    assert len(csv_path.read_text().strip().splitlines()) == len(runs) + 1
    folder = tmp_path / "looks_like.json"
    folder.mkdir()
    assert "is a folder" in one_line_error(lambda: loaded.run_line_magic("xybrid", f"export {folder}"))
    assert "does not exist" in one_line_error(lambda: loaded.run_line_magic("xybrid", f"export {tmp_path}/no/x.csv"))
    assert ".json or .csv" in one_line_error(lambda: loaded.run_line_magic("xybrid", f"export {tmp_path}/x.txt"))


def test_help_and_listings(loaded: InteractiveShell, capsys) -> None:
    loaded.run_line_magic("xybrid", "")
    assert "%xybrid load" in capsys.readouterr().out
    assert "usable" in repr(loaded.run_line_magic("xybrid", "backends"))
    models = loaded.run_line_magic("xybrid", "models")
    rows = {row[0]: dict(zip(models.header, row)) for row in models.rows}
    assert rows["smollm2-135m-instruct"]["architecture"] == "llama" and rows["gemma3-270m"]["quantization"] == "Q4_K_M"
    assert rows["smollm2-135m-instruct"]["chat template"].startswith("yes")
    assert rows["gemma3-270m"]["chat template"] == "no (built-in Gemma fallback)"
    assert rows["smollm2-135m-instruct"]["backends"] == "llama-cpp, mistralrs"
    # with no model named, %xybrid load loads the instruct model: a %%generate cell is a chat turn
    assert "smollm2-135m-instruct" in repr(loaded.run_line_magic("xybrid", "status"))


def test_unload_twice_and_reload_ext(shell: InteractiveShell, capsys) -> None:
    shell.run_line_magic("xybrid", "unload")
    shell.run_line_magic("xybrid", "unload")
    assert "Nothing was loaded" in capsys.readouterr().out
    shell.run_line_magic("unload_ext", "xybrid_notebook")
    assert "xybrid" not in shell.magics_manager.magics["line"]
    assert "generate" not in shell.magics_manager.magics["cell"]
    shell.run_line_magic("load_ext", "xybrid_notebook")
    assert session(shell).history == [] and session(shell).backend is None
