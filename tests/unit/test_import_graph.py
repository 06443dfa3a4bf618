"""The package's import graph, read statically by grimp: no import circles, and imports only run downwards.

The layers, highest first (docs/architecture.md): the magics route to the Python API,
which drives the views, the experiments and the session, which use the backends,
which use the core. A module may import from its own layer's siblings only where the
layer says they are not independent, and never from a layer above it.
"""

from __future__ import annotations

import grimp
import pytest

PACKAGE = "xybrid_notebook"
LAYERS = (
    grimp.Layer("magics", "__main__"),
    grimp.Layer("api"),
    grimp.Layer("otel_spans"),
    grimp.Layer("widgets"),
    grimp.Layer("load"),
    grimp.Layer("experiments"),
    grimp.Layer("session", "export", "loopback", "servers", "llama_tools", independent=False),
    grimp.Layer("routing", "live", "gap_shading", "model_sources"),
    grimp.Layer("backends"),
    grimp.Layer("chat_format", "models", "metrics", "run_errors", "otel"),
    grimp.Layer("gguf_header", "types"),
    grimp.Layer("errors", "format", "host", "redact", "shell", "svg"),
)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(PACKAGE)


def _layer_modules(layer: grimp.Layer) -> set[str]:
    return {f"{PACKAGE}.{name}" for name in layer.module_tails}


def test_every_module_has_a_layer(graph: grimp.ImportGraph) -> None:
    placed = set().union(*(_layer_modules(layer) for layer in LAYERS))
    top_level = {m for m in graph.modules if m.count(".") == 1}
    assert top_level - placed == set(), "place each new module in a layer (and in docs/architecture.md)"


def test_no_import_runs_upwards(graph: grimp.ImportGraph) -> None:
    illegal = graph.find_illegal_dependencies_for_layers(layers=LAYERS, containers={PACKAGE})
    routes = [f"{d.importer} -> {d.imported}: {[r.middle for r in d.routes]}" for d in illegal]
    assert routes == []


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_circles(graph: grimp.ImportGraph) -> None:
    assert _cycles(graph) == []


def test_the_checks_would_see_a_circle_and_an_upward_import() -> None:
    graph = grimp.build_graph(PACKAGE)
    graph.add_import(importer=f"{PACKAGE}.types", imported=f"{PACKAGE}.session")
    graph.add_import(importer=f"{PACKAGE}.session", imported=f"{PACKAGE}.types")
    assert any({f"{PACKAGE}.session", f"{PACKAGE}.types"} <= set(cycle) for cycle in _cycles(graph))
    assert graph.find_illegal_dependencies_for_layers(layers=LAYERS, containers={PACKAGE})
