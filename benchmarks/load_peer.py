"""Our load test's figures against an independent peer, NVIDIA AIPerf 0.13, on the same llama-server.

    python -m benchmarks.load_peer [--rounds 3] [--requests 16] [--model NAME] [--seed N] [--aiperf-rate 20]

AIPerf (`aiperf==0.13.0`) lives in a venv of its own, made once and reused:
`~/.cache/xybrid_notebook/peers/aiperf-0.13.0/` (about 2 minutes and 1.2 GB, no torch;
never in our venv). A `.installed` marker is written last, so a half-made venv is made
again. If it cannot be installed, one line says why and the script exits 0.

AIPerf needs a Hugging Face tokenizer. It is made from the model's GGUF, once, into
`~/.cache/xybrid_notebook/peers/tokenizers/<gguf name>/`: `AutoTokenizer.from_pretrained(...,
gguf_file=...)` imports torch (transformers' GGUF reader does), so the metadata is read with
`gguf` and handed to the builder transformers itself uses for GGUF tokenizers. AIPerf runs
with `HF_HUB_OFFLINE` unset (set, it looks only in the hub cache) and `TMPDIR` in a temporary
folder (it leaves its dataset files there).

One llama-server (4 slots) serves both. For concurrency 1 and 4, each round runs ours and
AIPerf (who goes first alternates), every run with a new prompt seed, since the server's
prompt cache outlives a run: 128 prompt tokens, 64 output tokens with `ignore_eos`, streaming
chat, `--requests` measured requests after one warm-up request per user. AIPerf is paced
(`--request-rate 20 --arrival-pattern constant` with `--concurrency N`): in plain concurrency
mode its timing process busy-waits on most of a core, which inflates TTFT on a small machine.
It counts tokens by the server's usage (`--use-server-token-count`), as we do.

The pacing changes the arrivals at c=4. AIPerf sends at most one request per tick (50 ms at
20 req/s), so a freed slot waits for the next tick and the four requests of a wave arrive
50 ms apart: llama-server prefills the first alone (a short TTFT) and the other three as one
batch. Our closed loop sends the four together, prefilled as one batch of four. One AIPerf
request in four thus has a short TTFT, which pulls its TTFT p50 at c=4 below ours, the more
so the fewer the requests; this is the arrivals, not the measurement (the server log shows
the batches). `--aiperf-rate 1000` makes AIPerf send a wave together too, but its timing loop
then wakes every millisecond, roughly 0.3 of a core, which a 2-core machine takes from the
server.

The table gives the medians over rounds. Definitions: TTFT is the first content chunk on
both sides; output tok/s is output tokens over first send to last end on both sides. ITL
differs: AIPerf's console ITL is a per-request average, (e2e - TTFT) / (tokens - 1), whose
p50 is over requests (that is our TPOT); our ITL is every gap between chunks (AIPerf's
inter-chunk latency). A row gives the server's own decode ms/token over each run (llama-server's
/metrics counters): where it differs between the two runs, the server ran at a different speed
(on a small machine, other processes), and the client figures follow it. Agreement target:
TTFT p50 and output tok/s within 10 %.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xybrid_notebook.load import load_test
from xybrid_notebook.loopback import stop_group
from xybrid_notebook.models import cache_dir, resolve_model
from xybrid_notebook.servers import ServedModel, serve, stop_served

AIPERF_VERSION = "0.13.0"
#: What the peer venv gets: AIPerf, and the transformers and gguf the tokenizer is built with (the versions tested).
PEER_PACKAGES = (f"aiperf=={AIPERF_VERSION}", "transformers==5.24.0", "gguf==0.19.0")
CONCURRENCY = (1, 4)
PROMPT_TOKENS, OUTPUT_TOKENS = 128, 64
#: AIPerf's pacing (requests/s): its timing loop sleeps between sends instead of spinning on a full concurrency.
AIPERF_RATE = 20.0
AGREEMENT = 0.10
RUN_TIMEOUT_S = 1800.0
#: (label, our figure, AIPerf's figure, held to the 10 % target).
FIGURES = (
    ("TTFT p50 (ms)", "ttft", "ttft", True),
    ("output tok/s", "tps", "tps", True),
    ("ITL p50 (ms): ours every gap, AIPerf's console ITL per-request mean", "itl_gap", "itl_request", False),
    ("ITL p50 (ms), per-request mean on both (ours: TPOT)", "itl_request", "itl_request", False),
    ("ITL p50 (ms), every gap on both (AIPerf: inter-chunk latency)", "itl_gap", "itl_gap", False),
    ("the server's own decode ms/token during the run (its /metrics)", "server_decode", "server_decode", False),
    ("prompt tokens per request (server's count)", "prompt_tokens", "prompt_tokens", False),
    ("output tokens per request (server's count)", "output_tokens", "output_tokens", False),
)

# Run by the peer venv's Python: GGUF metadata (read with `gguf`, no torch) -> transformers' GGUF tokenizer builder.
_TOKENIZER_SCRIPT = """
import sys
from gguf import GGUFReader
from transformers import PreTrainedTokenizerFast
from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_TOKENIZER_MAPPING, convert_gguf_tokenizer

gguf_path, out = sys.argv[1], sys.argv[2]
wanted = ("tokenizer.", "general.architecture")
meta = {key: field.contents() for key, field in GGUFReader(gguf_path).fields.items() if key.startswith(wanted)}
groups = {
    group: {name: meta[f"tokenizer.{key}"] for key, name in renames.items() if f"tokenizer.{key}" in meta}
    for group, renames in GGUF_TOKENIZER_MAPPING.items()
}
tokens = meta["tokenizer.ggml.tokens"]
special = {"bos_token": "bos", "eos_token": "eos", "unk_token": "unknown", "pad_token": "padding"}
ids = {name: meta.get(f"tokenizer.ggml.{key}_token_id") for name, key in special.items()}
backend, _ = convert_gguf_tokenizer(meta["general.architecture"], groups["tokenizer"])
config = {**groups["tokenizer_config"], **{name: tokens[i] for name, i in ids.items() if i is not None}}
PreTrainedTokenizerFast(tokenizer_object=backend, **config).save_pretrained(out)
"""


class PeerUnavailable(RuntimeError):
    """AIPerf could not be installed (the message says why, in one line)."""


def peer_root() -> Path:
    """The venv AIPerf lives in."""
    return cache_dir() / "peers" / f"aiperf-{AIPERF_VERSION}"


def _peer_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("HF_HUB_OFFLINE", None)
    return env


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("WARNING: Location")]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["no output"])[-1].strip()


def ensure_aiperf() -> Path:
    """The `aiperf` executable of the peer venv, installed first if missing (about 2 minutes)."""
    root = peer_root()
    aiperf = root / "bin" / "aiperf"
    if (root / ".installed").exists() and aiperf.exists():
        return aiperf
    if root.exists():
        shutil.rmtree(root)
    python = shutil.which("python3.11") or sys.executable
    print(f"installing AIPerf {AIPERF_VERSION} into {root} (once; about 2 minutes, 1.2 GB)…", flush=True)
    started = time.perf_counter()
    steps = ([python, "-m", "venv", str(root)], [str(root / "bin" / "pip"), "install", "-q", *PEER_PACKAGES])
    for argv in steps:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PeerUnavailable(f"{shlex.join(argv[:3])} failed: {exc}") from exc
        if done.returncode != 0:
            raise PeerUnavailable(f"{shlex.join(argv[:3])} failed: {_last_line(done.stderr + done.stdout)}")
    (root / ".installed").write_text(" ".join(PEER_PACKAGES) + "\n")
    size = subprocess.run(["du", "-sh", str(root)], capture_output=True, text=True).stdout.split("\t")[0]
    print(f"  installed in {time.perf_counter() - started:.0f} s, {size}", flush=True)
    return aiperf


def gguf_tokenizer(aiperf: Path, gguf: Path) -> Path:
    """A Hugging Face tokenizer folder made from the GGUF's metadata (once; cached under peers/tokenizers)."""
    out = peer_root().parent / "tokenizers" / gguf.stem
    if (out / "tokenizer.json").exists():
        return out
    python = aiperf.parent / "python"
    env = {**_peer_env(), "TRANSFORMERS_VERBOSITY": "error"}  # no "PyTorch was not found" notice
    subprocess.run([str(python), "-c", _TOKENIZER_SCRIPT, str(gguf), str(out)], check=True, env=env)
    print(f"tokenizer for AIPerf made from {gguf.name}: {out}", flush=True)
    return out


def model_id(url: str) -> str:
    """The id the server lists first under /v1/models (llama-server: its --alias)."""
    with urllib.request.urlopen(f"{url}/models", timeout=10) as response:
        return str(json.load(response)["data"][0]["id"])


def _decode_counters(url: str) -> tuple[float, float]:
    """llama-server's decode seconds and predicted tokens so far (its Prometheus /metrics)."""
    with urllib.request.urlopen(f"{url.removesuffix('/v1')}/metrics", timeout=10) as response:
        lines = response.read().decode().splitlines()
    values = {name: value for name, value, *_ in (line.split() for line in lines if line and not line.startswith("#"))}
    return float(values["llamacpp:tokens_predicted_seconds_total"]), float(values["llamacpp:tokens_predicted_total"])


def with_server_decode(url: str, run: Callable[[], dict[str, float]]) -> dict[str, float]:
    """`run()`'s figures plus the server's own ms per decoded token over the run (warm-up included)."""
    seconds, tokens = _decode_counters(url)
    figures = run()
    seconds_after, tokens_after = _decode_counters(url)
    decoded = tokens_after - tokens
    figures["server_decode"] = 1000.0 * (seconds_after - seconds) / decoded if decoded else float("nan")
    return figures


def run_ours(server: ServedModel, concurrency: int, requests: int, seed: int) -> dict[str, float]:
    """Our load test, one level: the figures the table compares."""
    row = (
        load_test(
            server.url,
            concurrency=[concurrency],
            requests=requests,
            prompt_tokens=PROMPT_TOKENS,
            output_tokens=OUTPUT_TOKENS,
            seed=seed,
            server_pid=server.pid,
        )
        .to_pandas()
        .iloc[0]
    )
    if row["errors"]:
        raise RuntimeError(
            f"our load test at c={concurrency}: {row['errors']} failed requests ({row['errors_by_kind']})"
        )
    return {
        "ttft": float(row["ttft_p50_ms"]),
        "tps": float(row["output_tps"]),
        "itl_gap": float(row["itl_p50_ms"]),
        "itl_request": float(row["tpot_p50_ms"]),
        "prompt_tokens": float(row["prompt_tokens_mean"]),
        "output_tokens": float(row["output_tokens_mean"]),
        "other_cores": float(row["other_cores"]) if row["other_cores"] is not None else float("nan"),
    }


def aiperf_command(
    aiperf: Path,
    url: str,
    model: str,
    tokenizer: Path,
    concurrency: int,
    requests: int,
    seed: int,
    out: Path,
    rate: float = AIPERF_RATE,
) -> list[str]:
    """`aiperf profile` for one level: one warm-up request per user, then `requests` measured, all prompts distinct."""
    return [
        str(aiperf),
        "profile",
        "--model",
        model,
        "--url",
        url.removesuffix("/v1"),
        "--endpoint-type",
        "chat",
        "--streaming",
        "--tokenizer",
        str(tokenizer),
        "--synthetic-input-tokens-mean",
        str(PROMPT_TOKENS),
        "--synthetic-input-tokens-stddev",
        "0",
        "--output-tokens-mean",
        str(OUTPUT_TOKENS),
        "--output-tokens-stddev",
        "0",
        "--extra-inputs",
        "ignore_eos:true",
        "--use-server-token-count",
        "--concurrency",
        str(concurrency),
        "--request-rate",
        f"{rate:g}",
        "--arrival-pattern",
        "constant",
        "--warmup-request-count",
        str(concurrency),
        "--request-count",
        str(requests),
        # Warm-up takes the first entries; with as many entries as requests, one measured prompt would repeat.
        "--num-dataset-entries",
        str(requests + concurrency),
        "--random-seed",
        str(seed),
        "--artifact-dir",
        str(out),
        "--export-level",
        "summary",
        "--ui-type",
        "none",
        "--no-server-metrics",
        "--no-gpu-telemetry",
    ]


def _run_group(argv: list[str], env: dict[str, str], log: Path) -> int:
    """Run `argv` in a process group of its own, wait, then stop what is left of the group (AIPerf spawns services)."""
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            return process.wait(RUN_TIMEOUT_S)
        finally:
            stop_group(process, grace_s=5.0)


def run_aiperf(argv: list[str], out: Path, requests: int) -> dict[str, float]:
    """Run one `aiperf profile` (argv writes into `out`) and read the figures from its JSON export."""
    env = {**_peer_env(), "TMPDIR": str(out.parent)}
    log = out.parent / "aiperf.log"
    code = _run_group(argv, env, log)
    export = out / "profile_export_aiperf.json"
    if code != 0 or not export.exists():
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise RuntimeError(f"aiperf exited with {code}; the end of its output:\n" + "\n".join(tail))
    data = json.loads(export.read_text())
    done = int(data["request_count"]["avg"])
    errors = sum(int(e.get("count", 1)) for e in data.get("error_summary") or [])
    if done + errors != requests or done < requests // 2:
        raise RuntimeError(f"aiperf: {done} of {requests} requests, errors {data.get('error_summary')}")
    if errors:
        # AIPerf (aiohttp) reuses the connection llama-server closes after each stream; its failed requests are
        # left out of its figures, so the comparison stands, and the count is shown.
        print(
            f"    AIPerf: {errors} request(s) failed: {data['error_summary'][0]['error_details']['cause']}", flush=True
        )
    return {
        "peer_errors": errors,
        "ttft": data["time_to_first_token"]["p50"],
        "tps": data["output_token_throughput"]["avg"],
        "itl_gap": data["inter_chunk_latency"]["p50"],
        "itl_request": data["inter_token_latency"]["p50"],
        "prompt_tokens": data["usage_prompt_tokens"]["avg"],
        "output_tokens": data["output_sequence_length"]["avg"],
    }


def compare(
    rounds: int, requests: int, model: str, seeds: Iterator[int], rate: float = AIPERF_RATE
) -> list[dict[str, Any]]:
    """Start the server, alternate ours and AIPerf `rounds` times per concurrency, stop it; medians of the rounds."""
    aiperf = ensure_aiperf()
    tokenizer = gguf_tokenizer(aiperf, resolve_model(model))
    server = serve(model, parallel=4)
    rows = []
    try:
        print(server.line(), flush=True)
        name = model_id(server.url)
        for concurrency in CONCURRENCY:
            ours: list[dict[str, float]] = []
            theirs: list[dict[str, float]] = []
            for round_index in range(rounds):
                with tempfile.TemporaryDirectory(prefix="xybrid-aiperf-") as tmp:
                    out = Path(tmp) / "artifacts"
                    seed = next(seeds)
                    argv = aiperf_command(aiperf, server.url, name, tokenizer, concurrency, requests, seed, out, rate)
                    if round_index == 0:
                        print(f"c={concurrency}: {shlex.join(argv)}", flush=True)
                    runs = [
                        (ours, partial(run_ours, server, concurrency, requests, next(seeds))),
                        (theirs, partial(run_aiperf, argv, out, requests)),
                    ]
                    for side, run in runs[:: 1 if round_index % 2 == 0 else -1]:
                        side.append(with_server_decode(server.url, run))
                print(
                    f"  round {round_index + 1}/{rounds}: ours {_brief(ours[-1])}; AIPerf {_brief(theirs[-1])}\n"
                    f"    other processes used {ours[-1]['other_cores']:.2f} cores during ours; "
                    f"load average {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
            rows += [_row(concurrency, figure, ours, theirs) for figure in FIGURES]
    finally:
        stop_served(server.port)
    return rows


def _brief(figures: dict[str, float]) -> str:
    return (
        f"TTFT p50 {figures['ttft']:.0f} ms, {figures['tps']:.1f} tok/s, "
        f"ITL p50 {figures['itl_gap']:.1f} ms (gaps) / {figures['itl_request']:.1f} ms (per request), "
        f"server {figures['server_decode']:.1f} ms/token"
    )


def _row(
    concurrency: int, figure: tuple[str, str, str, bool], ours: list[dict[str, float]], theirs: list[dict[str, float]]
) -> dict[str, Any]:
    label, our_key, their_key, target = figure
    a, b = statistics.median(r[our_key] for r in ours), statistics.median(r[their_key] for r in theirs)
    return {
        "concurrency": concurrency,
        "figure": label,
        "ours": a,
        "aiperf": b,
        "ratio": a / b if b else None,
        "target": target,
        "rounds_ours": [r[our_key] for r in ours],
        "rounds_aiperf": [r[their_key] for r in theirs],
    }


def _within(row: dict[str, Any]) -> bool:
    return row["ratio"] is not None and abs(row["ratio"] - 1.0) <= AGREEMENT


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table; targets say yes/NO, the other rows only show whether they happen to be within 10 %."""
    lines = [
        "| concurrency | figure | ours | AIPerf | ours/AIPerf | within 10 % |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for r in rows:
        within = _within(r)
        verdict = ("yes" if within else "NO") if r["target"] else f"({'yes' if within else 'no'}; not a target)"
        ratio = "–" if r["ratio"] is None else f"{r['ratio']:.3f}"
        lines.append(
            f"| {r['concurrency']} | {r['figure']} | {r['ours']:.2f} | {r['aiperf']:.2f} | {ratio} | {verdict} |"
        )
    return "\n".join(lines)


def peer_agreement(
    rounds: int = 3, requests: int = 16, model: str = "smollm2-135m-instruct", rate: float = AIPERF_RATE
) -> dict[str, Any]:
    """`make bench`'s step: the comparison's rows, or why AIPerf was not available."""
    first = time.time_ns() % 2**30
    try:
        return {
            "rounds": rounds,
            "requests": requests,
            "rows": compare(rounds, requests, model, itertools.count(first), rate),
        }
    except PeerUnavailable as exc:
        return {"rounds": rounds, "requests": requests, "rows": [], "unavailable": str(exc)}


def rows(result: dict[str, Any]) -> list[str]:
    """The table and the verdict, as lines."""
    if result.get("unavailable"):
        return [f"AIPerf {AIPERF_VERSION} is not available, nothing compared: {result['unavailable']}"]
    met = all(_within(r) for r in result["rows"] if r["target"])
    return [
        f"Load test against AIPerf {AIPERF_VERSION} on llama-server (4 slots), 128→64 tokens, "
        f"medians of {result['rounds']} rounds of {result['requests']} requests",
        *table(result["rows"]).splitlines(),
        f"TTFT p50 and output tok/s within 10 %: {'met' if met else 'MISSED'}",
    ]


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so the finally blocks stop AIPerf's process group and the server


def main() -> None:
    """Print the comparison, or one line if AIPerf cannot be installed."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=16, help="measured requests per run (after the warm-up)")
    parser.add_argument("--model", default="smollm2-135m-instruct", help="a catalog name or .gguf path")
    parser.add_argument("--seed", type=int, default=None, help="first prompt seed (default: from the clock)")
    parser.add_argument(
        "--aiperf-rate", type=float, default=AIPERF_RATE, help="AIPerf's pacing, requests/s (see the module docstring)"
    )
    args = parser.parse_args()
    first = args.seed if args.seed is not None else time.time_ns() % 2**30
    try:
        rows = compare(args.rounds, args.requests, args.model, itertools.count(first), args.aiperf_rate)
    except PeerUnavailable as exc:
        print(f"load_peer: AIPerf {AIPERF_VERSION} is not available, nothing compared: {exc}")
        return
    print()
    print(table(rows))
    targets = [r for r in rows if r["target"]]
    met = all(_within(r) for r in targets)
    print(
        f"\nTTFT p50 and output tok/s within 10 % of AIPerf at c={', '.join(map(str, CONCURRENCY))} "
        f"(medians of {args.rounds} round(s), {args.requests} requests each): {'met' if met else 'MISSED'}"
    )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
