"""A kernel of its own for the model-source tests: runs `%xybrid` lines through a real InteractiveShell.

Each argument is a `%xybrid` line ("load org/repo:Q4_1 --ctx 256"), or `GENERATE` (a 4-token greedy chat
turn on what is loaded). Prints, as its last line, a JSON report: per line its output and its one-line
error (if any), and what is loaded at the end. huggingface_hub reads this process's environment.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell


def main(lines: list[str]) -> None:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "xybrid_notebook")
    import xybrid_notebook as xn

    steps = []
    for line in lines:
        out, error, text, started = io.StringIO(), None, None, time.perf_counter()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                if line == "GENERATE":
                    text = xn.generate("Say hi.", live=False, max_tokens=4, temperature=0.0).text
                else:
                    result = shell.run_line_magic("xybrid", line)
                    if result is not None:
                        print(repr(result))
            except UsageError as exc:
                error = str(exc)
        seconds = time.perf_counter() - started
        steps.append({"line": line, "output": out.getvalue(), "error": error, "text": text, "seconds": seconds})
    status = xn.current_session().status()
    report = {"steps": steps, "model": status["model"], "source": status["source"], "backend": status["backend"]}
    shell.run_line_magic("unload_ext", "xybrid_notebook")
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
