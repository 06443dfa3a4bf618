"""The GGUF models already on this machine: the Hugging Face cache, LM Studio's folders, Ollama's store,
and `$XYBRID_MODEL_DIRS`. Each model gets the name it loads by; Ollama and LM Studio files are read in place.

Where each store is looked for:
- Hugging Face: huggingface_hub's cache (`HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`);
- LM Studio: `~/.lmstudio/models/<publisher>/<repo>/*.gguf` and `~/.cache/lm-studio/models` (older versions);
- Ollama: `$OLLAMA_MODELS`, else `~/.ollama/models` and `/usr/share/ollama/.ollama/models` (the Linux service):
  `manifests/<host>/<namespace>/<model>/<tag>` is a JSON manifest whose layer of media type
  `application/vnd.ollama.image.model` names the GGUF blob, `blobs/sha256-<hex>`;
- `$XYBRID_MODEL_DIRS`: folders (separated by `os.pathsep`) searched for `.gguf` files at any depth.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelNotFound
from .quant import GgufGroup, gguf_groups, pick_file, pick_group, quant_list
from .refs import HF_PREFIX, LMSTUDIO_PREFIX, OLLAMA_PREFIX, LmStudioRef, OllamaRef

OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
OLLAMA_REGISTRY = "registry.ollama.ai"
MODEL_DIRS_VARIABLE = "XYBRID_MODEL_DIRS"


@dataclass(frozen=True)
class StoredModel:
    """A GGUF model found on this machine: the name to load it by, where it was found, its file(s)."""

    name: str
    store: str
    path: Path
    size: int
    parts: int = 1


# -- Ollama ---------------------------------------------------------------------------------------
def ollama_roots() -> list[Path]:
    """Ollama's model folders that exist here."""
    explicit = os.environ.get("OLLAMA_MODELS")
    roots = [Path(explicit)] if explicit else [Path.home() / ".ollama/models", Path("/usr/share/ollama/.ollama/models")]
    return [root for root in roots if (root / "manifests").is_dir()]


def _ollama_name(parts: tuple[str, ...]) -> str:
    host, namespace, model, tag = parts
    if host == OLLAMA_REGISTRY:
        return f"{model if namespace == 'library' else f'{namespace}/{model}'}:{tag}"
    return f"{host}/{namespace}/{model}:{tag}"


def _ollama_blob(root: Path, manifest: Path) -> Path:
    """The model layer's blob that `manifest` names."""
    try:
        layers = json.loads(manifest.read_text())["layers"]
        digest = next(layer["digest"] for layer in layers if layer.get("mediaType") == OLLAMA_MODEL_LAYER)
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        raise ModelNotFound(f"Ollama's manifest {manifest} names no model layer ({OLLAMA_MODEL_LAYER})") from None
    blob = root / "blobs" / str(digest).replace(":", "-")
    if not blob.is_file():
        raise ModelNotFound(f"Ollama's blob {blob} is missing: run `ollama pull` again")
    return blob


def ollama_models() -> Iterator[StoredModel]:
    """Every Ollama model whose manifest names a GGUF blob that is there."""
    for root in ollama_roots():
        for manifest in sorted((root / "manifests").glob("*/*/*/*")):
            if not manifest.is_file():
                continue
            try:
                blob = _ollama_blob(root, manifest)
            except ModelNotFound:
                continue
            name = _ollama_name(manifest.relative_to(root / "manifests").parts)
            yield StoredModel(f"{OLLAMA_PREFIX}{name}", "Ollama", blob, blob.stat().st_size)


def _ollama_manifest_parts(ref: OllamaRef) -> tuple[str, ...]:
    pieces = ref.model.split("/")
    if len(pieces) == 1:
        return (OLLAMA_REGISTRY, "library", pieces[0], ref.tag)
    if len(pieces) == 2:
        return (OLLAMA_REGISTRY, pieces[0], pieces[1], ref.tag)
    return ("/".join(pieces[:-2]), pieces[-2], pieces[-1], ref.tag)


def resolve_ollama(ref: OllamaRef) -> Path:
    """The GGUF blob of an installed Ollama model (read in place, never copied)."""
    roots = ollama_roots()
    for root in roots:
        manifest = root.joinpath("manifests", *_ollama_manifest_parts(ref))
        if manifest.is_file():
            return _ollama_blob(root, manifest)
    installed = ", ".join(m.name.removeprefix(OLLAMA_PREFIX) for m in ollama_models()) or "none"
    where = ", ".join(str(r) for r in roots) or "no Ollama store here (~/.ollama/models)"
    raise ModelNotFound(f"Ollama has no model {ref.model}:{ref.tag} ({where}); installed: {installed}")


# -- LM Studio ------------------------------------------------------------------------------------
def lmstudio_roots() -> list[Path]:
    """LM Studio's model folders that exist here."""
    roots = [Path.home() / ".lmstudio/models", Path.home() / ".cache/lm-studio/models"]
    return [root for root in roots if root.is_dir()]


def _sizes(folder: Path) -> dict[str, int]:
    """Every .gguf under `folder` (relative path -> bytes)."""
    return {
        str(path.relative_to(folder)): path.stat().st_size
        for path in sorted(folder.rglob("*"))
        if path.suffix.lower() == ".gguf" and path.is_file()
    }


def _group_names(prefix: str, groups: list[GgufGroup]) -> list[str]:
    """`prefix` alone for a single model, `prefix:QUANT` where the quantization tells them apart, else the file."""
    if len(groups) == 1:
        return [prefix]
    counts = {g.quant: sum(1 for other in groups if other.quant == g.quant) for g in groups}
    return [f"{prefix}:{g.quant}" if g.quant and counts[g.quant] == 1 else f"{prefix}/{g.first}" for g in groups]


def lmstudio_models() -> Iterator[StoredModel]:
    """Every GGUF model in LM Studio's `<publisher>/<repo>` folders."""
    for root in lmstudio_roots():
        for repo in sorted(p for p in root.glob("*/*") if p.is_dir()):
            groups = gguf_groups(_sizes(repo))
            prefix = f"{LMSTUDIO_PREFIX}{repo.relative_to(root).as_posix()}"
            for name, group in zip(_group_names(prefix, groups), groups):
                yield StoredModel(name, "LM Studio", repo / group.first, group.size, len(group.files))


def resolve_lmstudio(ref: LmStudioRef) -> Path:
    """The GGUF of an LM Studio model (read in place): its only one, the one for `:QUANT`, or the named file."""
    for root in lmstudio_roots():
        folder = root / ref.repo
        if folder.is_dir():
            groups = gguf_groups(_sizes(folder))
            where = f"LM Studio's {ref.repo} ({folder})"
            if ref.filename:
                return folder / pick_file(groups, ref.filename, where).first
            if ref.quant is None and len(groups) > 1:
                raise ModelNotFound(f"{where} holds several models: add :QUANT, one of {quant_list(groups)}")
            return folder / pick_group(groups, ref.quant, where).first
    roots = ", ".join(str(r) for r in lmstudio_roots()) or "none of ~/.lmstudio/models, ~/.cache/lm-studio/models"
    raise ModelNotFound(f"LM Studio has no model {ref.repo} (looked in {roots})")


# -- the Hugging Face cache and $XYBRID_MODEL_DIRS ---------------------------------------------------
def hf_cache_models() -> Iterator[StoredModel]:
    """Every complete GGUF model in huggingface_hub's cache (each repo's `main` snapshot, else its newest)."""
    from .hub import cached_snapshots

    for repo, (snapshot, sizes) in sorted(cached_snapshots().items()):
        groups = gguf_groups(sizes)
        for name, group in zip(_group_names(f"{HF_PREFIX}{repo}", groups), groups):
            if len(groups) == 1 and group.quant:
                name = f"{name}:{group.quant}"
            yield StoredModel(name, "Hugging Face cache", snapshot / group.first, group.size, len(group.files))


def model_dirs() -> list[Path]:
    """The folders of `$XYBRID_MODEL_DIRS` that exist."""
    value = os.environ.get(MODEL_DIRS_VARIABLE, "")
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p and Path(p).expanduser().is_dir()]


def dir_models() -> Iterator[StoredModel]:
    """Every GGUF model under `$XYBRID_MODEL_DIRS`, named by its path."""
    for folder in model_dirs():
        for group in gguf_groups(_sizes(folder)):
            path = folder / group.first
            yield StoredModel(str(path), MODEL_DIRS_VARIABLE, path, group.size, len(group.files))


def stored_models() -> list[StoredModel]:
    """Every GGUF model found in the stores, the Hugging Face cache first."""
    return [*hf_cache_models(), *lmstudio_models(), *ollama_models(), *dir_models()]
