"""The probe's child process: `python -m xybrid_notebook.backends.probe_child TARGET MODEL SETTINGS_JSON`.

Calls `TARGET(MODEL, SETTINGS)` ("module:function") and exits 0. A native fault
kills this process, never the kernel that started it (see `probe.py`).
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any


def main(argv: Sequence[str]) -> int:
    """Run one probe target with its settings."""
    target, model_path, settings = argv
    module_name, _, function_name = target.partition(":")
    probe: Callable[[str, dict[str, Any]], None] = getattr(importlib.import_module(module_name), function_name)
    probe(model_path, json.loads(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
