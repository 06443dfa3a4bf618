"""llama-cpp-python's OpenAI-compatible server, started only with settings proven safe on this machine.

`python -m xybrid_notebook.backends.llama_server --model M.gguf [server options]`
takes the options of `python -m llama_cpp.server`. The server has no option for
llama.cpp's extra buffer types, so on a host where they fault (see `probe.py`)
this entry point turns them off before the server loads its model.
"""

from __future__ import annotations

import argparse
import importlib
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import XybridError
from .llama_cpp import llama_cpp_probe_plan, model_params_overridden
from .probe import prove_engine


def _model_argument(argv: Sequence[str]) -> Path:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--model", required=True)
    known, _ = parser.parse_known_args(argv)
    return Path(known.model)


def main(argv: Sequence[str]) -> int:
    """Prove llama.cpp on this machine, then run llama_cpp.server with `argv` in this process."""
    try:
        verdict = prove_engine(llama_cpp_probe_plan(), _model_argument(argv))
    except XybridError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if verdict.note:
        print(verdict.note, file=sys.stderr, flush=True)
    llama_cpp = importlib.import_module("llama_cpp")
    sys.argv = ["llama_cpp.server", *argv]
    with model_params_overridden(llama_cpp, verdict.settings):
        runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
