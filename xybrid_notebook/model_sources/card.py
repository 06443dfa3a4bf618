"""`%xybrid info NAME`: a model's card before the load, from its GGUF header, and which backends can load it here.

A backend can load it when its engine is installed, knows the file's architecture, and the
file plus its KV cache at the asked context fit in the memory free now (an estimate: the
engines' compute buffers come on top).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, cast

from ..backends import available_backends, backend_class
from ..backends.gguf_file import GgufFileBackend
from ..chat_format import fallback_name
from ..errors import InvalidInput
from ..format import fmt_mib
from ..models import resolve_model
from . import resolve_ref, store_reference
from .facts import HeaderFacts, fmt_parameters, fmt_size, header_facts
from .hub import from_cache, hub_cache, remote_choice
from .refs import HubRef


@dataclass
class ModelCard:
    """A model's facts (name, file, header) and, per local backend, whether it can load the model here."""

    name: str
    path: Path
    facts: dict[str, str] = field(default_factory=dict)
    backends: dict[str, str] = field(default_factory=dict)

    def rows(self) -> dict[str, str]:
        """Every line of the card: the facts, then one per backend."""
        return {**self.facts, **{f"loads on {name}": verdict for name, verdict in self.backends.items()}}

    def __repr__(self) -> str:
        width = max(len(key) for key in self.rows())
        return "\n".join([self.name, *(f"{key.ljust(width)}  {value}" for key, value in self.rows().items())])

    def _repr_html_(self) -> str:
        body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in self.rows().items())
        caption = f"<caption style='text-align:left'>{html.escape(self.name)}</caption>"
        return f'<table class="xybrid-table">{caption}<tbody>{body}</tbody></table>'


def locate(name: str) -> Optional[Path]:
    """The local file `name` refers to, without downloading anything; None for a Hub file not downloaded yet."""
    ref = store_reference(name)
    if ref is None:
        return resolve_model(name)
    if isinstance(ref, HubRef):
        return from_cache(ref)
    return resolve_ref(ref)


def hub_card(name: str) -> ModelCard:
    """What the Hub's listing says of a file not downloaded yet (its header is read once it is here)."""
    ref = store_reference(name)
    assert isinstance(ref, HubRef)
    group = remote_choice(ref)
    rows = {
        "file": f"{ref.repo}/{group.first}" + (f" ({len(group.files)} parts)" if len(group.files) > 1 else ""),
        "size": fmt_size(group.size),
        "quantization": f"{group.quant or 'unknown'} (from the file name)",
        "header": f"not read yet: %xybrid load {name} downloads it into {hub_cache()}, then this card reads it",
    }
    usable = {n: "yes" if reason is None else f"no: {reason}" for n, reason in _gguf_backends().items()}
    return ModelCard(name, Path(group.first), rows, usable)


def _gguf_backends() -> dict[str, Optional[str]]:
    """The local GGUF backends, each with why it cannot be used here (None: it can)."""
    return {
        name: reason
        for name, reason in available_backends().items()
        if issubclass(backend_class(name), GgufFileBackend)
    }


def memory_line(facts: HeaderFacts, context_length: int, available: int) -> tuple[str, bool]:
    """What the model needs (file + KV cache at `context_length`) against `available` bytes; and whether it fits."""
    kv = facts.kv_cache_bytes(context_length)
    need = facts.size + (kv or 0)
    kv_text = f"KV cache at {context_length} tokens {fmt_mib(kv)}" if kv is not None else "KV cache unknown"
    fits = need <= available
    verdict = "fits" if fits else "does not fit"
    return f"about {fmt_mib(need)} (file {fmt_mib(facts.size)} + {kv_text}); {fmt_mib(available)} free: {verdict}", fits


def backend_verdicts(architecture: str, fits: bool) -> dict[str, str]:
    """Per local GGUF backend: "yes", or "no: why" (not installed, unknown architecture, not enough memory)."""
    verdicts: dict[str, str] = {}
    for name, reason in _gguf_backends().items():
        cls = cast(type[GgufFileBackend], backend_class(name))
        if reason is not None:
            verdicts[name] = f"no: {reason}"
        elif (known := cls.supports_architecture(architecture)) is False:
            verdicts[name] = f"no: {name} does not know the architecture {architecture}"
        elif not fits:
            verdicts[name] = "no: not enough free memory (see memory)"
        else:
            verdicts[name] = (
                "yes" if known else f"maybe: {architecture} is not among the architectures {name} is known to load"
            )
    return verdicts


def model_card(name: str, context_length: int = 4096) -> ModelCard:
    """The card of the model `name` names: from its header when the file is here (catalog, path, a store, the
    Hugging Face cache), else what the Hub's listing says of the file a Hub reference picks."""
    import psutil

    if context_length < 1:
        raise InvalidInput(f"the context length must be at least 1 token, got {context_length}")
    path = locate(name)
    if path is None:
        return hub_card(name)
    facts = header_facts(path)
    template = "yes (in the file)" if facts.has_chat_template else f"no (built-in {fallback_name(facts.architecture)})"
    memory, fits = memory_line(facts, context_length, psutil.virtual_memory().available)
    rows = {
        "file": str(path) if facts.parts == 1 else f"{path} (part 1 of {facts.parts})",
        "size": fmt_size(facts.size),
        "architecture": facts.architecture,
        "parameters": fmt_parameters(facts.parameters),
        "quantization": facts.quantization,
        "trained context": str(facts.context_length or "unknown"),
        "chat template": template,
        "memory": memory,
    }
    return ModelCard(name, path, rows, backend_verdicts(facts.architecture, fits))
