"""Real telemetry receivers on loopback for the tests: Debian's Prometheus, and an MLflow tracking server.

Prometheus is Debian's package (`make test` installs it); it scrapes the endpoint the
session serves. MLflow lives in a virtual environment of its own, made once under
`<cache>/receivers/mlflow-<version>/` (never in the project's environment): its
`mlflow server` takes OTLP/HTTP traces at `/v1/traces` into SQLite, and its client reads
them back. Where one cannot be had, `unavailable()` says why, and its tests skip saying so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

from xybrid_notebook.models import cache_dir

MLFLOW_VERSION = "3.17.2"
PROMETHEUS = Path("/usr/bin/prometheus")


def mlflow_root() -> Path:
    """The MLflow virtual environment's folder."""
    return cache_dir() / "receivers" / f"mlflow-{MLFLOW_VERSION}"


def ensure_mlflow() -> Optional[str]:
    """Make MLflow's environment if it is missing (a minute or two); None if ready, else why not in one line."""
    root = mlflow_root()
    marker = root / ".installed"
    if marker.exists():
        return None
    shutil.rmtree(root, ignore_errors=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, capture_output=True)
        subprocess.run(
            [str(root / "bin" / "pip"), "install", "--quiet", f"mlflow=={MLFLOW_VERSION}"],
            check=True,
            capture_output=True,
            timeout=900,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        tail = getattr(exc, "stderr", b"") or b""
        return f"MLflow {MLFLOW_VERSION} could not be installed: {tail.decode(errors='replace')[-300:] or exc}"
    marker.write_text(MLFLOW_VERSION)
    return None


def mlflow_server_argv(port: int, store: Path) -> list[str]:
    """`mlflow server` on 127.0.0.1:port with a SQLite store in `store`."""
    return [
        str(mlflow_root() / "bin" / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{store / 'mlflow.db'}",
        "--default-artifact-root",
        str(store / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]


READ_TRACES = """
import json, sys, mlflow
mlflow.set_tracking_uri(sys.argv[1])
traces = mlflow.search_traces(locations=[sys.argv[2]], return_type="list", max_results=200)
out = []
for trace in traces:
    for span in trace.data.spans:
        out.append({"trace_id": trace.info.trace_id, "name": span.name, "span_id": span.span_id,
                    "parent_id": span.parent_id, "attributes": span.attributes})
print(json.dumps(out, default=str))
"""


def mlflow_spans(url: str, experiment_id: str = "0") -> list[dict[str, Any]]:
    """Every span of the experiment's traces, read back with MLflow's own client."""
    done = subprocess.run(
        [str(mlflow_root() / "bin" / "python"), "-c", READ_TRACES, url, experiment_id],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def prometheus_config(path: Path, target_port: int) -> Path:
    """A Prometheus configuration that scrapes 127.0.0.1:target_port every second."""
    path.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: xybrid\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{target_port}']\n"
    )
    return path
