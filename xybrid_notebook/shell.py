"""The running IPython shell, if any, found without importing IPython where it is not loaded already."""

from __future__ import annotations

import sys
from typing import Any


def running_shell() -> Any:
    """The running IPython shell, or None (outside IPython, IPython is not even imported)."""
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()
