"""The core never pulls in a UI library at run time; the registry finds built-ins via entry points.

(Which module may import which is checked statically in `test_import_graph.py`.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from xybrid_notebook import available_backends, create_backend, register_backend
from xybrid_notebook.backends import ENTRY_POINT_GROUP, Requirement, backend_class, unregister_backend
from xybrid_notebook.backends.llama_cpp import LlamaCppBackend
from xybrid_notebook.backends.mistralrs import MistralRsBackend
from xybrid_notebook.backends.scripted import ScriptedBackend
from xybrid_notebook.errors import BackendUnavailable

CORE_MODULES = [
    "xybrid_notebook.types",
    "xybrid_notebook.metrics",
    "xybrid_notebook.gap_shading",
    "xybrid_notebook.models",
    "xybrid_notebook.backends",
    "xybrid_notebook.backends.llama_cpp",
    "xybrid_notebook.backends.mistralrs",
    "xybrid_notebook.session",
    "xybrid_notebook.export",
    "xybrid_notebook.experiments",
    "xybrid_notebook.experiments.render",
    "xybrid_notebook.backends.llama_cpp_bench",
    "xybrid_notebook.api",
    "xybrid_notebook.model_sources",
    "xybrid_notebook.model_sources.card",
    "xybrid_notebook.model_sources.listing",
]
UI_MODULES = ["IPython", "ipywidgets", "plotly", "anywidget", "llama_cpp", "mistralrs"]


def test_core_imports_pull_in_no_ui_and_no_native_library() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for m in {CORE_MODULES!r}: importlib.import_module(m)\n"
        f"print(json.dumps([m for m in {UI_MODULES!r} if m in sys.modules]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []


def test_built_in_backends_come_through_the_entry_point_group() -> None:
    names = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert names["llama-cpp"].endswith(":LlamaCppBackend")
    assert names["mistralrs"].endswith(":MistralRsBackend")


@pytest.mark.parametrize(
    "name, kind",
    [
        ("llama-cpp", LlamaCppBackend),
        ("llamacpp", LlamaCppBackend),
        ("mistralrs", MistralRsBackend),
        ("mistral", MistralRsBackend),
        ("  Mistral ", MistralRsBackend),
    ],
)
def test_names_and_aliases(name: str, kind: type) -> None:
    backend = create_backend(name)
    assert isinstance(backend, kind) and not backend.is_loaded()


def test_unknown_backend_lists_the_known_ones() -> None:
    with pytest.raises(BackendUnavailable, match="llama-cpp, mistralrs"):
        create_backend("vllm")


def test_available_backends_reports_usable_and_why_not() -> None:
    status = available_backends()
    assert status["llama-cpp"] is None and status["mistralrs"] is None
    register_backend("scripted", ScriptedBackend)
    try:
        assert "scripted" in available_backends()
        assert isinstance(create_backend("scripted"), ScriptedBackend)
    finally:
        unregister_backend("scripted")


def test_a_missing_native_library_is_reported_with_the_install_command() -> None:
    code = (
        "import sys; sys.modules['llama_cpp'] = None\n"
        "import importlib.util; importlib.util.find_spec = lambda name, *a: None if name == 'llama_cpp' else 1\n"
        "from xybrid_notebook import available_backends, create_backend, LlmConfig, XybridError\n"
        "print(available_backends()['llama-cpp'])\n"
        "try:\n    create_backend('llama-cpp')._load_model(LlmConfig('x.gguf'), None)\n"
        "except XybridError as e: print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install llama-cpp-python" in out.splitlines()[0]
    assert out.splitlines()[1].startswith("BackendUnavailable") and "pip install llama-cpp-python" in out


class _NeedsAMissingLibrary(ScriptedBackend):
    """A third-party backend whose engine library is not installed here."""

    name = "third-party"
    requires = (Requirement("no_such_engine_lib_xyz", "pip install no-such-engine"),)


def test_a_third_party_backend_with_a_missing_library_is_unusable_with_the_reason() -> None:
    register_backend("third-party", _NeedsAMissingLibrary)
    try:
        reason = available_backends()["third-party"]
        assert reason == "no_such_engine_lib_xyz is not installed: pip install no-such-engine"
    finally:
        unregister_backend("third-party")


def test_each_built_in_backend_declares_what_it_needs() -> None:
    assert [r.module for r in backend_class("llama-cpp").requires] == ["llama_cpp"]
    assert [r.module for r in backend_class("mistralrs").requires] == ["mistralrs"]
    assert [r.module for r in backend_class("remote").requires] == ["httpx"]
