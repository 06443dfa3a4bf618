"""Servers for load tests on loopback: llama.cpp's real llama-server, and a stub streaming at a fixed cadence."""

from __future__ import annotations

from collections.abc import Iterator

import psutil
import pytest

from benchmarks.cadence_server import CadenceServer


@pytest.fixture
def cadence_server() -> Iterator[CadenceServer]:
    """A stub streaming every 20 ms."""
    server = CadenceServer(20.0)
    yield server
    try:
        server.close()
    except RuntimeError:
        pass


def alive(pids: list[int]) -> list[int]:
    """The pids among `pids` still running (zombies count as gone)."""
    left = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            continue
    return left
