"""One measuring loop for every experiment: a run order (a grid, or A,B,A,B), warm-up, Stop and progress.

`grid_order` runs each configuration's warm-up and repetitions before the next
(a sweep); `interleaved_order` alternates the configurations run by run (an A/B).
`measure` runs an order, records every repetition after the warm-up, reports
`Progress` after each run, and ends cleanly on Stop, an interrupt or `should_stop`,
keeping what it measured. It never renders anything: views listen to `on_progress`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Optional

from ..metrics import ChunkClock
from .measures import ConfigResult, Repetition
from .params import SweepConfig, swept_parameters
from .runners import ClockFactory, Runners

#: One run of the order: which configuration, and whether it is recorded (False: warm-up).
Step = tuple[int, bool]


def grid_order(configs: int, warmup: int, repetitions: int) -> list[Step]:
    """Each configuration's warm-up runs, then its repetitions, before the next configuration."""
    return [(c, i >= warmup) for c in range(configs) for i in range(warmup + repetitions)]


def interleaved_order(configs: int, warmup: int, repetitions: int) -> list[Step]:
    """Run i of every configuration before run i + 1 of any: A, B, A, B, ... (warm-up rounds first)."""
    return [(c, i >= warmup) for i in range(warmup + repetitions) for c in range(configs)]


@dataclass
class Progress:
    """Where an experiment is: runs done, the configuration running, what has finished, the time left."""

    done_runs: int
    total_runs: int
    elapsed_s: float
    current: Optional[SweepConfig]
    swept: list[str]
    finished: Optional[ConfigResult] = None
    results: list[ConfigResult] = field(default_factory=list)

    @property
    def eta_s(self) -> Optional[float]:
        """Seconds left, from the mean time per run so far."""
        if self.done_runs == 0:
            return None
        return self.elapsed_s / self.done_runs * (self.total_runs - self.done_runs)


@dataclass
class Measured:
    """What a loop recorded: every configuration's repetitions (finished or not), and whether it stopped early."""

    threads: list[Optional[int]]
    recorded: list[list[Repetition]]
    finished: list[ConfigResult]
    stopped: bool


def measure(
    configs: Sequence[SweepConfig],
    order: Sequence[Step],
    runners: Runners,
    *,
    clock_factory: ClockFactory = ChunkClock,
    on_progress: Optional[Callable[[Progress], None]] = None,
    should_stop: Optional[Callable[[], bool]] = None,
) -> Measured:
    """Run `order` over `configs`; a configuration is finished when its last run is done (in order of finishing)."""
    configs = list(configs)
    swept = swept_parameters(configs)
    left = [sum(1 for c, _ in order if c == index) for index in range(len(configs))]
    measured = Measured([None] * len(configs), [[] for _ in configs], [], stopped=False)
    started, done = time.monotonic(), 0

    def report(current: Optional[SweepConfig], finished: Optional[ConfigResult] = None) -> None:
        if on_progress is not None:
            elapsed = time.monotonic() - started
            on_progress(Progress(done, len(order), elapsed, current, swept, finished, measured.finished))

    try:
        for index, recorded in order:
            config = configs[index]
            runner = runners.for_config(config)
            measured.threads[index] = runner.threads_used(config)
            if done == 0 or order[done - 1][0] != index:
                report(config)
            if should_stop is not None and should_stop():
                raise KeyboardInterrupt
            began = time.time()
            rep = runner.run(config, clock_factory)
            rep.started_s, rep.ended_s = began, time.time()
            if recorded:
                measured.recorded[index].append(rep)
            done += 1
            left[index] -= 1
            report(config)
            if left[index] == 0:
                finished = ConfigResult(config, measured.threads[index], measured.recorded[index])
                measured.finished.append(finished)
                report(None, finished)
    except KeyboardInterrupt:
        measured.stopped = True
    return measured
