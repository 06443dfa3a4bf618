"""The browser modules of the widgets, joined from this folder's JavaScript files.

The run view and the plotly loader share their page-level parts (`shared.js`: the one
`globalThis.__xybrid` object; `chunk_text.js`; `static_form.js`: what makes a finished
run's static HTML interactive), so a page can upgrade the static forms of a reopened
notebook as soon as either module loads.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..gap_shading import SHADE_MAX_ALPHA, SHADE_RGB
from .phase_chart import PHASE_COLORS

PAGE_PARTS = ("shared.js", "chunk_text.js", "static_form.js")


def widget_module(*names: str) -> str:
    """The JavaScript files of this folder, joined in order into one module's source."""
    return "\n".join(Path(__file__).with_name(name).read_text(encoding="utf-8") for name in names)


def shading_constants() -> str:
    """The shading colour of `gap_shading` and the phases' colours, as the JavaScript constants the page uses."""
    return (
        f"const SHADE_RGB = {list(SHADE_RGB)}, SHADE_MAX_ALPHA = {SHADE_MAX_ALPHA};\n"
        f"const PHASE_COLORS = {json.dumps(PHASE_COLORS)};"
    )


def page_module(*names: str) -> str:
    """A widget's module: the shading constants, the shared page parts, then `names`."""
    return shading_constants() + "\n" + widget_module(*PAGE_PARTS, *names)


def compact_esm(source: str) -> str:
    """The module without comment lines and indentation: it travels with every run view's state."""
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))
