"""`%xybrid models --local` and `xn.local_models()`: every GGUF found here, with its header's facts."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidModelFile
from .facts import header_facts
from .stores import StoredModel, stored_models

LOCAL_COLUMNS = (
    "name",
    "store",
    "architecture",
    "parameters",
    "quantization",
    "context_length",
    "chat_template",
    "size_bytes",
    "parts",
    "path",
)


def local_row(model: StoredModel) -> dict[str, Any]:
    """One model's row: its name and store, what its header says (or why it cannot be read), its size and path."""
    row: dict[str, Any] = dict.fromkeys(LOCAL_COLUMNS)
    row.update(name=model.name, store=model.store, size_bytes=model.size, parts=model.parts, path=str(model.path))
    try:
        facts = header_facts(model.path)
    except InvalidModelFile as exc:
        row["architecture"] = f"unreadable: {exc}"
        return row
    row.update(
        architecture=facts.architecture,
        parameters=facts.parameters,
        quantization=facts.quantization,
        context_length=facts.context_length,
        chat_template=facts.has_chat_template,
    )
    return row


def local_model_rows() -> list[dict[str, Any]]:
    """A row for every GGUF model found in the Hugging Face cache, LM Studio, Ollama and `$XYBRID_MODEL_DIRS`."""
    return [local_row(model) for model in stored_models()]
