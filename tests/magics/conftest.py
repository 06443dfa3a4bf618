"""The magics' tests share one real InteractiveShell with the extension loaded."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell


@pytest.fixture(scope="module")
def shell() -> Iterator[InteractiveShell]:
    """A real shell with the extension loaded; magic errors raise (run_line_magic does not swallow them)."""
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "xybrid_notebook")
    yield ip
    ip.run_line_magic("unload_ext", "xybrid_notebook")


def one_line_error(call: Callable[[], object]) -> str:
    """The UsageError `call` raises, checked to be one line with no traceback."""
    with pytest.raises(UsageError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message
