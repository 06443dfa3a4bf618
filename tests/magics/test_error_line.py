"""In a cell, the Python API's user-fixable errors are one line with the error's name; a bug keeps its traceback."""

from __future__ import annotations

import re

import pytest
from IPython.core.interactiveshell import InteractiveShell


def _shown(shell: InteractiveShell, cell: str, capsys: pytest.CaptureFixture[str]) -> tuple[object, list[str]]:
    result = shell.run_cell(cell)
    captured = capsys.readouterr()
    text = re.sub(r"\x1b\[[0-9;]*m", "", captured.out + captured.err)  # the terminal's colours
    return result.error_in_exec, [line for line in text.splitlines() if line.strip()]


def test_a_xybrid_error_from_the_python_api_is_one_line(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    error, lines = _shown(shell, "import xybrid_notebook as xn\nxn.generate('Hi', temprature=0)", capsys)
    assert error is not None and isinstance(error, __import__("xybrid_notebook").XybridError)
    assert lines == [f"{type(error).__name__}: {error}"]


def test_any_other_exception_keeps_its_traceback(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    error, lines = _shown(shell, "def broken():\n    return 1 / 0\nbroken()", capsys)
    assert isinstance(error, ZeroDivisionError)
    text = "\n".join(lines)
    assert "Traceback" in text or "----" in text
    assert "broken()" in text and "ZeroDivisionError" in text


def test_unloading_gives_xybrid_errors_their_traceback_again(capsys: pytest.CaptureFixture[str]) -> None:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "xybrid_notebook")
    ip.run_line_magic("unload_ext", "xybrid_notebook")
    try:
        error, lines = _shown(ip, "import xybrid_notebook as xn\nxn.generate('Hi', temprature=0)", capsys)
        assert error is not None and len(lines) > 1
    finally:
        ip.run_line_magic("load_ext", "xybrid_notebook")  # the module's shared shell expects it loaded
