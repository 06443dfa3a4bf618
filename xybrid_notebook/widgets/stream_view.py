"""Streamed text as an ipywidgets HTML block; `LiveRun` decides how often it is sent."""

from __future__ import annotations

import html

import ipywidgets as widgets

STYLE = (
    "white-space:pre-wrap;word-break:break-word;font-family:var(--jp-code-font-family,monospace);"
    "font-size:13px;line-height:1.45;margin:0;padding:8px;max-height:320px;overflow-y:auto;"
    "border:1px solid var(--jp-border-color2,#ddd);border-radius:4px"
)


class StreamView:
    """A scrolling block of text, replaced whole at each (coalesced) flush."""

    def __init__(self) -> None:
        self.widget = widgets.HTML(value=self._html(""), layout=widgets.Layout(width="100%"))
        self.widget.add_class("xybrid-text")
        self.text = ""

    @staticmethod
    def _html(text: str) -> str:
        return f'<pre class="xybrid-stream" style="{STYLE}">{html.escape(text)}</pre>'

    def show(self, text: str) -> None:
        """Replace the shown text."""
        self.text = text
        self.widget.value = self._html(text)
