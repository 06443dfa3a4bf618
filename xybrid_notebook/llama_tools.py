"""llama.cpp's own `llama-server` and `llama-bench`, built from the source the installed llama-cpp-python vendors.

The same llama.cpp as the in-process engine, so a serial run, a batching server and
llama-bench differ only in how they drive it. The sdist of the installed
llama-cpp-python is fetched once with `pip download`, and only the asked-for target is
built with cmake (`-DGGML_NATIVE=ON`, the CPU flags a source install of
llama-cpp-python gets, `-j` = the CPU count). Builds stay in
`<cache>/llama.cpp/<llama-cpp-python version>/`; the binaries find their shared
libraries there. `$XYBRID_LLAMA_SERVER` / `$XYBRID_LLAMA_BENCH` point at prebuilt ones.

    python -m xybrid_notebook.llama_tools build [llama-server|llama-bench]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from xybrid_notebook.models import cache_dir

TARGETS = ("llama-server", "llama-bench")
_ENV_OVERRIDE = {"llama-server": "XYBRID_LLAMA_SERVER", "llama-bench": "XYBRID_LLAMA_BENCH"}


def build_root() -> Path:
    """Where the sdist and the build folder of the installed llama-cpp-python's llama.cpp live."""
    return cache_dir() / "llama.cpp" / version("llama_cpp_python")


def cached_binary(target: str) -> Path:
    """The path a built `target` has (it may not exist yet)."""
    return build_root() / "build" / "bin" / target


def _vendored_source(root: Path) -> Path:
    found = sorted((root / "sdist").glob("llama_cpp_python-*/vendor/llama.cpp"))
    if found:
        return found[0]
    with tempfile.TemporaryDirectory() as tmp:
        spec = f"llama-cpp-python=={version('llama_cpp_python')}"
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", spec, "-d", tmp],
            check=True,
        )
        sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        with tarfile.open(sdist) as archive:
            archive.extractall(root / "sdist", filter="data")
    return next((root / "sdist").glob("llama_cpp_python-*/vendor/llama.cpp"))


def build(target: str, log_to: int | None = None) -> Path:
    """Build `target` from the vendored source into the cache (minutes the first time) and return its path."""
    if target not in TARGETS:
        raise ValueError(f"unknown llama.cpp target {target!r}; known: {', '.join(TARGETS)}")
    root = build_root()
    root.mkdir(parents=True, exist_ok=True)
    source = _vendored_source(root)
    build_dir = root / "build"
    configure = [
        "cmake",
        "-S",
        str(source),
        "-B",
        str(build_dir),
        "-DGGML_NATIVE=ON",
        "-DCMAKE_BUILD_TYPE=Release",
        "-DLLAMA_CURL=OFF",
        "-DLLAMA_OPENSSL=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_SERVER=ON",
    ]
    subprocess.run(configure, check=True, stdout=log_to, stderr=log_to)
    jobs = str(os.cpu_count() or 2)
    subprocess.run(
        ["cmake", "--build", str(build_dir), "--target", target, "-j", jobs], check=True, stdout=log_to, stderr=log_to
    )
    return cached_binary(target)


def find(target: str) -> Path:
    """`target`'s binary: the environment override, else the cached build, else a fresh build (minutes)."""
    given = os.environ.get(_ENV_OVERRIDE[target])
    if given:
        return Path(given)
    cached = cached_binary(target)
    if cached.exists():
        return cached
    print(f"Building {target} from llama-cpp-python's vendored llama.cpp (once; a few minutes)…", file=sys.stderr)
    return build(target, log_to=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> None:
    """`build [TARGET...]`: build (or find) each target and print its path and the time it took."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "build":
        raise SystemExit("usage: python -m xybrid_notebook.llama_tools build [llama-server|llama-bench]...")
    for target in args[1:] or ["llama-server"]:
        started = time.monotonic()
        path = find(target)
        print(f"{target}: {path} ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
