"""Shared fixtures: the real default model and real backends, loaded once per session."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from xybrid_notebook import LlmConfig, create_backend, resolve_model  # noqa: E402
from xybrid_notebook.backends.base import LlmBackend  # noqa: E402


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The default model's GGUF file (assembled from its PyPI package once)."""
    return resolve_model()


def _loaded(name: str, model_path: Path) -> Iterator[LlmBackend]:
    backend = create_backend(name)
    backend.load(LlmConfig(model_path, context_length=2048))
    yield backend
    backend.unload()


@pytest.fixture(scope="session")
def llama_backend(model_path: Path) -> Iterator[LlmBackend]:
    """llama.cpp with the default model, shared by the session."""
    yield from _loaded("llama-cpp", model_path)


@pytest.fixture(scope="session")
def mistral_backend(model_path: Path) -> Iterator[LlmBackend]:
    """mistral.rs with the default model, shared by the session."""
    yield from _loaded("mistralrs", model_path)


@pytest.fixture(params=["llama_backend", "mistral_backend"])
def real_backend(request: pytest.FixtureRequest) -> LlmBackend:
    """Each real backend in turn."""
    return request.getfixturevalue(request.param)
