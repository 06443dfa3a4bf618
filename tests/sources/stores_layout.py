"""Ollama's and LM Studio's folders as those programs lay them out, built in a temporary home from the catalog's
files (linked, not copied), plus a `$XYBRID_MODEL_DIRS` folder with a good and a broken file."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

OLLAMA_NAME = "smollm2:135m"
LMSTUDIO_CHAT = "lmstudio-community/SmolLM2-135M-Instruct-GGUF"
LMSTUDIO_SPLIT = "xybrid-test/SmolLM2-split-GGUF"


def link(source: Path, target: Path) -> Path:
    """`target` names `source`'s bytes (a hard link where possible, else a symbolic one)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        target.symlink_to(source)
    return target


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def lay_out_ollama(home: Path, gguf: Path, gguf_sha256: str) -> Path:
    """`~/.ollama/models`: a manifest for `smollm2:135m` naming the model blob, a template layer, a config."""
    root = home / ".ollama/models"
    blobs = root / "blobs"
    model_blob = link(gguf, blobs / f"sha256-{gguf_sha256}")
    template = b"{{ .Prompt }}"
    config = json.dumps({"model_format": "gguf", "model_family": "llama"}).encode()
    for data in (template, config):
        (blobs / _digest(data).replace(":", "-")).write_bytes(data)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": _digest(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.ollama.image.model",
                "digest": f"sha256:{gguf_sha256}",
                "size": gguf.stat().st_size,
            },
            {"mediaType": "application/vnd.ollama.image.template", "digest": _digest(template), "size": len(template)},
        ],
    }
    name, tag = OLLAMA_NAME.split(":")
    path = root / "manifests/registry.ollama.ai/library" / name / tag
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(manifest))
    # A model whose blob was removed: left out of the listing, one line when asked for.
    gone = root / "manifests/registry.ollama.ai/library/gone/latest"
    gone.parent.mkdir(parents=True)
    gone.write_text(json.dumps({**manifest, "layers": [{**manifest["layers"][0], "digest": "sha256:" + "0" * 64}]}))
    return model_blob


def lay_out_lmstudio(home: Path, gguf: Path, split: list[Path]) -> None:
    """`~/.lmstudio/models/<publisher>/<repo>/` with the chat model, and the older `~/.cache/lm-studio/models`
    with a split model and a vision projector beside it."""
    link(gguf, home / ".lmstudio/models" / LMSTUDIO_CHAT / "SmolLM2-135M-Instruct-Q4_1.gguf")
    folder = home / ".cache/lm-studio/models" / LMSTUDIO_SPLIT
    for part in split:
        link(part, folder / part.name)
    (folder / "mmproj-SmolLM2-f16.gguf").write_bytes(b"GGUF")


def lay_out_model_dir(folder: Path, gguf: Path) -> None:
    """A folder of one's own: a good file, and a broken one (listed as unreadable, never loaded)."""
    link(gguf, folder / "mine/my-model.gguf")
    (folder / "broken.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 8)
