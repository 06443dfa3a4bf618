"""`%xybrid config`, `history`, `export` and `chat`: the generation defaults, the runs so far, the conversation."""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from ..export import export_history, history_frame
from ..widgets.tables import Table, history_table, key_value_table
from .registry import Context, option, subcommand
from .sampling import SAMPLING_OPTIONS, sampling_settings


@subcommand(
    "config",
    "show or change the generation defaults",
    *SAMPLING_OPTIONS,
    option("--system", default=None, help="system prompt ('' clears it)"),
)
def config(context: Context, args: Namespace) -> Table:
    session = context.session
    changes: dict[str, Any] = sampling_settings(args)
    if args.system is not None:
        changes["system"] = args.system
    settings = session.configure(**changes) if changes else session.defaults
    shown = {**vars(settings), "stop": list(settings.stop), "system": session.system_prompt}
    return key_value_table(shown, "generation defaults" + (" (updated)" if changes else ""))


@subcommand(
    "history",
    "a table of every run of the session (--df: a pandas DataFrame)",
    option("--clear", action="store_true", help="forget every recorded run"),
    option("--df", action="store_true", help="return the runs as a pandas DataFrame (assignable)"),
)
def history(context: Context, args: Namespace) -> Any:
    session = context.session
    if args.clear:
        print(f"Forgot {session.clear_history()} run(s).")
        return None
    for number, load_test in enumerate(session.load_tests, 1):
        print(f"Load test {number}: {load_test.title()} (xn.current_session().load_tests[{number - 1}])")
    return history_frame(session.history) if args.df else history_table(session.history)


@subcommand(
    "export",
    "write the history to .json (every figure, per-chunk timings) or .csv (a row per run)",
    option("path", help="a .json or .csv file"),
    option("--force", action="store_true", help="overwrite an existing file"),
)
def export(context: Context, args: Namespace) -> None:
    records = context.session.history
    path = export_history(records, args.path, force=args.force)
    print(f"Wrote {len(records)} run(s) to {path}")


@subcommand(
    "chat",
    "show the kept conversation and its system prompt, or clear both",
    option("--reset", action="store_true", help="forget the conversation"),
)
def chat(context: Context, args: Namespace) -> None:
    session = context.session
    if args.reset:
        print(f"Conversation cleared ({session.reset_chat() // 2} turn(s)).")
        return
    system = session.conversation_system()
    shown = "(none)" if system is None else repr(system)
    print(
        f"{len(session.conversation) // 2} turn(s) kept; system prompt: {shown}; "
        "%%generate --chat continues, %xybrid chat --reset clears."
    )
