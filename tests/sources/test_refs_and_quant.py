"""Model names to references, and the GGUF a reference picks: llama.cpp's rule, split files, one-line errors."""

from __future__ import annotations

import pytest

from xybrid_notebook.errors import InvalidInput, ModelNotFound
from xybrid_notebook.model_sources import store_reference
from xybrid_notebook.model_sources.quant import gguf_groups, pick_file, pick_group, quant_label, split_names
from xybrid_notebook.model_sources.refs import HubRef, LmStudioRef, OllamaRef, parse_reference


@pytest.mark.parametrize(
    "text, ref",
    [
        ("bartowski/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M", HubRef("bartowski/Qwen2.5-0.5B-Instruct-GGUF", "Q4_K_M")),
        ("hf:org/repo", HubRef("org/repo")),
        ("HF:org/repo:q8_0", HubRef("org/repo", "q8_0")),
        ("org/repo/sub/file-Q4_K_M.gguf", HubRef("org/repo", filename="sub/file-Q4_K_M.gguf")),
        ("ollama:llama3.2", OllamaRef("llama3.2", "latest")),
        ("ollama:llama3.2:1b", OllamaRef("llama3.2", "1b")),
        ("ollama:hf.co/org/repo:Q4_K_M", OllamaRef("hf.co/org/repo", "Q4_K_M")),
        ("lmstudio:lmstudio-community/Qwen-GGUF", LmStudioRef("lmstudio-community/Qwen-GGUF")),
        ("lmstudio:pub/repo:Q8_0", LmStudioRef("pub/repo", "Q8_0")),
    ],
)
def test_references_parse(text: str, ref: object) -> None:
    assert parse_reference(text) == ref


@pytest.mark.parametrize(
    "text", ["smollm2-135m-instruct", "/abs/model.gguf", "./rel/model.gguf", "~/m.gguf", "models/m.gguf", "m.gguf"]
)
def test_catalog_names_and_paths_are_not_store_references(text: str) -> None:
    assert store_reference(text) is None


@pytest.mark.parametrize("text", ["hf:justone", "ollama:", "lmstudio:only", "hf:a/b:Q4:extra"])
def test_a_malformed_reference_is_one_line(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_reference(text)
    assert "\n" not in str(info.value) and text in str(info.value)


def test_quant_labels_as_the_repos_write_them() -> None:
    assert quant_label("qwen2.5-0.5b-instruct-q4_k_m.gguf") == "Q4_K_M"
    assert quant_label("SmolLM2-135M-Instruct.Q4_1.gguf") == "Q4_1"
    assert quant_label("Model-UD-Q4_K_XL-00001-of-00003.gguf") == "UD-Q4_K_XL"
    assert quant_label("gemma-3-270m-it-BF16.gguf") == "BF16"
    assert quant_label("Q4_K_M/model-IQ4_XS.gguf") == "IQ4_XS"
    assert quant_label("model.gguf") == ""


SIZES = {
    "m-Q8_0.gguf": 800,
    "m-Q4_K_M-00001-of-00002.gguf": 300,
    "m-Q4_K_M-00002-of-00002.gguf": 250,
    "m-Q2_K.gguf": 200,
    "m-F16-00001-of-00002.gguf": 900,  # its second part is missing: not a model here
    "mmproj-m-f16.gguf": 100,
    "README.md": 1,
}


def test_groups_join_split_parts_and_leave_out_projectors_and_incomplete_splits() -> None:
    groups = {g.first: g for g in gguf_groups(SIZES)}
    assert set(groups) == {"m-Q8_0.gguf", "m-Q4_K_M-00001-of-00002.gguf", "m-Q2_K.gguf"}
    split = groups["m-Q4_K_M-00001-of-00002.gguf"]
    assert split.files == tuple(split_names(split.first)) and split.size == 550 and split.quant == "Q4_K_M"


def test_the_pick_is_the_quant_asked_else_q4_k_m_else_the_smallest() -> None:
    groups = gguf_groups(SIZES)
    assert pick_group(groups, "q8_0", "repo").first == "m-Q8_0.gguf"
    assert pick_group(groups, None, "repo").quant == "Q4_K_M"
    without_preferred = [g for g in groups if g.quant != "Q4_K_M"]
    assert pick_group(without_preferred, None, "repo").first == "m-Q2_K.gguf"


def test_a_missing_quant_lists_the_ones_there() -> None:
    with pytest.raises(ModelNotFound, match=r"^org/repo has no Q5_K_M GGUF: it has Q2_K, Q4_K_M, Q8_0$"):
        pick_group(gguf_groups(SIZES), "Q5_K_M", "org/repo")


def test_a_file_by_name_and_a_later_part_by_mistake() -> None:
    groups = gguf_groups(SIZES)
    assert pick_file(groups, "m-Q2_K.gguf", "repo").size == 200
    with pytest.raises(ModelNotFound, match="part 2 of a split GGUF"):
        pick_file(groups, "m-Q4_K_M-00002-of-00002.gguf", "repo")


def test_a_remote_servers_model_name_is_never_taken_for_a_hub_repo() -> None:
    from xybrid_notebook.backends import create_backend
    from xybrid_notebook.backends.remote import RemoteSpec
    from xybrid_notebook.session import Session

    spec = Session._source_for(
        create_backend("remote"), "Qwen/Qwen2.5-0.5B-Instruct", 4096, None, 0, "http://127.0.0.1:9/v1", None, 5.0
    )
    assert isinstance(spec, RemoteSpec) and spec.model == "Qwen/Qwen2.5-0.5B-Instruct"
