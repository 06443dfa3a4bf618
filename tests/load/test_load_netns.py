"""A Locust worker on another host, really: the master in one network namespace, the worker in another, joined by
a veth pair with link-local addresses. The worker's records merge; tearing its namespace down mid-level ends the
test soon, keeps every record that arrived, and names the lost worker. Needs root (`ip netns`); skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from xybrid_notebook.load import build_spec, run_load_test
from xybrid_notebook.load import process as load_process
from xybrid_notebook.load.workload import Workload

from .conftest import alive

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
MASTER_ADDR, WORKER_ADDR, MASTER_PORT = "169.254.77.1", "169.254.77.2", 5557
#: How long after the worker's namespace is gone the test must have ended.
LOST_WORKER_BOUND_S = 60.0
STUB = (
    "import sys\nfrom benchmarks.cadence_server import CadenceServer\n"
    "server = CadenceServer(20.0)\nprint(server.port, flush=True)\nsys.stdin.read()\n"
)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _kill_namespace(name: str) -> None:
    """SIGKILL every process in the namespace, then delete it (its end of the veth goes with it)."""
    listed = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, timeout=10)
    for pid in listed.stdout.split():
        try:
            os.kill(int(pid), 9)
        except ProcessLookupError:
            continue
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    """Two namespaces (master, worker) joined by a veth pair: 169.254.77.1 and .2, each with its loopback up."""
    tag = f"{os.getpid() % 100000}"
    master, worker = f"xyb-m{tag}", f"xyb-w{tag}"
    if shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("ip netns needs root and iproute2: not available here")
    made: list[str] = []
    try:
        for name in (master, worker):
            _ip("netns", "add", name)
            made.append(name)
    except subprocess.CalledProcessError as exc:
        for name in made:
            _kill_namespace(name)
        pytest.skip(f"ip netns is not allowed here: {exc.stderr.decode(errors='replace').strip()}")
    try:
        _ip("link", "add", f"xym{tag}", "type", "veth", "peer", "name", f"xyw{tag}")
        for name, end, address in ((master, f"xym{tag}", MASTER_ADDR), (worker, f"xyw{tag}", WORKER_ADDR)):
            _ip("link", "set", end, "netns", name)
            _ip("-n", name, "addr", "add", f"{address}/30", "dev", end)
            _ip("-n", name, "link", "set", end, "up")
            _ip("-n", name, "link", "set", "lo", "up")
        yield master, worker
    finally:
        for name in (master, worker):
            _kill_namespace(name)
        subprocess.run(["ip", "link", "del", f"xym{tag}"], capture_output=True, timeout=10)


def _in(namespace: str, argv: list[str], **options: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(["ip", "netns", "exec", namespace, *argv], cwd=ROOT, env=env, text=True, **options)


def test_a_worker_in_another_namespace_merges_and_its_loss_is_named(
    namespaces: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    master_ns, worker_ns = namespaces
    # The server the worker loads: a stub on the worker namespace's own loopback.
    stub = _in(worker_ns, [sys.executable, "-c", STUB], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert stub.stdout is not None
    url = f"http://127.0.0.1:{stub.stdout.readline().strip()}/v1"
    spec = build_spec(
        url, concurrency=[2], duration_s=120.0, output_tokens=8, master_bind=f"{MASTER_ADDR}:{MASTER_PORT}"
    )
    spec = replace(spec, model="stub")  # the kernel's namespace cannot reach that loopback to ask
    workload = Workload([f"prompt {i}" for i in range(64)], "test prompts")
    original = load_process.controller_argv
    monkeypatch.setattr(
        load_process, "controller_argv", lambda path: ["ip", "netns", "exec", master_ns, *original(path)]
    )
    worker_argv = [sys.executable, "-m", "xybrid_notebook.load", "worker", "--master", f"{MASTER_ADDR}:{MASTER_PORT}"]
    workers: list[subprocess.Popen[str]] = []
    pids: list[int] = []
    torn_down = [0.0]

    def start_worker(process: load_process.LoadProcess) -> None:
        pids.append(process.process.pid)
        workers.append(_in(worker_ns, worker_argv, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def tear_down_when_records_came(progress: Any) -> None:
        if not torn_down[0] and len(progress.records) >= 10:
            _kill_namespace(worker_ns)
            torn_down[0] = time.monotonic()

    result = run_load_test(spec, workload, on_process=start_worker, on_progress=tear_down_when_records_came)
    ended_after_s = time.monotonic() - torn_down[0]
    stub.wait(5)
    assert torn_down[0] and ended_after_s < LOST_WORKER_BOUND_S
    worker_pid = workers[0].pid  # `ip netns exec` runs python in its own process
    assert {r["pid"] for r in result.records} == {worker_pid}  # the worker's raw records came over the veth
    assert result.rows[0]["requests"] >= 8 and result.stopped
    assert f"lost Locust worker {WORKER_ADDR}" in result.reason and f"pid {worker_pid}" in result.reason
    assert any(WORKER_ADDR in note for note in result.notes)
    assert alive(pids) == []
