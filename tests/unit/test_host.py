"""The interference sampler: real CPU readings of this process and of another one."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from xybrid_notebook.host import NOTICEABLE_CORES, HostSampler, interference_note

BUSY_LOOP = "import time\nend = time.time() + {s}\nwhile time.time() < end: pass\n"


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_own_busy_work_counts_as_the_engine_not_as_others() -> None:
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    sampler = HostSampler().start()
    spin(0.6)
    load = sampler.stop()
    own_cores = (time.process_time() - cpu_before) / (time.perf_counter() - wall_before)
    assert load is not None and load.samples >= 3
    assert abs(load.engine_cpu_cores_mean - own_cores) < 0.1  # the machine may be busy: compare, not expect 1.0
    assert own_cores > 0.1


def test_another_process_spinning_is_reported_as_interference() -> None:
    other = subprocess.Popen([sys.executable, "-c", BUSY_LOOP.format(s=2.0)])
    watched = psutil.Process(other.pid)
    try:
        time.sleep(0.3)  # let it start
        spent_before, wall_before = sum(watched.cpu_times()[:2]), time.perf_counter()
        sampler = HostSampler().start()
        time.sleep(0.8)
        load = sampler.stop()
        spinner_cores = (sum(watched.cpu_times()[:2]) - spent_before) / (time.perf_counter() - wall_before)
    finally:
        other.wait(10)
    assert load is not None
    if spinner_cores < 0.3:
        pytest.skip(f"the machine is too busy to tell: the spinner got only {spinner_cores:.2f} cores")
    assert load.other_cpu_cores_mean >= spinner_cores - 0.1  # the spinner is among the others
    assert load.other_cpu_cores_peak >= load.other_cpu_cores_mean - 0.1
    assert load.engine_cpu_cores_mean < 0.2  # we slept
    assert interference_note(load.other_cpu_cores_mean) is not None


def test_other_cores_are_system_busy_time_minus_our_own_per_second() -> None:
    from xybrid_notebook.host import _other_cores, _Reading

    before, after = object.__new__(_Reading), object.__new__(_Reading)
    before.wall, before.system_busy, before.own = 10.0, 100.0, 5.0
    after.wall, after.system_busy, after.own = 10.5, 101.2, 5.4  # 1.2 s busy in 0.5 s, 0.4 s of it ours
    assert _other_cores(before, after) == pytest.approx(1.6)
    after.own = 6.5  # never negative, even when counters tick unevenly
    assert _other_cores(before, after) == 0.0


def test_the_note_speaks_only_above_the_threshold() -> None:
    assert interference_note(None) is None
    assert interference_note(NOTICEABLE_CORES) is None
    assert interference_note(0.43) == "other processes used 0.4 cores: gaps may be inflated"


def test_every_session_run_carries_its_host_load() -> None:
    from xybrid_notebook.backends.scripted import Script, ScriptedBackend
    from xybrid_notebook.session import Session

    session = Session(backend_factory=lambda name: ScriptedBackend(Script(delays_s=(0.15, 0.15, 0.15, 0.15))))
    session.load(backend="scripted")
    out = session.generate("hello")
    assert out.other_cpu_cores_mean is not None and out.other_cpu_cores_peak is not None
    assert out.engine_cpu_cores_mean is not None and out.engine_cpu_cores_mean < 0.5  # it slept
    assert out.to_dict()["other_cpu_cores_mean"] == out.other_cpu_cores_mean
