"""Streamed text as an ipywidgets HTML block; `LiveRun` decides how often it is sent."""

from __future__ import annotations

import html

import ipywidgets as widgets

# Bounds what one live update sends, however long the run; the final update sends everything.
LIVE_TAIL_CHARS = 6000
BOX_STYLE = (
    "max-height:320px;overflow-y:auto;display:flex;flex-direction:column-reverse;"
    "border:1px solid var(--jp-border-color2,#ddd);border-radius:4px"
)
STYLE = (
    "white-space:pre-wrap;word-break:break-word;font-family:var(--jp-code-font-family,monospace);"
    "font-size:13px;line-height:1.45;margin:0;padding:8px"
)


class StreamView:
    """A block of text that stays scrolled to its end; live flushes send only its tail."""

    def __init__(self) -> None:
        self.widget = widgets.HTML(value=self._html(""), layout=widgets.Layout(width="100%"))
        self.widget.add_class("xybrid-text")
        self.text = ""

    @staticmethod
    def _html(text: str, skipped: int = 0) -> str:
        note = f'<span style="color:#999">… {skipped} earlier characters …</span>' if skipped else ""
        return (f'<div style="{BOX_STYLE}"><pre class="xybrid-stream" style="{STYLE}">'
                f"{note}{html.escape(text)}</pre></div>")

    def show(self, text: str, final: bool = False) -> None:
        """Replace the shown text: its tail while streaming, all of it at the end."""
        self.text = text
        skipped = 0 if final else max(0, len(text) - LIVE_TAIL_CHARS)
        self.widget.value = self._html(text[skipped:], skipped)
