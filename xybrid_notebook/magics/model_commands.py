"""`%xybrid help`, `load`, `unload`, `status`, `backends`, `models` and `route`: what is loaded, and where runs go."""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from ..backends import available_backends, engine_log
from ..chat_format import fallback_name
from ..format import fmt_mib
from ..models import CATALOG, DEFAULT_CHAT_MODEL, DEFAULT_MODEL, DEFAULT_RAW_MODEL, CatalogEntry
from ..servers import served
from ..session import DEFAULT_BACKEND
from ..widgets.tables import Table, key_value_table
from .registry import Context, find, listing, option, subcommand

GENERATE_SUMMARY = "stream the model's answer to the cell body, with live latency (%%generate? for options)"
MODELS_HEADER = [
    "name",
    "architecture",
    "parameters",
    "quantization",
    "file size",
    "chat template",
    "backends",
    "default for",
    "file",
]


def help_text() -> str:
    """Every subcommand with its one-line summary, and `%%generate`."""
    return listing([("%%generate", GENERATE_SUMMARY)])


@subcommand(
    "help",
    "list the subcommands, or show one's options",
    option("subcommand", nargs="?", default=None, help="the subcommand to explain"),
)
def show_help(context: Context, args: Namespace) -> None:
    print(help_text() if args.subcommand is None else find(args.subcommand).usage())


@subcommand(
    "load",
    "load a model (catalog name, .gguf file or folder) on a backend, or a server's model",
    option("model", nargs="?", default=None, help=f"catalog name, .gguf path, or folder (default: {DEFAULT_MODEL})"),
    option("--backend", default=DEFAULT_BACKEND, help="llama-cpp, mistralrs, or remote (see %%xybrid backends)"),
    option("--ctx", type=int, default=4096, help="context length in tokens"),
    option("--threads", type=int, default=None, help="CPU threads (default: every core)"),
    option("--gpu-layers", type=int, default=0, help="layers to offload to a GPU"),
    option("--url", default=None, help="remote only: the server's base URL, e.g. http://127.0.0.1:8000/v1"),
    option("--api-key-env", default=None, help="remote only: the environment variable holding the API key"),
    option("--timeout", type=float, default=30.0, help="remote only: seconds to wait for the first byte"),
)
def load(context: Context, args: Namespace) -> None:
    session = context.session
    entry = CATALOG.get(args.model or DEFAULT_MODEL)
    if entry is not None and not entry.is_cached():
        print(
            f"First use of {entry.name}: writing it from the {entry.package} package into "
            f"{entry.cached_path().parent} (once)…",
            flush=True,
        )
    print(f"Loading {args.model or 'the default model'} on {args.backend}…", flush=True)
    try:
        summary = session.load(
            args.model,
            args.backend,
            args.ctx,
            args.threads,
            args.gpu_layers,
            url=args.url,
            api_key_env=args.api_key_env,
            timeout_s=args.timeout,
        )
    except KeyboardInterrupt:
        kept = session.backend.model_id() if session.backend else "nothing"
        print(f"Load cancelled; {kept} stays loaded.")
        return
    print(summary.line())


@subcommand("unload", "free the local model and forget the server")
def unload(context: Context, args: Namespace) -> None:
    print("Model unloaded." if context.session.unload() else "Nothing was loaded.")


@subcommand(
    "status",
    "what is loaded, with what turned off on this machine, and the defaults",
    option("--log", action="store_true", help="also show the engines' own log (kept out of the cells)"),
)
def status(context: Context, args: Namespace) -> Table:
    if args.log:
        lines = engine_log.tail(200)
        print("\n".join(lines) if lines else "The engines have logged nothing yet.")
    shown = context.session.status()
    shown["memory"] = fmt_mib(shown.pop("memory_bytes"))
    defaults = shown.pop("defaults")
    shown.update({f"default {k}": v for k, v in defaults.items()})
    for server in served():
        shown[f"server :{server.port}"] = server.line()
    return key_value_table(shown, "xybrid status")


@subcommand("backends", "which backends work here, and how to install the others")
def backends(context: Context, args: Namespace) -> Table:
    rows = [[name, "usable" if reason is None else reason] for name, reason in available_backends().items()]
    return Table(["backend", "status"], rows)


def catalog_row(entry: CatalogEntry) -> list[Any]:
    """One row of `%xybrid models`: what the model is, which backends load it, where its file is."""
    uses = (("%xybrid load, chat", DEFAULT_CHAT_MODEL), ("CLI raw runs", DEFAULT_RAW_MODEL))
    roles = [role for role, name in uses if name == entry.name]
    where = entry.cached_path() if entry.is_cached() else f"not yet written (pip: {entry.package})"
    return [
        entry.name,
        entry.architecture,
        entry.parameters,
        entry.quantization,
        f"{entry.file_size_mb} MB",
        "yes (in the file)" if entry.chat_template else f"no (built-in {fallback_name(entry.architecture)} fallback)",
        ", ".join(entry.backends),
        ", ".join(roles) or "–",
        where,
    ]


@subcommand("models", "the model catalog: architecture, size, template, backends")
def models(context: Context, args: Namespace) -> Table:
    return Table(MODELS_HEADER, [catalog_row(entry) for entry in CATALOG.values()])


@subcommand(
    "route",
    "where runs go: local, remote, or auto (xybrid's policy)",
    option("route", nargs="?", default=None, choices=("local", "remote", "auto"), help="the new route"),
)
def route(context: Context, args: Namespace) -> None:
    if args.route is not None:
        context.session.set_route(args.route)
    print(
        f"route: {context.session.route} (local: run here; remote: the server; "
        "auto: here when a local model is loaded and the prompt fits, else remote, "
        "and a local failure falls back to remote once)"
    )
