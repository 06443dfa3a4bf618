"""Run code in a real ipykernel, so widget comm traffic is real, and watch what it sends."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from jupyter_client.manager import start_new_kernel


@dataclass
class KernelRun:
    """What one execution sent on iopub: comm messages with their sizes and arrival times."""

    status: str
    stdout: str
    comm_messages: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""


def _size(msg: dict[str, Any]) -> int:
    content = len(json.dumps(msg["content"], default=str))
    return content + sum(len(memoryview(b).cast("B")) for b in msg.get("buffers", []))


class BenchKernel:
    """A kernel started for the benchmark and shut down at the end."""

    def __init__(self) -> None:
        self.manager, self.client = start_new_kernel(kernel_name="python3")

    def run(self, code: str, timeout: float = 600) -> KernelRun:
        """Execute code; collect stdout and every comm message it caused, with sizes and times."""
        result = KernelRun(status="", stdout="")
        stdout: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            kind = msg["msg_type"]
            if kind in ("comm_msg", "comm_open"):
                data = msg["content"].get("data") or {}
                result.comm_messages.append(
                    {
                        "t": time.monotonic(),
                        "type": kind,
                        "bytes": _size(msg),
                        "comm_id": msg["content"].get("comm_id"),
                        "method": data.get("method"),
                        "keys": sorted(data.get("state", {}).keys()),
                    }
                )
            elif kind == "stream":
                stdout.append(msg["content"]["text"])
            elif kind == "error":
                result.error = "\n".join(msg["content"]["traceback"][-3:])

        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=hook)
        result.status = reply["content"]["status"]
        result.stdout = "".join(stdout)
        return result

    def value(self, expression: str) -> Any:
        """A JSON-able value from the kernel."""
        out = self.run(f"import json as _j; print(_j.dumps({expression}))")
        if out.status != "ok":
            raise RuntimeError(out.error)
        return json.loads(out.stdout.strip().splitlines()[-1])

    def close(self) -> None:
        """Stop the kernel."""
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)
