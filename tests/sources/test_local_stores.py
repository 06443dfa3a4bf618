"""The models already here: the listing (Hugging Face cache, LM Studio, Ollama, `$XYBRID_MODEL_DIRS`), loading
Ollama and LM Studio models in place on both engines, and a model's card."""

from __future__ import annotations

from pathlib import Path

import pytest

from xybrid_notebook.errors import ModelNotFound, ModelUnreachable
from xybrid_notebook.model_sources import resolve_source
from xybrid_notebook.model_sources.card import backend_verdicts, memory_line, model_card
from xybrid_notebook.model_sources.facts import header_facts
from xybrid_notebook.model_sources.listing import local_model_rows

from .conftest import CHAT_REPO, Machine
from .stores_layout import (
    LMSTUDIO_CHAT,
    LMSTUDIO_SPLIT,
    OLLAMA_NAME,
    lay_out_lmstudio,
    lay_out_model_dir,
    lay_out_ollama,
)
from .test_hub import sha256

CTX = "--ctx 256"


@pytest.fixture
def home(tmp_path: Path, chat_gguf: Path, split_files: list[Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary home with Ollama's and LM Studio's layouts and a model folder; this process looks there."""
    import huggingface_hub.constants

    home = tmp_path / "home"
    lay_out_ollama(home, chat_gguf, sha256(chat_gguf))
    lay_out_lmstudio(home, chat_gguf, split_files)
    lay_out_model_dir(tmp_path / "models", chat_gguf)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("OLLAMA_MODELS", raising=False)
    monkeypatch.setenv("XYBRID_MODEL_DIRS", str(tmp_path / "models"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(home / ".cache/huggingface/hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # this process never asks a Hub
    return home


def test_the_listing_names_each_model_and_reads_its_header(home: Path, chat_gguf: Path, tmp_path: Path) -> None:
    rows = {row["name"]: row for row in local_model_rows()}
    ollama = rows[f"ollama:{OLLAMA_NAME}"]
    assert ollama["store"] == "Ollama" and Path(ollama["path"]).parent == home / ".ollama/models/blobs"
    facts = header_facts(chat_gguf)
    expected = (facts.architecture, facts.parameters, facts.quantization, facts.context_length, True)
    assert (
        ollama["architecture"],
        ollama["parameters"],
        ollama["quantization"],
        ollama["context_length"],
        ollama["chat_template"],
    ) == expected
    assert ollama["size_bytes"] == chat_gguf.stat().st_size
    assert rows[f"lmstudio:{LMSTUDIO_CHAT}"]["store"] == "LM Studio"
    split = rows[f"lmstudio:{LMSTUDIO_SPLIT}"]
    assert split["parts"] == 2 and split["parameters"] == facts.parameters  # both parts counted, projector left out
    assert rows[str(tmp_path / "models/mine/my-model.gguf")]["quantization"] == facts.quantization
    assert rows[str(tmp_path / "models/broken.gguf")]["architecture"].startswith("unreadable:")
    assert "ollama:gone:latest" not in rows


def test_store_names_resolve_in_place(home: Path, chat_gguf: Path) -> None:
    blob = resolve_source(f"ollama:{OLLAMA_NAME}")
    assert blob == home / ".ollama/models/blobs" / f"sha256-{sha256(chat_gguf)}"
    assert resolve_source(f"lmstudio:{LMSTUDIO_CHAT}").samefile(chat_gguf)
    assert resolve_source(f"lmstudio:{LMSTUDIO_SPLIT}:Q4_1").name.endswith("-00001-of-00002.gguf")
    with pytest.raises(ModelNotFound, match=r"^Ollama has no model llama3.2:1b .*installed: smollm2:135m$"):
        resolve_source("ollama:llama3.2:1b")
    with pytest.raises(ModelNotFound, match="blob .* is missing: run `ollama pull` again"):
        resolve_source("ollama:gone")
    with pytest.raises(ModelNotFound, match="^LM Studio has no model nobody/nothing"):
        resolve_source("lmstudio:nobody/nothing")


def test_the_card_reads_the_header_and_weighs_memory(home: Path, chat_gguf: Path) -> None:
    card = model_card(f"ollama:{OLLAMA_NAME}", 2048)
    facts = header_facts(chat_gguf)
    assert card.facts["architecture"] == facts.architecture and card.facts["quantization"] == facts.quantization
    assert card.facts["chat template"] == "yes (in the file)" and str(card.path) in card.facts["file"]
    assert set(card.backends) == {"llama-cpp", "mistralrs"}
    kv = facts.kv_cache_bytes(2048)
    assert kv is not None and kv == 2 * facts.kv_cache_bytes(1024)  # linear in the context
    line, fits = memory_line(facts, 2048, facts.size + kv)
    assert fits and line.endswith("fits")
    assert not memory_line(facts, 2048, facts.size + kv - 1)[1]
    verdicts = backend_verdicts("no-such-architecture", True)
    assert verdicts["llama-cpp"] == "no: llama-cpp does not know the architecture no-such-architecture"
    assert verdicts["mistralrs"].startswith("maybe: no-such-architecture is not among")
    assert card.facts["memory"].endswith(": fits")  # about 100 MiB
    assert card.backends == {"llama-cpp": "yes", "mistralrs": "yes"}  # both engines know llama
    assert backend_verdicts(facts.architecture, False)["llama-cpp"].startswith("no: not enough free memory")
    with pytest.raises(ModelUnreachable, match=f"^hf:{CHAT_REPO}:Q4_1 is not in the Hugging Face cache"):
        model_card(f"{CHAT_REPO}:Q4_1")


def test_a_kernel_lists_the_downloaded_model_beside_ollama_and_lm_studio_and_loads_them_in_place(
    machine: Machine, chat_gguf: Path, split_files: list[Path], tmp_path: Path
) -> None:
    lay_out_ollama(machine.home, chat_gguf, sha256(chat_gguf))
    lay_out_lmstudio(machine.home, chat_gguf, split_files)
    report = machine.run(
        f"load {CHAT_REPO}:Q4_1 {CTX}",
        "models --local",
        f"load ollama:{OLLAMA_NAME} --backend mistralrs {CTX}",
        f"load lmstudio:{LMSTUDIO_CHAT} {CTX}",
        "GENERATE",
        f"info ollama:{OLLAMA_NAME}",
    )
    _, listing, ollama, lmstudio, generated, info = report["steps"]
    assert [s["error"] for s in report["steps"]] == [None] * 6, report
    for name in (
        f"hf:{CHAT_REPO}:Q4_1",
        f"ollama:{OLLAMA_NAME}",
        f"lmstudio:{LMSTUDIO_CHAT}",
        f"lmstudio:{LMSTUDIO_SPLIT}",
    ):
        assert name in listing["output"]
    assert f"Loaded ollama:{OLLAMA_NAME} on mistralrs" in ollama["output"]
    assert f"Loaded lmstudio:{LMSTUDIO_CHAT} on llama-cpp" in lmstudio["output"] and generated["text"]
    assert "loads on llama-cpp" in info["output"] and "loads on mistralrs" in info["output"]


def test_local_models_is_a_data_frame_of_the_same_rows(home: Path) -> None:
    import xybrid_notebook as xn
    from xybrid_notebook.model_sources.listing import LOCAL_COLUMNS

    frame = xn.local_models()
    assert list(frame.columns) == list(LOCAL_COLUMNS)
    rows = local_model_rows()
    assert list(frame["name"]) == [row["name"] for row in rows] and list(frame["path"]) == [row["path"] for row in rows]
    ollama = frame.set_index("name").loc[f"ollama:{OLLAMA_NAME}"]
    assert ollama["parameters"] == next(r["parameters"] for r in rows if r["name"] == f"ollama:{OLLAMA_NAME}")
