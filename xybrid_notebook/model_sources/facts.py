"""What a GGUF's header says about the model (read with the bounds-checked walker), and what it needs in memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..gguf_header import GgufHeader, read_gguf_header
from .quant import split_names

KV_BYTES_PER_VALUE = 2  # the engines' default KV cache type is f16


@dataclass(frozen=True)
class HeaderFacts:
    """A model file's facts: architecture, parameters, quantization, trained context, template, size, parts."""

    header: GgufHeader
    parameters: int
    size: int
    parts: int

    @property
    def architecture(self) -> str:
        """`general.architecture`."""
        return self.header.architecture

    @property
    def quantization(self) -> str:
        """`general.file_type` as llama.cpp names it."""
        return self.header.quantization

    @property
    def context_length(self) -> Optional[int]:
        """The context the model was trained with."""
        return self.header.trained_context_length

    @property
    def has_chat_template(self) -> bool:
        """Whether the file carries `tokenizer.chat_template`."""
        return self.header.chat_template is not None

    def kv_cache_bytes(self, context_length: int) -> Optional[int]:
        """The f16 KV cache for `context_length` tokens, from the header's layer and head counts; None if unknown."""
        meta, arch = self.header.metadata, self.architecture
        layers = _int(meta.get(f"{arch}.block_count"))
        heads = _int(meta.get(f"{arch}.attention.head_count"))
        kv_heads = _int(meta.get(f"{arch}.attention.head_count_kv")) or heads
        width = _int(meta.get(f"{arch}.embedding_length"))
        if not (layers and heads and kv_heads and width):
            return None
        key = _int(meta.get(f"{arch}.attention.key_length")) or width // heads
        value = _int(meta.get(f"{arch}.attention.value_length")) or width // heads
        return layers * context_length * kv_heads * (key + value) * KV_BYTES_PER_VALUE


def _int(value: Any) -> Optional[int]:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def header_facts(path: Path) -> HeaderFacts:
    """The facts of the GGUF at `path` (every part of a split: parameters and size are summed)."""
    parts = [path.with_name(name) for name in split_names(path.name)]
    headers = [read_gguf_header(part) for part in parts]
    return HeaderFacts(
        header=headers[0],
        parameters=sum(h.parameter_count for h in headers),
        size=sum(part.stat().st_size for part in parts),
        parts=len(parts),
    )


def fmt_parameters(count: int) -> str:
    """135M, 1.2B."""
    if count >= 10**9:
        return f"{count / 1e9:.1f}B"
    return f"{count / 1e6:.0f}M"


def fmt_size(size: int) -> str:
    """Bytes in MB or GB (decimal, as the Hub and the stores show them)."""
    return f"{size / 1e9:.2f} GB" if size >= 10**9 else f"{size / 1e6:.0f} MB"
