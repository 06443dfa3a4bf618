"""`LoadResult`: every level's figures and every request's raw record of one load test; tables, exports, static form.

`to_pandas()` has one row per level, `requests()` one row per request with its
per-chunk offsets and its split (server queue, prefill, decode, transport),
`server_metrics()` the server's scraped series. `to_json` keeps everything (the raw records too); `to_csv` the
level rows. `_repr_html_` is the static form a saved notebook and nbconvert show:
the throughput/latency curve, the TTFT and gap distributions per level, the table.
No export, repr or summary holds a secret header's value (`LoadSpec.to_json` shows `***`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from ..format import json_safe
from .figures import Record, knee_level
from .server_metrics import LoadTimeline
from .spec import LoadSpec


@dataclass
class LoadResult:
    """A finished (or stopped) load test: the spec, the per-level rows, the raw records, and how it ended."""

    spec: LoadSpec
    rows: list[dict[str, Any]]
    records: list[Record]
    stopped: bool = False
    reason: str = ""
    counted_by: str = ""
    server: str = ""
    notes: list[str] = field(default_factory=list)
    #: The end of the load processes' own log (at most `process.LOG_CHARS`, secrets hidden); "" when it is empty.
    log: str = ""
    timeline: LoadTimeline = field(default_factory=LoadTimeline)

    @property
    def knee(self) -> Optional[int]:
        """The index of the last level before output throughput stops growing (< 10 % more), if any."""
        return knee_level(self.rows)

    def to_pandas(self) -> Any:
        """One row per level (see docs/metrics.md, "Load tests")."""
        import pandas as pd

        frame = pd.DataFrame(self.rows)
        if not frame.empty:
            frame["errors_by_kind"] = frame["errors_by_kind"].map(lambda kinds: json.dumps(kinds, sort_keys=True))
        return frame

    def requests(self) -> Any:
        """One row per request: level, outcome, warm-up flag, send time, TTFT, e2e, tokens, chunk offsets (ms)."""
        import pandas as pd

        from .figures import request_figures
        from .phases import request_phases

        rows = []
        for record in self.records:
            figures = request_figures(record) if record.get("outcome") == "ok" else {}
            rows.append(
                {
                    "level": record.get("level"),
                    "load": self.spec.levels[record["level"]].label if record.get("level") is not None else None,
                    "outcome": record.get("outcome"),
                    "warmup": bool(record.get("warmup")),
                    "error": record.get("error"),
                    "sent": record.get("sent"),
                    "queue_ms": (record["sent"] - record["arrival"]) * 1000.0 if record.get("arrival") else None,
                    "ttft_ms": figures.get("ttft"),
                    "tt2t_ms": figures.get("tt2t"),
                    "tpot_ms": figures.get("tpot"),
                    "e2e_ms": record.get("end_ms"),
                    "prompt_tokens": record.get("prompt_tokens"),
                    "output_tokens": record.get("output_tokens"),
                    "server_timings": record.get("timings"),
                    "offsets_ms": list(record.get("offsets_ms") or []),
                    **request_phases(record),
                }
            )
        return pd.DataFrame(rows)

    def server_metrics(self) -> Any:
        """The server's scraped series, one row per sample and series: `t_s`, `metric`, `value`, `level`."""
        return self.timeline.frame()

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-safe."""
        return json_safe(
            {
                "spec": self.spec.to_json(),
                "levels": self.rows,
                "requests": self.records,
                "stopped": self.stopped,
                "reason": self.reason,
                "counted_by": self.counted_by,
                "server": self.server,
                "knee": self.knee,
                "notes": self.notes,
                "log": self.log,
                "timeline": self.timeline.to_dict(),
            }
        )

    def to_json(self, path: Union[str, Path, None] = None) -> str:
        """The whole result as JSON (written to `path` if given)."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            Path(path).write_text(text)
        return text

    def to_csv(self, path: Union[str, Path, None] = None) -> str:
        """The level rows as CSV (written to `path` if given)."""
        text = str(self.to_pandas().to_csv(index=False))
        if path is not None:
            Path(path).write_text(text)
        return text

    def summary(self) -> str:
        """One line per level: load, req/s, output tok/s, TTFT and gap p50/p99, goodput, errors."""
        overloads = [row["overload"] for row in self.rows if row.get("overload")]
        levels = [line for row in self.rows for line in (level_line(row), row.get("where_time_went")) if line]
        return "\n".join([self.title(), *levels, *overloads, *self.footnotes()])

    def footnotes(self) -> list[str]:
        """The knee, how the test ended, and what counted the tokens."""
        lines = []
        if self.knee is not None:
            knee_row = next(row for row in self.rows if row["level"] == self.knee)
            lines.append(f"knee: {knee_row['load']} (the next level adds < 10 % output tok/s)")
        if self.stopped:
            lines.append(f"stopped: {self.reason or 'by you'}; the levels measured so far are kept")
        return lines + list(self.notes)

    def title(self) -> str:
        """`Load test of URL: 128→64 tokens, chat, 4 levels`."""
        spec = self.spec
        return (
            f"Load test of {self.server or spec.url}: {spec.prompt_tokens}→{spec.output_tokens} tokens, "
            f"{spec.api}, {len(self.rows)}/{len(spec.levels)} levels"
        )

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        from .render import load_html

        labels = [level.label for level in self.spec.levels]
        return load_html(self.title(), self.rows, self.records, labels, self.footnotes(), self.timeline)


def _fmt(value: Optional[float], digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def level_line(row: dict[str, Any]) -> str:
    """One level in words."""
    goodput = "" if row.get("goodput_fraction") is None else f", goodput {100 * row['goodput_fraction']:.0f} %"
    errors = f", {row['errors']} errors" if row.get("errors") else ""
    if row.get("errors_by_kind"):
        errors += " (" + ", ".join(f"{kind} {n}" for kind, n in sorted(row["errors_by_kind"].items())) + ")"
    if row.get("overloaded"):
        errors += ", OVERLOADED"
    return (
        f"{row['load']:>10}: {_fmt(row.get('request_rate'), 2)} req/s, {_fmt(row.get('output_tps'), 1)} tok/s out, "
        f"TTFT p50 {_fmt(row.get('ttft_p50_ms'))} ms / p99 {_fmt(row.get('ttft_p99_ms'))} ms, "
        f"gap p50 {_fmt(row.get('itl_p50_ms'), 1)} ms / p99 {_fmt(row.get('itl_p99_ms'), 1)} ms{goodput}{errors}"
    )


def records_of(records: Sequence[Record], level: int) -> list[Record]:
    """The records of one level."""
    return [r for r in records if r.get("level") == level]
