"""`%%generate --color-gaps` in terminal IPython, on the real default model: the stream, then the same
text shaded by gap in ANSI colours, a legend line, and the summary."""

from __future__ import annotations

import json
import re

import pytest

from ..terminal import run_terminal_ipython

pytestmark = pytest.mark.slow

ANSI = re.compile(r"\x1b\[[\d;]*m")
SCRIPT = """%load_ext xybrid_notebook
%xybrid load
get_ipython().run_cell_magic('generate', '-n 48 -t 0 --raw --color-gaps', 'Once upon a time')
import json; o = _xybrid_last
print('RUN=' + json.dumps({'text': o.text, 'p50': o.p50_itl_ms, 'p95': o.p95_itl_ms}))
"""


def test_terminal_ipython_prints_the_text_shaded_by_gap_with_a_legend() -> None:
    done = run_terminal_ipython(SCRIPT)
    shown = done.stdout
    run = json.loads(shown.split("RUN=", 1)[1].splitlines()[0])
    legend = next(line for line in shown.splitlines() if "gap shading:" in line)
    assert f"p50 {run['p50']:.1f} ms" in legend and f"p95 {run['p95']:.1f} ms" in legend
    before_legend = shown.split(legend)[0]
    shaded = before_legend[before_legend.index("\x1b[") :].rstrip("\n")
    assert "\x1b[30;48;5;" in shaded  # some chunks are above the run's p50
    assert ANSI.sub("", shaded).strip() == run["text"].strip()
    assert "Traceback" not in shown + done.stderr
