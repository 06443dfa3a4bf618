"""Which GGUF of a repo or folder to load: quantization labels, split files, and llama.cpp's choice.

A repo holds one file per quantization (`…-Q4_K_M.gguf`), or one split model per
quantization (`…-Q4_K_M-00001-of-00003.gguf`, loaded from its first part). Vision
projectors (`mmproj…`) are not models and are left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Optional

from ..errors import ModelNotFound
from ..models import split_names, split_parts

PREFERRED_QUANT = "Q4_K_M"
_QUANT = re.compile(
    r"(?:^|[-._])(?P<q>(?:UD-)?(?:I?Q\d(?:_[A-Z0-9]+)*|TQ\d_\d|MXFP4(?:_MOE)?|BF16|F16|FP16|F32))$", re.IGNORECASE
)


@dataclass(frozen=True)
class GgufGroup:
    """One loadable model: a single file, or every part of a split file in order."""

    files: tuple[str, ...]
    size: int
    quant: str

    @property
    def first(self) -> str:
        """The file to load (the first part of a split)."""
        return self.files[0]


def quant_label(name: str) -> str:
    """The quantization a file name says ("Q4_K_M", "UD-Q4_K_XL", "BF16"), upper case; "" if none."""
    base = PurePosixPath(name).name
    stem = base.rsplit("-", 3)[0] if split_parts(base) else re.sub(r"\.gguf$", "", base, flags=re.IGNORECASE)
    found = _QUANT.search(stem)
    return found["q"].upper() if found else ""


def is_model_gguf(name: str) -> bool:
    """A .gguf file that is a model (not a vision projector)."""
    base = PurePosixPath(name).name.lower()
    return base.endswith(".gguf") and "mmproj" not in base


def gguf_groups(sizes: Mapping[str, int]) -> list[GgufGroup]:
    """The loadable models among `sizes` (file name -> bytes): split parts grouped, incomplete splits left out."""
    groups: list[GgufGroup] = []
    for name in sorted(sizes):
        if not is_model_gguf(name):
            continue
        parts = split_parts(name)
        if parts is not None and parts[0] != 1:
            continue
        members = split_names(name)
        if all(member in sizes for member in members):
            groups.append(GgufGroup(tuple(members), sum(sizes[m] for m in members), quant_label(name)))
    return groups


def quant_list(groups: list[GgufGroup]) -> str:
    """The quantizations on offer, for a message: "Q4_K_M, Q8_0"."""
    return ", ".join(sorted({g.quant or PurePosixPath(g.first).name for g in groups}))


def pick_group(groups: list[GgufGroup], quant: Optional[str], where: str) -> GgufGroup:
    """The model for `quant` (case-insensitive), as llama.cpp picks; without one, Q4_K_M, else the smallest."""
    if not groups:
        raise ModelNotFound(f"{where} holds no GGUF model")
    if quant:
        matches = [g for g in groups if g.quant == quant.upper()]
        if not matches:
            raise ModelNotFound(f"{where} has no {quant} GGUF: it has {quant_list(groups)}")
        return min(matches, key=lambda g: g.size)
    preferred = [g for g in groups if g.quant == PREFERRED_QUANT]
    return min(preferred or groups, key=lambda g: g.size)


def pick_file(groups: list[GgufGroup], filename: str, where: str) -> GgufGroup:
    """The model whose file (or first part) is `filename`."""
    for group in groups:
        if filename in (group.first, PurePosixPath(group.first).name):
            return group
    parts = split_parts(filename)
    if parts is not None and parts[0] != 1:
        raise ModelNotFound(f"{filename} is part {parts[0]} of a split GGUF: name the first part, -00001-of-…")
    names = ", ".join(g.first for g in groups[:8]) or "none"
    raise ModelNotFound(f"{where} has no GGUF file {filename}: its GGUF files are {names}")
