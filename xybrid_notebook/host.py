"""What else ran on the machine during a generation: CPU taken by other processes and by our own.

On a small machine the browser, the Jupyter server and the engine share the
cores, and llama.cpp's threads wait for the slowest of them. A gap that looks
like the engine's may be another process's. A daemon thread samples system-wide
and own-process CPU time about ten times a second, off the token path, so the
figures of a run can say how much they may have been inflated.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import psutil

SAMPLE_INTERVAL_S = 0.1
NOTICEABLE_CORES = 0.2  # other processes' mean load above this is reported with the run


@dataclass(frozen=True)
class HostLoad:
    """CPU use during one run, in cores (1.0 = one core busy for the whole run)."""

    other_cpu_cores_mean: float
    other_cpu_cores_peak: float
    engine_cpu_cores_mean: float
    samples: int


def interference_note(other_cores_mean: Optional[float]) -> Optional[str]:
    """A warning in words when other processes took a noticeable share of the CPU, else None."""
    if other_cores_mean is None or other_cores_mean <= NOTICEABLE_CORES:
        return None
    return f"other processes used {other_cores_mean:.1f} cores: gaps may be inflated"


class _Reading:
    __slots__ = ("wall", "system_busy", "own")

    def __init__(self, process: psutil.Process) -> None:
        import psutil

        times = psutil.cpu_times()
        own = process.cpu_times()
        self.wall = time.perf_counter()
        self.system_busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        self.own = own.user + own.system


class HostSampler:
    """Samples CPU use in a daemon thread between `start()` and `stop()`; `stop()` returns the figures."""

    def __init__(self, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        import psutil  # imported here so that the plain data types need no native module

        self.interval_s = interval_s
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._first: Optional[_Reading] = None
        self._other: list[float] = []

    def start(self) -> HostSampler:
        """Take the first reading and begin sampling."""
        self._first = previous = _Reading(self._process)
        self._stop.clear()

        def sample() -> None:
            nonlocal previous
            while not self._stop.wait(self.interval_s):
                current = _Reading(self._process)
                self._other.append(_other_cores(previous, current))
                previous = current

        self._thread = threading.Thread(target=sample, name="xybrid-host-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Optional[HostLoad]:
        """Stop sampling; the run's figures (None if the run was too short to measure)."""
        if self._thread is None or self._first is None:
            return None
        self._stop.set()
        self._thread.join()
        last = _Reading(self._process)
        elapsed = last.wall - self._first.wall
        if elapsed <= 0:
            return None
        other_mean = _other_cores(self._first, last)
        return HostLoad(
            other_cpu_cores_mean=other_mean,
            other_cpu_cores_peak=max(self._other, default=other_mean),
            engine_cpu_cores_mean=max(last.own - self._first.own, 0.0) / elapsed,
            samples=len(self._other),
        )


def _other_cores(before: _Reading, after: _Reading) -> float:
    elapsed = after.wall - before.wall
    if elapsed <= 0:
        return 0.0
    busy = after.system_busy - before.system_busy
    own = after.own - before.own
    return max(busy - own, 0.0) / elapsed
