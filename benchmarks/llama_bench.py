"""Our sweep's pp/tg against llama.cpp's own llama-bench, built from the source llama-cpp-python vendors.

    python -m benchmarks.llama_bench [--model NAME] [--threads 1,2] [--n-prompt 512] [--n-gen 128]
                                     [--reps 5] [--rounds 2]

llama-bench is found at `$XYBRID_LLAMA_BENCH`, else built once from the
llama.cpp that the installed llama-cpp-python vendors (`xybrid_notebook.llama_tools`:
only the `llama-bench` target, `-DGGML_NATIVE=ON`, the same CPU flags a source
install of llama-cpp-python gets; cached beside llama-server). For each thread
count the two alternate, round by round (llama-bench then ours, with the same
repetitions and one warm-up), and the table prints both means and our/theirs. Agreement target: within 5 %.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xybrid_notebook import resolve_model, sweep
from xybrid_notebook.backends.llama_cpp_bench import probed_settings
from xybrid_notebook.llama_tools import find


def run_llama_bench(binary: Path, model: Path, threads: int, n_prompt: int, n_gen: int, reps: int) -> dict[str, float]:
    """llama-bench's mean t/s of its pp and tg tests (its own warm-up included).

    Where the engine probe turned llama.cpp's extra buffer types off (AMX that faults), llama-bench
    runs with `--repack 0` too: its defaults would crash there, and both sides use the same weights.
    """
    settings = probed_settings(model)
    repack = [] if settings.get("use_extra_bufts", True) else ["--repack", "0"]
    done = subprocess.run(
        [
            str(binary),
            "-m",
            str(model),
            "-t",
            str(threads),
            "-p",
            str(n_prompt),
            "-n",
            str(n_gen),
            "-r",
            str(reps),
            "-o",
            "json",
            *repack,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    tests = json.loads(done.stdout)
    return {("pp" if t["n_prompt"] else "tg"): float(t["avg_ts"]) for t in tests}


def run_ours(model: Path, threads: int, n_prompt: int, n_gen: int, reps: int) -> dict[str, float]:
    """Our sweep's pp_tps_mean and tg_tps_mean for the same test."""
    row = (
        sweep(model=str(model), threads=threads, n_prompt=n_prompt, n_gen=n_gen, repetitions=reps, warmup=1)
        .to_pandas()
        .iloc[0]
    )
    return {"pp": float(row["pp_tps_mean"]), "tg": float(row["tg_tps_mean"])}


def compare_with_llama_bench(
    threads: list[int], n_prompt: int, n_gen: int, reps: int, rounds: int, model_name: str | None = None
) -> list[dict[str, Any]]:
    """Alternate llama-bench and our sweep, `rounds` times per thread count; means of the rounds."""
    binary, model = find("llama-bench"), resolve_model(model_name)
    rows = []
    for t in threads:
        theirs: dict[str, list[float]] = {"pp": [], "tg": []}
        ours: dict[str, list[float]] = {"pp": [], "tg": []}
        for _ in range(rounds):
            rounds_figures = (
                (theirs, run_llama_bench(binary, model, t, n_prompt, n_gen, reps)),
                (ours, run_ours(model, t, n_prompt, n_gen, reps)),
            )
            for side, figures in rounds_figures:
                for test in ("pp", "tg"):
                    side[test].append(figures[test])
        for test, size in (("pp", n_prompt), ("tg", n_gen)):
            a, b = statistics.mean(theirs[test]), statistics.mean(ours[test])
            rows.append(
                {
                    "threads": t,
                    "test": f"{test}{size}",
                    "llama_bench_tps": a,
                    "ours_tps": b,
                    "ratio": b / a,
                    "rounds_llama_bench": theirs[test],
                    "rounds_ours": ours[test],
                }
            )
    return rows


def main() -> None:
    """Print both sets of figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--n-prompt", type=int, default=512)
    parser.add_argument("--n-gen", type=int, default=128)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default=None, help="a catalog name or .gguf path (default: the default model)")
    args = parser.parse_args()
    rows = compare_with_llama_bench(
        [int(t) for t in args.threads.split(",")], args.n_prompt, args.n_gen, args.reps, args.rounds, args.model
    )
    print(f"{'threads':>7}  {'test':>6}  {'llama-bench t/s':>15}  {'ours t/s':>9}  {'ours/theirs':>11}")
    for r in rows:
        print(
            f"{r['threads']:>7}  {r['test']:>6}  {r['llama_bench_tps']:>15.2f}  {r['ours_tps']:>9.2f}  "
            f"{r['ratio']:>11.3f}"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
