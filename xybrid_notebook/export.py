"""The run history out of the session: JSON (every figure, per-chunk timings), CSV and a DataFrame (a row per run)."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import InvalidInput
from .session import RunRecord
from .types import GenerationOutput

CSV_COLUMNS = [
    "index",
    "started_at",
    "mode",
    "backend",
    "model_id",
    "execution_provider",
    "prompt",
    "max_tokens",
    "temperature",
    "tokens_generated",
    "prompt_tokens",
    "prompt_cached_tokens",
    "emitted_chunks",
    "generation_time_ms",
    "ttft_ms",
    "mean_itl_ms",
    "p50_itl_ms",
    "p95_itl_ms",
    "p99_itl_ms",
    "decode_tps",
    "prefill_tps",
    "engine_decode_tps",
    "engine_prefill_tps",
    "tokens_per_second",
    "finish_reason",
    "engine_settings",
    "other_cpu_cores_mean",
    "other_cpu_cores_peak",
    "engine_cpu_cores_mean",
]
PHASE_NAMES = (  # every phase a built-in backend marks (see docs/metrics.md); a run has only some of them
    "prepare",
    "prefill",
    "decode",
    "engine",
    "sample",
    "text",
    "connect",
    "send",
    "server_queue",
    "server_prefill",
    "server_decode",
    "transport",
    "client",
)
SHARE_COLUMNS = [f"share_{name}" for name in PHASE_NAMES] + ["stalls", "stall_share"]
CSV_COLUMNS += SHARE_COLUMNS
FORMATS = (".json", ".csv")


def csv_row(record: RunRecord) -> dict[str, Any]:
    """One run as the CSV export's columns (the history DataFrame's too)."""
    data = record.to_dict()
    row = {**data.pop("output"), **data}
    row.update(max_tokens=record.config.max_tokens, temperature=record.config.temperature)
    row.update(phase_share_columns(record.output))
    return {column: row.get(column) for column in CSV_COLUMNS}


def phase_share_columns(output: GenerationOutput) -> dict[str, Any]:
    """`share_<phase>` for each phase the run kept, the stall count and the share of time stalls added."""
    shares = {f"share_{name}": share for name, share in output.phase_shares().items()}
    if not output.phases_ms:
        return shares
    return {**shares, "stalls": len(output.stalls), "stall_share": output.stall_share()}


def history_frame(records: Sequence[RunRecord]) -> Any:
    """One row per run, with the CSV export's columns; `started_at` is a timestamp."""
    import pandas as pd

    frame = pd.DataFrame([csv_row(record) for record in records], columns=CSV_COLUMNS)
    frame["started_at"] = pd.to_datetime(frame["started_at"])
    return frame


def _csv_text(records: Sequence[RunRecord]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(csv_row(record) for record in records)
    return buffer.getvalue()


def _json_text(records: Sequence[RunRecord]) -> str:
    return json.dumps({"runs": [r.to_dict() for r in records]}, indent=1, allow_nan=False)


def check_export_path(path: Path, force: bool) -> Path:
    """Refuse paths that cannot be written as the user meant, each with a one-line reason."""
    if path.suffix.lower() not in FORMATS:
        raise InvalidInput(f"cannot export to {path.name!r}: use a .json or .csv file name")
    if path.is_dir():
        raise InvalidInput(f"{path} is a folder: give a file name inside it, e.g. {path / 'runs.json'}")
    if not path.parent.is_dir():
        raise InvalidInput(f"the folder {path.parent} does not exist: create it first")
    if os.path.lexists(path) and not force:
        raise InvalidInput(f"{path} already exists: choose another name or add --force to overwrite it")
    return path


def export_history(records: Sequence[RunRecord], path: str | Path, force: bool = False) -> Path:
    """Write the history to `path` (.json or .csv); never overwrites without `force`."""
    target = check_export_path(Path(path).expanduser(), force)
    text = _json_text(records) if target.suffix.lower() == ".json" else _csv_text(records)
    # "x" creates the file exclusively (and does not follow a symlink onto an existing file).
    with target.open("w" if force else "x", encoding="utf-8", newline="") as handle:
        handle.write(text)
    return target
