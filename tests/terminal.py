"""Terminal IPython as a user runs it: a real `ipython` process reading lines from its standard input."""

from __future__ import annotations

import subprocess
import sys


def run_terminal_ipython(script: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    """Feed `script` to a fresh `python -m IPython` (no banner, no colours, no profile); its whole output."""
    return subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", "--quick"],
        input=script,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
