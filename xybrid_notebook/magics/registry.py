"""The `%xybrid` subcommand registry: one place that declares, documents and dispatches each subcommand.

A subcommand is a function decorated with `@subcommand(name, summary, *options)`
in one of the `*_commands` modules; it takes the magics object (`Context`) and the
parsed options. The registry builds its argparse parser (errors become one-line
`UsageError`s), lists it in `%xybrid help`, and writes the full usage into `%xybrid?`.
`user_errors` turns a user-fixable error into one line; a bug keeps its traceback.
"""

from __future__ import annotations

import argparse
import functools
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Protocol

from IPython.core.error import UsageError

from ..errors import XybridError
from ..session import Session


class Context(Protocol):
    """What a subcommand gets: the magics' session and shell, and a way to keep a result in the user's namespace."""

    session: Session
    shell: Any

    def keep(self, value: Any, name: str, also: Optional[str] = None) -> None: ...


Handler = Callable[[Context, argparse.Namespace], Any]


def user_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    """Show a user-fixable error (`XybridError`) as one line; anything else is a bug and keeps its traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except XybridError as exc:
            raise UsageError(f"{type(exc).__name__}: {exc}") from None

    return wrapper


def check_out_name(name: Optional[str]) -> None:
    """A one-line error unless `-o NAME` names a Python variable (or is absent)."""
    if name is not None and not name.isidentifier():
        raise UsageError(f"-o needs a Python variable name, got {name!r}")


@dataclass(frozen=True)
class Option:
    """One argparse argument: the names and keyword arguments of `add_argument`."""

    names: tuple[str, ...]
    settings: dict[str, Any]


def option(*names: str, **settings: Any) -> Option:
    """An argument of a subcommand, as `ArgumentParser.add_argument` takes it (give it a `help`)."""
    return Option(names, settings)


class _Parser(argparse.ArgumentParser):
    """argparse that raises a one-line `UsageError` instead of exiting."""

    def error(self, message: str) -> Any:  # argparse's signature says NoReturn
        raise UsageError(f"{message} (see %xybrid help {self.prog.split()[-1]})")


def build_parser(prog: str, summary: str, options: Sequence[Option]) -> argparse.ArgumentParser:
    """A parser for `prog` with `options`, its help led by `summary`."""
    parser = _Parser(prog=prog, description=summary, add_help=False)
    for item in options:
        parser.add_argument(*item.names, **item.settings)
    return parser


def parse_line(parser: argparse.ArgumentParser, line: str) -> argparse.Namespace:
    """Split `line` as a shell does (quotes group words and are removed), then parse it."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"cannot read the options ({exc}): close every quote") from None
    return parser.parse_args(words)


@dataclass(frozen=True)
class Subcommand:
    """A `%xybrid` subcommand: its name, one-line summary, parser and handler."""

    name: str
    summary: str
    parser: argparse.ArgumentParser
    handler: Handler

    def run(self, context: Context, line: str) -> Any:
        """Parse `line` and call the handler with the magics object."""
        return self.handler(context, parse_line(self.parser, line))

    def usage(self) -> str:
        """The full usage and option help, plain text."""
        return self.parser.format_help().rstrip()


REGISTRY: dict[str, Subcommand] = {}


def subcommand(name: str, summary: str, *options: Option) -> Callable[[Handler], Handler]:
    """Register the decorated function as `%xybrid NAME`."""

    def register(handler: Handler) -> Handler:
        REGISTRY[name] = Subcommand(name, summary, build_parser(f"%xybrid {name}", summary, options), handler)
        return handler

    return register


def find(name: str) -> Subcommand:
    """The subcommand called `name`, or a one-line `UsageError` listing them all."""
    if name not in REGISTRY:
        raise UsageError(f"unknown subcommand {name!r}: choose one of {', '.join(REGISTRY)} (see %xybrid help)")
    return REGISTRY[name]


def listing(extra: Sequence[tuple[str, str]] = ()) -> str:
    """Every subcommand with its one-line summary, then `extra` (name, summary) rows."""
    rows = [(f"%xybrid {c.name}", c.summary) for c in REGISTRY.values()] + list(extra)
    width = max(len(name) for name, _ in rows)
    lines = ["%xybrid SUBCOMMAND [options]; `%xybrid help SUBCOMMAND` shows its options:"]
    lines += [f"  {name.ljust(width)}  {summary}" for name, summary in rows]
    return "\n".join(lines)


def full_usage(extra: str = "") -> str:
    """The listing followed by every subcommand's usage: what `%xybrid?` shows."""
    parts = [listing(), *(c.usage() for c in REGISTRY.values())]
    return "\n\n".join(parts + ([extra] if extra else []))
