"""`%xybrid` and `%%generate`: a thin router over the subcommand registry and the Python API.

`%xybrid SUBCOMMAND ...` finds the subcommand in the registry (`registry.py`) and
runs it; each subcommand's options, help and call to the library live together in
`model_commands`, `run_commands` or `experiment_commands`. `%%generate`'s options and
its call to `api.generate` live in `generate_command`. `register` and `unregister` are
what `%load_ext` and `%unload_ext` call.
"""

from __future__ import annotations

from typing import Any, Optional

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import magic_arguments

from ..session import Session, attach_session, detach_session
from . import (  # noqa: F401  (they register the subcommands)
    experiment_commands,
    load_commands,
    model_commands,
    run_commands,
    telemetry_commands,
)
from .generate_command import LAST_OUTPUT_NAME, generate_arguments, run_generate
from .registry import find, full_usage, parse_line, user_errors


@magics_class
class XybridMagics(Magics):
    """The `%xybrid` line magic and the `%%generate` cell magic over one `Session`."""

    def __init__(self, shell: Any, session: Optional[Session] = None) -> None:
        super().__init__(shell)
        self.session = session or Session()

    @line_magic
    @user_errors
    def xybrid(self, line: str) -> Any:
        """Replaced below by the full usage of every subcommand."""
        command, _, rest = line.strip().partition(" ")
        return find(command or "help").run(self, rest)

    @cell_magic
    @magic_arguments("%generate")
    @generate_arguments
    @user_errors
    def generate(self, line: str, cell: str) -> None:
        """Stream the model's answer to the cell body, with live latency. The cell body is the prompt."""
        run_generate(self, parse_line(self.generate.parser, line), cell)  # type: ignore[union-attr]  # magic_arguments

    def keep(self, value: Any, name: str, also: Optional[str] = None) -> None:
        """Put a result in the user's namespace under `name` (and `also`, the user's -o name)."""
        assert self.shell is not None
        self.shell.user_ns[name] = value
        if also:
            self.shell.user_ns[also] = value


XybridMagics.xybrid.__doc__ = full_usage()

_registered: dict[int, XybridMagics] = {}


def register(ipython: Any) -> XybridMagics:
    """Register the magics on a shell (what `%load_ext` calls); their session becomes `current_session()`."""
    magics = XybridMagics(ipython)
    ipython.register_magics(magics)
    _registered[id(ipython)] = magics
    attach_session(ipython, magics.session)
    return magics


def unregister(ipython: Any) -> None:
    """Remove the magics and free the model (what `%unload_ext` calls)."""
    magics = _registered.pop(id(ipython), None)
    detach_session(ipython)
    if magics is None:
        return
    magics.session.unload()
    for kind, names in (("line", ["xybrid"]), ("cell", ["generate"])):
        for name in names:
            ipython.magics_manager.magics[kind].pop(name, None)
    ipython.magics_manager.registry.pop(type(magics).__name__, None)


__all__ = ["LAST_OUTPUT_NAME", "XybridMagics", "register", "unregister"]
