"""Shared fixtures: both real catalog models and real backends, loaded once per session.

`model_path` and the `llama_backend` / `mistral_backend` fixtures are Gemma 3 270M, the
pretrained model most tests were written for; the `smollm2_*` fixtures are the instruct model.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from xybrid_notebook import LlmConfig, create_backend, resolve_model
from xybrid_notebook.backends.base import LlmBackend
from xybrid_notebook.servers import ServedModel, serve


@pytest.fixture(scope="session")
def model_path() -> Path:
    """Gemma 3 270M's GGUF file (assembled from its PyPI package once)."""
    return resolve_model("gemma3-270m")


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """SmolLM2 135M Instruct's GGUF file, read in place from its PyPI package."""
    return resolve_model("smollm2-135m-instruct")


def _loaded(name: str, model_path: Path) -> Iterator[LlmBackend]:
    backend = create_backend(name)
    backend.load(LlmConfig(model_path, context_length=2048))
    yield backend
    backend.unload()


@pytest.fixture(scope="session")
def llama_backend(model_path: Path) -> Iterator[LlmBackend]:
    """llama.cpp with Gemma 3 270M, shared by the session."""
    yield from _loaded("llama-cpp", model_path)


@pytest.fixture(scope="session")
def mistral_backend(model_path: Path) -> Iterator[LlmBackend]:
    """mistral.rs with Gemma 3 270M, shared by the session."""
    yield from _loaded("mistralrs", model_path)


@pytest.fixture(scope="session")
def smollm2_llama(smollm2_path: Path) -> Iterator[LlmBackend]:
    """llama.cpp with SmolLM2 135M Instruct, shared by the session."""
    yield from _loaded("llama-cpp", smollm2_path)


@pytest.fixture(scope="session")
def smollm2_mistral(smollm2_path: Path) -> Iterator[LlmBackend]:
    """mistral.rs with SmolLM2 135M Instruct, shared by the session."""
    yield from _loaded("mistralrs", smollm2_path)


@pytest.fixture(params=["llama_backend", "mistral_backend"])
def real_backend(request: pytest.FixtureRequest) -> LlmBackend:
    """Each real backend in turn."""
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def served_llama(smollm2_path: Path) -> Iterator[ServedModel]:
    """llama.cpp's llama-server with 4 slots serving SmolLM2, built from the vendored source (cached)."""
    server = serve(str(smollm2_path), parallel=4)
    yield server
    server.stop()
