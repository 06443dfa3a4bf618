"""The magics document themselves: `%%generate?`, `%xybrid?`, `%xybrid help [SUBCOMMAND]`."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from xybrid_notebook.magics.registry import REGISTRY


def test_generate_question_mark_shows_every_option(shell: InteractiveShell, capsys) -> None:
    shell.run_cell("%%generate?")
    shown = capsys.readouterr().out
    for flag in (
        "--max-tokens",
        "--temperature",
        "--top-p",
        "--seed",
        "--system",
        "--raw",
        "--chat",
        "--stop",
        "--no-plot",
        "--compare-last",
        "--text",
        "--out",
    ):
        assert flag in shown, flag
    assert "%%generate [-n MAX_TOKENS]" in shown and "nucleus sampling" in shown


def test_xybrid_question_mark_shows_every_subcommands_usage(shell: InteractiveShell, capsys) -> None:
    shell.run_cell("%xybrid?")
    shown = capsys.readouterr().out
    for name in REGISTRY:
        assert f"usage: %xybrid {name}" in shown, name
    assert "--api-key-env" in shown and "--log" in shown


def test_help_lists_each_subcommand_once_with_a_summary_and_nothing_internal(shell: InteractiveShell, capsys) -> None:
    shell.run_line_magic("xybrid", "help")
    shown = capsys.readouterr().out
    assert "::" not in shown and "_args" not in shown and "_load" not in shown
    listed = [line.split()[1] for line in shown.splitlines()[1:] if line.startswith("  %xybrid ")]
    assert listed == list(REGISTRY)
    assert "%%generate" in shown


def test_help_for_one_subcommand_shows_its_options(shell: InteractiveShell, capsys) -> None:
    shell.run_line_magic("xybrid", "help load")
    shown = capsys.readouterr().out
    assert shown.startswith("usage: %xybrid load") and "--ctx CTX" in shown and "context length" in shown
    with pytest.raises(UsageError, match="unknown subcommand 'frob'"):
        shell.run_line_magic("xybrid", "help frob")


def test_every_option_has_help_text() -> None:
    from xybrid_notebook.magics import XybridMagics

    parsers = [c.parser for c in REGISTRY.values()] + [XybridMagics.generate.parser]
    for parser in parsers:
        for action in parser._actions:
            assert action.help, f"{parser.prog} {action.option_strings or action.dest}"


def test_a_bad_sampling_value_fails_before_any_view_is_shown(shell: InteractiveShell, monkeypatch) -> None:
    from xybrid_notebook import api
    from xybrid_notebook.backends import register_backend, unregister_backend
    from xybrid_notebook.backends.scripted import ScriptedBackend

    def no_view(*args, **kwargs):
        raise AssertionError("a view was made for a run that cannot start")

    register_backend("scripted", ScriptedBackend)
    try:
        shell.run_line_magic("xybrid", "load --backend scripted")
        monkeypatch.setattr(api, "_run_view", no_view)
        with pytest.raises(UsageError, match="top_p must be in"):
            shell.run_cell_magic("generate", "--top-p 7", "Hi")
    finally:
        shell.run_line_magic("xybrid", "unload")
        unregister_backend("scripted")
