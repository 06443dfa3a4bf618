"""What the GGUF header says about special tokens, read without loading any engine."""

from __future__ import annotations

from pathlib import Path

from xybrid_notebook.gguf_header import GgufHeader, read_gguf_header
from xybrid_notebook.models import resolve_model


def header(**metadata: object) -> GgufHeader:
    return GgufHeader(path=Path("x.gguf"), version=3, tensor_count=0, metadata=dict(metadata), bos_token="<s>")


def test_add_bos_follows_the_key_else_the_vocabulary_kind() -> None:
    assert header(**{"tokenizer.ggml.add_bos_token": False, "tokenizer.ggml.model": "llama"}).add_bos is False
    assert header(**{"tokenizer.ggml.add_bos_token": True, "tokenizer.ggml.model": "gpt2"}).add_bos is True
    assert header(**{"tokenizer.ggml.model": "llama"}).add_bos is True
    assert header(**{"tokenizer.ggml.model": "gpt2"}).add_bos is False
    assert header().quantization == "unknown" and header().bos_token_id is None


def test_both_catalog_models_name_their_own_special_tokens() -> None:
    gemma = read_gguf_header(resolve_model("gemma3-270m"))
    smollm2 = read_gguf_header(resolve_model("smollm2-135m-instruct"))
    assert (gemma.bos_token, gemma.eos_token, gemma.add_bos) == ("<bos>", "<eos>", True)
    assert (smollm2.bos_token, smollm2.eos_token, smollm2.add_bos) == ("<|im_start|>", "<|im_end|>", False)
    assert gemma.chat_template is None and "<|im_start|>" in (smollm2.chat_template or "")
