"""Our sweep's pp/tg against llama.cpp's own llama-bench, built from the source llama-cpp-python vendors.

    python -m benchmarks.llama_bench [--model NAME] [--threads 1,2] [--n-prompt 512] [--n-gen 128]
                                     [--reps 5] [--rounds 2]

llama-bench is found at `$XYBRID_LLAMA_BENCH`, else in the cache
(`~/.cache/xybrid_notebook/llama-bench/<version>/`), else built there: the
llama-cpp-python sdist of the installed version is fetched with `pip download`
and only the `llama-bench` target is built with cmake, `-DGGML_NATIVE=ON` (the
same CPU flags a source install of llama-cpp-python gets), `-j2`; it takes
minutes. For each thread count the two alternate, round by round (llama-bench
then ours, with the same repetitions and one warm-up), and the table prints
both means and our/theirs. Agreement target: within 5 %.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xybrid_notebook import resolve_model, sweep
from xybrid_notebook.backends.llama_cpp_bench import probed_settings
from xybrid_notebook.models import cache_dir


def _build_root() -> Path:
    return cache_dir() / "llama-bench" / version("llama_cpp_python")


def _cached_binary() -> Path:
    return _build_root() / "build" / "bin" / "llama-bench"


def build_llama_bench() -> Path:
    """Fetch the sdist of the installed llama-cpp-python and build its vendored llama-bench (minutes).

    The build folder stays in the cache: the binary finds its shared libraries there.
    """
    root = _build_root()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        spec = f"llama-cpp-python=={version('llama_cpp_python')}"
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", spec, "-d", tmp],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        with tarfile.open(sdist) as archive:
            archive.extractall(root / "sdist", filter="data")
    source = next((root / "sdist").glob("llama_cpp_python-*/vendor/llama.cpp"))
    build = root / "build"
    subprocess.run(
        [
            "cmake",
            "-S",
            str(source),
            "-B",
            str(build),
            "-DGGML_NATIVE=ON",
            "-DCMAKE_BUILD_TYPE=Release",
            "-DLLAMA_CURL=OFF",
            "-DLLAMA_BUILD_TESTS=OFF",
            "-DLLAMA_BUILD_SERVER=OFF",
        ],
        check=True,
    )
    subprocess.run(["cmake", "--build", str(build), "--target", "llama-bench", "-j2"], check=True)
    return _cached_binary()


def find_llama_bench() -> Path:
    """`$XYBRID_LLAMA_BENCH`, else the cached build, else a fresh build."""
    given = os.environ.get("XYBRID_LLAMA_BENCH")
    if given:
        return Path(given)
    cached = _cached_binary()
    return cached if cached.exists() else build_llama_bench()


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
    binary, model = find_llama_bench(), resolve_model(model_name)
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
