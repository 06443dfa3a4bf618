"""A loopback stand-in for the Hub serving the catalog's real GGUF bytes, and kernels (child processes) that
reach it through huggingface_hub's real client, each with its own environment (the library reads
`HF_ENDPOINT`, `HF_HUB_OFFLINE` and the cache folders when it is imported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest

from xybrid_notebook.models import cache_dir, resolve_model

from .hub_standin import HubStandIn, Repo, RepoFile

ROOT = Path(__file__).resolve().parents[2]
CHAT_REPO = "xybrid-test/SmolLM2-135M-Instruct-GGUF"
CHAT_FILE = "SmolLM2-135M-Instruct-Q4_1.gguf"
SPLIT_REPO = "xybrid-test/SmolLM2-135M-Instruct-split-GGUF"
SPLIT_FIRST = "SmolLM2-135M-Instruct-Q4_1-00001-of-00002.gguf"
GATED_REPO = "xybrid-test/gated-GGUF"
NO_GGUF_REPO = "xybrid-test/SmolLM2-135M-Instruct"


def write_split(source: Path, target: Path) -> list[Path]:
    """`source` as a two-part split GGUF named after `target` (llama.cpp's `split.*` keys, via gguf-py's writer)."""
    from gguf import GGUFReader, GGUFValueType, GGUFWriter

    reader = GGUFReader(source)
    arch = str(reader.fields["general.architecture"].contents())
    writer = GGUFWriter(target, arch, split_max_tensors=len(reader.tensors) // 2 + 1)
    for field in reader.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        writer.add_key_value(
            field.name, field.contents(), kind, sub_type=field.types[-1] if kind == GGUFValueType.ARRAY else None
        )
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return sorted(target.parent.glob(f"{target.stem}-*-of-*.gguf"))


@pytest.fixture(scope="session")
def chat_gguf() -> Path:
    """The catalog's SmolLM2 file (read in place from its package)."""
    return resolve_model("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def split_files(chat_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The SmolLM2 file split in two."""
    folder = tmp_path_factory.mktemp("split")
    return write_split(chat_gguf, folder / "SmolLM2-135M-Instruct-Q4_1.gguf")


@pytest.fixture(scope="session")
def hub(chat_gguf: Path, split_files: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubStandIn]:
    """The stand-in: a chat model repo, a split repo, a gated repo, a repo without GGUF."""
    extras = tmp_path_factory.mktemp("extras")
    readme = extras / "README.md"
    readme.write_text("---\nlicense: apache-2.0\n---\n")
    other = {name: extras / name for name in ("config.json", "model.safetensors", "tokenizer.json")}
    for path in other.values():
        path.write_text("{}")
    chat_file = RepoFile(chat_gguf)
    stand_in = HubStandIn(
        {
            CHAT_REPO: Repo({CHAT_FILE: chat_file, "README.md": RepoFile(readme)}),
            SPLIT_REPO: Repo({p.name: RepoFile(p) for p in split_files}),
            GATED_REPO: Repo({CHAT_FILE: chat_file}, gated=True),
            NO_GGUF_REPO: Repo({name: RepoFile(path) for name, path in other.items()}),
        }
    )
    yield stand_in
    stand_in.close()


@dataclass
class Machine:
    """A home folder and a Hugging Face cache of their own, and the environment a kernel gets there."""

    home: Path
    hub_url: str
    xybrid_cache: Path

    @property
    def hub_cache(self) -> Path:
        return self.home / ".cache/huggingface/hub"

    def env(self, offline: bool = False, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "XYBRID_", "OLLAMA"))}
        env.update(
            HOME=str(self.home),
            HF_ENDPOINT=self.hub_url,
            HF_HUB_OFFLINE="1" if offline else "0",
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_XET="1",
            XYBRID_CACHE_DIR=str(self.xybrid_cache),
            PYTHONPATH=str(ROOT),
            XYBRID_VIEW="text",
        )
        env.update(extra)
        return env

    def run(self, *commands: str, offline: bool = False, **extra: str) -> dict[str, Any]:
        """Run `tests/sources/kernel.py` with `commands` here; its JSON report."""
        return kernel_report(self.start(*commands, offline=offline, **extra))

    def start(self, *commands: str, offline: bool = False, **extra: str) -> subprocess.Popen[str]:
        script = Path(__file__).with_name("kernel.py")
        return subprocess.Popen(
            [sys.executable, str(script), *commands],
            env=self.env(offline, **extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def kernel_report(process: subprocess.Popen[str], timeout: Optional[float] = 120) -> dict[str, Any]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    report["stdout"] = out
    return report


@pytest.fixture
def machine(tmp_path: Path, hub: HubStandIn) -> Machine:
    """An empty home with an empty Hugging Face cache, pointed at the stand-in (the engine probes' verdicts are
    this machine's, from xybrid's own cache)."""
    home = tmp_path / "home"
    home.mkdir()
    return Machine(home, hub.url, cache_dir())
