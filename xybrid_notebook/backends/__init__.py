"""Backend registry: built-in and third-party backends come through one entry-point group.

A third-party package registers its backend in its own pyproject.toml:

    [project.entry-points."xybrid_notebook.backends"]
    my-engine = "my_package.backend:MyBackend"
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Optional

from ..errors import BackendUnavailable
from .base import EngineChunk, LlmBackend, OnToken, Requirement, timed_stream

ENTRY_POINT_GROUP = "xybrid_notebook.backends"
ALIASES = {
    "llamacpp": "llama-cpp",
    "llama_cpp": "llama-cpp",
    "llama.cpp": "llama-cpp",
    "mistral": "mistralrs",
    "mistral.rs": "mistralrs",
    "openai-compatible": "remote",
    "openai": "remote",
}
# Used only when the package runs from a source tree without installed metadata.
_BUILT_IN_TARGETS = {
    "llama-cpp": "xybrid_notebook.backends.llama_cpp:LlamaCppBackend",
    "mistralrs": "xybrid_notebook.backends.mistralrs:MistralRsBackend",
    "remote": "xybrid_notebook.backends.remote:RemoteBackend",
}

BackendFactory = Callable[[], LlmBackend[Any]]
_extra: dict[str, BackendFactory] = {}


def _load_target(target: str) -> BackendFactory:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


def _entry_point_targets() -> dict[str, str]:
    targets = dict(_BUILT_IN_TARGETS)
    targets.update({ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)})
    return targets


def register_backend(name: str, factory: BackendFactory) -> None:
    """Register a backend at run time (tests, notebooks); entry points are the lasting way."""
    _extra[name] = factory


def unregister_backend(name: str) -> None:
    """Remove a backend registered with `register_backend`."""
    _extra.pop(name, None)


def backend_names() -> list[str]:
    """Every registered backend name, built-in ones first."""
    return list(dict.fromkeys([*_entry_point_targets(), *_extra]))


def canonical_name(name: str) -> str:
    """Resolve an alias ("llamacpp", "mistral") to its registered name."""
    key = name.strip().lower()
    return ALIASES.get(key, key)


def _factory(name: str) -> BackendFactory:
    """What builds the backend `name` (an alias too); `BackendUnavailable` if unknown or not importable."""
    key = canonical_name(name)
    if key in _extra:
        return _extra[key]
    targets = _entry_point_targets()
    if key not in targets:
        raise BackendUnavailable(f"unknown backend {name!r}: choose one of {', '.join(backend_names())}")
    try:
        return _load_target(targets[key])
    except ImportError as exc:
        raise BackendUnavailable(f"backend {key!r} cannot be imported: {exc}") from None


def create_backend(name: str) -> LlmBackend[Any]:
    """A new, unloaded backend by name or alias; `BackendUnavailable` lists the known names."""
    return _factory(name)()


def backend_class(name: str) -> type[LlmBackend[Any]]:
    """The class a registered backend name builds (importing its module, not its engine)."""
    factory = _factory(name)
    return factory if isinstance(factory, type) else type(factory())


def unavailable_reason(name: str) -> Optional[str]:
    """None if the backend can be used here, else why not and how to fix it (asked of the backend itself)."""
    try:
        cls = backend_class(name)
    except BackendUnavailable as exc:
        return str(exc)
    for requirement in cls.requires:
        if importlib.util.find_spec(requirement.module) is None:
            return f"{requirement.module} is not installed: {requirement.install}"
    return None


def available_backends() -> dict[str, Optional[str]]:
    """Each registered backend -> None if usable, else the reason (with the install command)."""
    return {name: unavailable_reason(name) for name in backend_names()}


__all__ = [
    "ENTRY_POINT_GROUP",
    "EngineChunk",
    "LlmBackend",
    "OnToken",
    "Requirement",
    "available_backends",
    "backend_class",
    "backend_names",
    "canonical_name",
    "create_backend",
    "register_backend",
    "timed_stream",
    "unregister_backend",
]
