"""`%xybrid serve` and `%xybrid loadtest`: a batching server on loopback, and load tests against any server, live."""

from __future__ import annotations

from argparse import Namespace
from typing import Any, Optional

from ..api import load_test
from ..servers import DEFAULT_PARALLEL, serve, stop_served
from ..widgets import widgets_wanted
from .registry import Context, check_out_name, option, subcommand

LOAD_OUTPUT_NAME = "_xybrid_load"
WORKER_COMMAND = "python -m xybrid_notebook.load worker --master HOST:PORT"


@subcommand(
    "serve",
    "start llama.cpp's llama-server (continuous batching) on loopback; --stop stops it",
    option("model", nargs="?", default=None, help="catalog name or .gguf path (default: the default model)"),
    option("--parallel", "-np", type=int, default=DEFAULT_PARALLEL, help="slots served at once (default 4)"),
    option("--ctx", type=int, default=None, help="context size shared by the slots (default 1024 per slot)"),
    option("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)"),
    option("--threads", "-t", type=int, default=None, help="llama.cpp threads (default: every core)"),
    option("--serial", action="store_true", help="llama-cpp-python's server instead: one request at a time"),
    option("--stop", action="store_true", help="stop the server on --port, or every server started here"),
)
def serve_command(context: Context, args: Namespace) -> None:
    if args.stop:
        stopped = stop_served(args.port)
        print("\n".join(f"Stopped {s.line()}" for s in stopped) if stopped else "No server was running.")
        return
    print("Starting the server…", flush=True)
    server = serve(
        args.model, parallel=args.parallel, ctx=args.ctx, port=args.port, threads=args.threads, serial=args.serial
    )
    for note in server.notes:
        print(f"Note: {note}")
    print(f"{server.line()}\nLoad it with: %xybrid load {server.model_id} --backend remote --url {server.url}")


@subcommand(
    "loadtest",
    "latency under load on Locust: levels of concurrency (closed loop) or request rate (open loop), live",
    option("url", nargs="?", default=None, help="OpenAI-compatible base URL (default: the server started here)"),
    option("--concurrency", "-c", default=None, help="closed-loop levels, e.g. 1,2,4,8"),
    option("--rate", default=None, help="open-loop levels in requests/s (Poisson arrivals), e.g. 0.5,1,2"),
    option("--max-in-flight", type=int, default=32, help="cap on requests in flight at a rate level (default 32)"),
    option("--duration", type=float, default=None, help="seconds per level (instead of a request count)"),
    option("--requests", "-n", type=int, default=None, help="measured requests per level (default 4 per user, ≥ 8)"),
    option("--warmup", type=int, default=None, help="unmeasured first requests per level (default: one per user)"),
    option("--prompt-tokens", default="128", help="prompt tokens per request: 128, or a range 96-160"),
    option("--output-tokens", default="64", help="output tokens per request: 64, or a range 32-96"),
    option("--shared-prefix", type=int, default=0, help="tokens every prompt shares at its start (prefix cache)"),
    option("--api", default="chat", help="chat (default) or completions"),
    option("--model", default=None, help="model id to send (default: the server's first)"),
    option(
        "--slo", default=None, help="goodput bounds, e.g. ttft=500ms,itl_p99=80ms (keys: ttft tt2t itl_p99 tpot e2e)"
    ),
    option("--workers", type=int, default=0, help="local Locust worker processes (default 0: one process)"),
    option("--master-bind", default=None, help=f"HOST:PORT to wait for workers started elsewhere: {WORKER_COMMAND}"),
    option("--seed", type=int, default=None, help="prompt seed (default: a new one per test: no cache carry-over)"),
    option(
        "--api-key-env",
        default=None,
        help="environment variable holding the API key (sent as Authorization: Bearer; never shown or stored)",
    ),
    option("--text", action="store_true", help="a text progress line instead of widgets"),
    option("-o", "--out", default=None, help="also store the result in this variable"),
)
def loadtest_command(context: Context, args: Namespace) -> Any:
    check_out_name(args.out)
    live: Optional[bool] = widgets_wanted(context.shell, args.text)
    result = load_test(
        args.url,
        live=live,
        concurrency=args.concurrency,
        rate=args.rate,
        max_in_flight=args.max_in_flight,
        duration_s=args.duration,
        requests=args.requests,
        warmup=args.warmup,
        prompt_tokens=args.prompt_tokens,
        output_tokens=args.output_tokens,
        shared_prefix=args.shared_prefix,
        api=args.api,
        model=args.model,
        slo=args.slo,
        workers=args.workers,
        master_bind=args.master_bind,
        seed=args.seed,
        **({"api_key_env": args.api_key_env} if args.api_key_env else {}),
    )
    context.keep(result, LOAD_OUTPUT_NAME, args.out)
    return None if live else result


__all__ = ["loadtest_command", "serve_command"]
