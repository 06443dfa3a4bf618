"""`%%generate`: its options, and the call to `api.generate` that streams the cell body's answer."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable
from typing import Any, Optional

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument

from ..api import generate
from ..types import GenerationOutput
from ..widgets import widgets_wanted
from .registry import Context, check_out_name
from .sampling import sampling_settings, with_sampling_arguments

LAST_OUTPUT_NAME = "_xybrid_last"


def generate_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    """`%%generate`'s options as IPython `argument` decorators, so `%%generate?` shows them."""
    decorators: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        with_sampling_arguments,
        argument("--system", default=None, help="system prompt for this cell (with --chat: for the conversation)"),
        argument("--raw", action="store_true", help="send the body as a raw prompt, no chat template"),
        argument("--chat", action="store_true", help="continue the session's conversation"),
        argument("--stop", nargs="+", default=None, help="stop sequences"),
        argument("--no-plot", action="store_true", help="no latency chart"),
        argument("--compare-last", action="store_true", help="overlay the previous run in grey"),
        argument(
            "--color-gaps",
            action="store_true",
            help="shade each chunk of the text by the gap before it (p50 neutral, p95 strongest)",
        ),
        argument(
            "--breakdown",
            action="store_true",
            help="draw each gap as a bar stacked by phase (decode, sample, text, client...), stalls marked",
        ),
        argument("--text", action="store_true", help="plain-text output instead of widgets"),
        argument("-o", "--out", default=None, help="also store the GenerationOutput in this variable"),
    ]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


def run_generate(context: Context, args: Namespace, cell: str) -> Optional[GenerationOutput]:
    """Check the cell and the options (one line each), stream the run, keep its output in the namespace."""
    if not cell or not cell.strip():
        raise UsageError("the cell is empty: write the prompt in the cell body, below %%generate")
    if args.raw and args.chat:
        raise UsageError("--raw and --chat exclude each other: pick one")
    check_out_name(args.out)
    try:
        output = generate(
            cell.strip("\n"),
            live=widgets_wanted(context.shell, args.text),
            mode="raw" if args.raw else "chat" if args.chat else "single",
            system=args.system,
            plot=not args.no_plot,
            compare_last=args.compare_last,
            color_gaps=args.color_gaps,
            breakdown=args.breakdown,
            session=context.session,
            **sampling_settings(args),
        )
    except KeyboardInterrupt:
        print("Cancelled before the generation started.")
        return None
    context.keep(output, LAST_OUTPUT_NAME, args.out)
    return None
