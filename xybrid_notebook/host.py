"""What else ran on the machine during a generation: CPU taken by other processes and by our own.

On a small machine the browser, the Jupyter server and the engine share the
cores, and llama.cpp's threads wait for the slowest of them. A gap that looks
like the engine's may be another process's. A daemon thread samples system-wide
and own-process CPU time about ten times a second, off the token path, so the
figures of a run can say how much they may have been inflated.

Every other sample it also reads each process's CPU time from `/proc` (Linux), so a
stalled gap can be given the names of the processes that ran during it
(`ProcessTimeline.who_ran`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import psutil

SAMPLE_INTERVAL_S = 0.1
PROCESS_EVERY = 2  # per-process readings every this many samples (a /proc walk costs about 1 ms)
NOTICEABLE_CORES = 0.2  # other processes' mean load above this is reported with the run
NAMED_CORES = 0.05  # a process is named next to a stall when it used at least this many cores then
_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_ticks(skip_pid: int) -> dict[int, tuple[str, int]]:
    """Every process's name and CPU time (user + system, in clock ticks) from `/proc`; {} where there is none."""
    readings: dict[int, tuple[str, int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return readings
    for entry in entries:
        if not entry.isdigit() or int(entry) == skip_pid:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                raw = stat.read()
        except OSError:  # it ended meanwhile
            continue
        open_paren, close_paren = raw.find(b"("), raw.rfind(b")")
        fields = raw[close_paren + 2 :].split()
        if open_paren < 0 or len(fields) < 13:
            continue
        readings[int(entry)] = (
            raw[open_paren + 1 : close_paren].decode(errors="replace"),
            int(fields[11]) + int(fields[12]),
        )
    return readings


@dataclass
class ProcessTimeline:
    """Other processes' CPU use between readings: (start, end, {name: cores}) per interval (perf_counter s)."""

    intervals: list[tuple[float, float, dict[str, float]]] = field(default_factory=list)

    def add(
        self, start: float, end: float, before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]]
    ) -> None:
        """Keep the cores each process name used between two readings (only the names that used any)."""
        if end <= start:
            return
        by_name: dict[str, float] = {}
        for pid, (name, ticks) in after.items():
            used = ticks - before[pid][1] if pid in before else 0
            if used > 0:
                by_name[name] = by_name.get(name, 0.0) + used / _TICKS_PER_S / (end - start)
        self.intervals.append((start, end, by_name))

    def who_ran(self, start: float, end: float, limit: int = 3) -> list[dict[str, float | str]]:
        """The processes that used the most CPU in the readings around [start, end], in cores, busiest first."""
        overlapping = [(a, b, used) for a, b, used in self.intervals if a < end and b > start]
        if not overlapping:
            return []
        span = sum(b - a for a, b, _ in overlapping)
        totals: dict[str, float] = {}
        for a, b, used in overlapping:
            for name, cores in used.items():
                totals[name] = totals.get(name, 0.0) + cores * (b - a) / span
        ranked = sorted(totals.items(), key=lambda item: -item[1])
        return [{"name": name, "cores": round(cores, 2)} for name, cores in ranked[:limit] if cores >= NAMED_CORES]


@dataclass(frozen=True)
class HostLoad:
    """CPU use during one run, in cores (1.0 = one core busy for the whole run), and who else ran when."""

    other_cpu_cores_mean: float
    other_cpu_cores_peak: float
    engine_cpu_cores_mean: float
    samples: int
    processes: ProcessTimeline = field(default_factory=ProcessTimeline)


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
        self._threads: list[threading.Thread] = []
        self._first: Optional[_Reading] = None
        self._other: list[float] = []
        self._timeline = ProcessTimeline()

    def start(self) -> HostSampler:
        """Take the first reading and begin sampling (system-wide, and each process in a thread of its own)."""
        self._first = previous = _Reading(self._process)
        self._stop.clear()

        def sample() -> None:
            nonlocal previous
            while not self._stop.wait(self.interval_s):
                current = _Reading(self._process)
                self._other.append(_other_cores(previous, current))
                previous = current

        self._timeline = ProcessTimeline()
        self._threads = [
            threading.Thread(target=sample, name="xybrid-host-sampler", daemon=True),
            threading.Thread(target=self._walk_processes, name="xybrid-process-sampler", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def _walk_processes(self) -> None:
        """Every process's CPU time every `PROCESS_EVERY` intervals, into the timeline (a /proc walk is slowed
        while the kernel's own Python holds the GIL: it has its own thread, so the system samples keep time)."""
        own_pid, timeline = self._process.pid, self._timeline
        since, before = time.perf_counter(), process_cpu_ticks(own_pid)
        while not self._stop.wait(self.interval_s * PROCESS_EVERY):
            now, after = time.perf_counter(), process_cpu_ticks(own_pid)
            timeline.add(since, now, before, after)
            since, before = now, after
        timeline.add(since, time.perf_counter(), before, process_cpu_ticks(own_pid))

    def stop(self) -> Optional[HostLoad]:
        """Stop sampling; the run's figures (None if the run was too short to measure)."""
        if not self._threads or self._first is None:
            return None
        self._stop.set()
        for thread in self._threads:
            thread.join()
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
            processes=self._timeline,
        )


def _other_cores(before: _Reading, after: _Reading) -> float:
    elapsed = after.wall - before.wall
    if elapsed <= 0:
        return 0.0
    busy = after.system_busy - before.system_busy
    own = after.own - before.own
    return max(busy - own, 0.0) / elapsed


HOG_NAME = "xybrid-hog"
_HOG_SCRIPT = """
import ctypes, os, signal, sys, time
libc = ctypes.CDLL(None)
libc.prctl(15, b"{name}", 0, 0, 0)  # PR_SET_NAME: the name /proc and the stall notes show
libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: it dies with whoever started it
time.sleep({delay})
end = time.perf_counter() + {seconds}
while time.perf_counter() < end:
    pass
"""


def start_cpu_hog(seconds: float, processes: Optional[int] = None, delay_s: float = 0.0) -> list[subprocess.Popen]:
    """Start busy processes (one per core by default), named `xybrid-hog`, that spin for `seconds`
    after `delay_s` and exit: other work to see as stalls. They die with this process."""
    count = processes or len(os.sched_getaffinity(0))
    script = _HOG_SCRIPT.format(name=HOG_NAME, delay=float(delay_s), seconds=float(seconds))
    return [subprocess.Popen([sys.executable, "-c", script]) for _ in range(count)]
