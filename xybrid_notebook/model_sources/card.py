"""`%xybrid info NAME`: a model's card before the load, from its GGUF header, and which backends can load it here.

A backend can load it when its engine is installed, knows the file's architecture, and the
file plus its KV cache at the asked context fit in the memory free now (an estimate: the
engines' compute buffers come on top).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from ..backends import available_backends, backend_class
from ..backends.gguf_file import GgufFileBackend
from ..chat_format import fallback_name
from ..errors import ModelNotFound
from ..format import fmt_mib
from ..models import resolve_model
from . import resolve_ref, store_reference
from .facts import HeaderFacts, fmt_parameters, fmt_size, header_facts
from .hub import from_cache, hub_cache
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


def locate(name: str) -> Path:
    """The local file `name` refers to, without downloading anything."""
    ref = store_reference(name)
    if ref is None:
        return resolve_model(name)
    if isinstance(ref, HubRef):
        cached = from_cache(ref)
        if cached is None:
            raise ModelNotFound(
                f"{ref.name()} is not in the Hugging Face cache ({hub_cache()}) yet: "
                f"%xybrid load {name} downloads it, then its card reads the file"
            )
        return cached
    return resolve_ref(ref)


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
    for name, reason in available_backends().items():
        cls = backend_class(name)
        if not issubclass(cls, GgufFileBackend):
            continue
        if reason is not None:
            verdicts[name] = f"no: {reason}"
        elif not cls.supports_architecture(architecture):
            verdicts[name] = f"no: {name} does not know the architecture {architecture}"
        else:
            verdicts[name] = "yes" if fits else "no: not enough free memory (see memory)"
    return verdicts


def model_card(name: str, context_length: int = 4096) -> ModelCard:
    """The card of the model `name` names (catalog, path, or a store reference already on this machine)."""
    import psutil

    path = locate(name)
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
