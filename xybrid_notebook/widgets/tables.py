"""Small tables for `%xybrid status/history/backends/models`: HTML in a notebook, text elsewhere."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from ..format import MISSING, fmt_cores, fmt_ms, fmt_rate, fmt_share, fmt_value
from ..session import RunRecord, prompt_preview
from ..types import GenerationOutput


class Table:
    """Rows under a header; `_repr_html_` for notebooks, `repr` for terminals and nbval."""

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
        self.header = [str(h) for h in header]
        self.rows = [[fmt_value(v) for v in row] for row in rows]
        self.title = title

    def __repr__(self) -> str:
        widths = [
            max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h) for i, h in enumerate(self.header)
        ]
        lines = [self.title] if self.title else []
        if any(self.header):
            lines.append("  ".join(h.ljust(w) for h, w in zip(self.header, widths)).rstrip())
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in self.rows]
        if not self.rows:
            lines.append("(none)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header) if any(self.header) else ""
        body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in self.rows)
        caption = f"<caption style='text-align:left'>{html.escape(self.title)}</caption>" if self.title else ""
        thead = f"<thead><tr>{head}</tr></thead>" if head else ""
        return f'<table class="xybrid-table">{caption}{thead}<tbody>{body}</tbody></table>'


HISTORY_HEADER = [
    "#",
    "time",
    "backend",
    "model",
    "prompt",
    "tokens",
    "TTFT",
    "ITL mean",
    "p95",
    "decode",
    "finish",
    "route",
    "engine settings",
    "other CPU",
    "time went to",
]


def time_went_to(output: GenerationOutput) -> str:
    """The run's two largest phases and its stall count, e.g. "decode 96 % · sample 2.1 % · 3 stalls"."""
    top = sorted(output.phase_shares().items(), key=lambda item: -item[1])[:2]
    if not top:
        return MISSING
    text = " · ".join(f"{name} {fmt_share(share)}" for name, share in top)
    return text + (f" · {len(output.stalls)} stalls" if output.stalls else "")


def history_table(records: Sequence[RunRecord]) -> Table:
    """One row per run, the figures a user compares first."""
    rows = [
        [
            r.index,
            r.started_at.strftime("%H:%M:%S"),
            r.output.backend,
            r.output.model_id,
            prompt_preview(r.prompt, 32),
            r.output.tokens_generated,
            fmt_ms(r.output.ttft_ms),
            fmt_ms(r.output.mean_itl_ms),
            fmt_ms(r.output.p95_itl_ms),
            fmt_rate(r.output.decode_tps),
            r.output.finish_reason,
            r.output.route_reason or r.output.route,
            r.output.engine_settings or "defaults",
            fmt_cores(r.output.other_cpu_cores_mean),
            time_went_to(r.output),
        ]
        for r in records
    ]
    return Table(HISTORY_HEADER, rows, title=f"{len(rows)} run(s)")


def key_value_table(pairs: dict[str, Any], title: str = "") -> Table:
    """Two columns: name and value."""
    return Table(["", ""], [[k, v] for k, v in pairs.items()], title)
