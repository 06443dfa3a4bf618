"""The sampling options `%xybrid config` and `%%generate` share, and the settings they give."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable
from typing import Any

from IPython.core.magic_arguments import argument

from .registry import Option, option

SAMPLING_OPTIONS: list[Option] = [
    option("-n", "--max-tokens", type=int, help="most tokens to generate"),
    option("-t", "--temperature", type=float, help="sampling temperature; 0 is greedy (repeatable)"),
    option("--top-p", type=float, help="nucleus sampling: keep the smallest set of tokens with this total probability"),
    option("--top-k", type=int, help="keep only the K most likely tokens (0: all)"),
    option("--min-p", type=float, help="drop tokens less likely than this fraction of the most likely one"),
    option("--repeat-penalty", type=float, help="penalty for repeated tokens (1.0: none)"),
    option("--seed", type=int, help="random seed, for repeatable sampling at temperature > 0"),
]
SAMPLING_FIELDS = ("max_tokens", "temperature", "top_p", "top_k", "min_p", "repeat_penalty", "seed")


def sampling_settings(args: Namespace) -> dict[str, Any]:
    """The generation settings the options give (`stop` too, where the command has it); absent ones left out."""
    changes = {name: getattr(args, name) for name in SAMPLING_FIELDS if getattr(args, name) is not None}
    if getattr(args, "stop", None):
        changes["stop"] = tuple(args.stop)
    return changes


def with_sampling_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    """The sampling options as IPython `argument` decorators (for a cell magic's `magic_arguments`)."""
    for item in reversed(SAMPLING_OPTIONS):
        func = argument(*item.names, **item.settings)(func)
    return func
