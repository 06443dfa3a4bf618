"""Prove a native engine build in a child process before the kernel trusts it.

Some hosts advertise CPU features that fault when used (seen: AMX in cloud VMs,
where llama.cpp dies with SIGSEGV on its first decode). A fault inside the
kernel's process would take the user's whole session with it, so before an
engine build is first used on a machine, a child process loads the model and
decodes a few tokens. If the child dies by a signal, the next, safer step is
tried. The verdict is cached per engine version, CPU flags and kernel release,
so later loads cost nothing extra.

The child is `python -m xybrid_notebook.backends.probe_child TARGET MODEL SETTINGS_JSON`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

from ..errors import BackendUnavailable
from ..models import cache_dir

PROBE_TIMEOUT_S = 180.0
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class ProbeStep:
    """One way to run an engine: its settings, a short label, and what to tell the user if it is chosen."""

    label: str
    settings: dict[str, Any] = field(default_factory=dict)
    note: Optional[str] = None


@dataclass(frozen=True)
class ProbePlan:
    """What to prove for one engine: the function the child runs, and the steps from fastest to safest."""

    engine: str
    package: str
    target: str
    steps: Sequence[ProbeStep]


@dataclass
class ProbeVerdict:
    """The step that survived on this machine, and what was tried before it."""

    engine: str
    label: str
    settings: dict[str, Any]
    note: Optional[str]
    tried: list[str]
    seconds: float
    cached: bool = False

    @property
    def is_default(self) -> bool:
        """True when the engine runs with its own defaults (nothing was turned off)."""
        return not self.settings


def cpu_flags() -> str:
    """The CPU feature flags the kernel reports (x86 `flags`, Arm `Features`), sorted."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                name, _, value = line.partition(":")
                if name.strip() in ("flags", "Features"):
                    return " ".join(sorted(value.split()))
    except OSError:
        pass
    return platform.processor()


def machine_key(package: str) -> str:
    """Engine package version, CPU flags and kernel release: what decides whether a build faults here."""
    try:
        version = metadata.version(package)
    except metadata.PackageNotFoundError:
        version = "unknown"
    return "|".join([package, version, platform.machine(), platform.release(), cpu_flags()])


def _verdict_path(plan: ProbePlan) -> Path:
    digest = hashlib.sha256(machine_key(plan.package).encode()).hexdigest()[:16]
    return cache_dir() / "probes" / f"{plan.engine}-{digest}.json"


def _read_cached(plan: ProbePlan) -> Optional[ProbeVerdict]:
    try:
        data = json.loads(_verdict_path(plan).read_text(encoding="utf-8"))
        if data.pop("format") != _FORMAT_VERSION:
            return None
        return ProbeVerdict(**data, cached=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cached(plan: ProbePlan, verdict: ProbeVerdict) -> None:
    path = _verdict_path(plan)
    data = {"format": _FORMAT_VERSION, **asdict(verdict)}
    data.pop("cached")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(data, indent=1), encoding="utf-8")
        partial.replace(path)
    except OSError:  # a read-only cache costs a probe per process, nothing worse
        pass


def signal_name(returncode: int) -> str:
    """ "SIGSEGV" for -11, and so on."""
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


@dataclass(frozen=True)
class _ChildResult:
    crashed: bool
    detail: str


def _run_child(plan: ProbePlan, step: ProbeStep, model_path: Path) -> _ChildResult:
    child = f"{__package__}.probe_child"
    command = [sys.executable, "-m", child, plan.target, str(model_path), json.dumps(step.settings)]
    # The child imports what this process can import, a backend added to sys.path by hand included.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=PROBE_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        return _ChildResult(True, f"no answer within {PROBE_TIMEOUT_S:.0f} s")
    if done.returncode < 0:
        return _ChildResult(True, signal_name(done.returncode))
    if done.returncode != 0:
        last = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return _ChildResult(False, last[-1] if last else f"exit status {done.returncode}")
    return _ChildResult(False, "ok")


def prove_engine(
    plan: ProbePlan, model_path: Path, run_child: Optional[Callable[..., _ChildResult]] = None
) -> ProbeVerdict:
    """The first step of `plan` that survives in a child process (cached per machine).

    A child that dies by a signal or hangs moves on to the next step. A child
    that fails with an ordinary error (say, the model file) is no verdict on the
    engine: the defaults are used and nothing is cached, so the load in the
    kernel reports that error itself. `BackendUnavailable` when every step crashed.
    `run_child` replaces the child process in unit tests of the policy.
    """
    cached = _read_cached(plan)
    if cached is not None:
        return cached
    run = run_child or _run_child
    started = time.perf_counter()
    tried: list[str] = []
    for step in plan.steps:
        result = run(plan, step, model_path)
        if result.crashed:
            tried.append(f"{step.label}: {result.detail}")
            continue
        verdict = ProbeVerdict(
            plan.engine, step.label, dict(step.settings), step.note, tried, time.perf_counter() - started
        )
        if result.detail == "ok":
            _write_cached(plan, verdict)
        return verdict
    raise BackendUnavailable(
        f"{plan.engine} crashes on this machine ({'; '.join(tried)}), so it was not loaded into the kernel: "
        f"try another backend, or reinstall {plan.package} built for this CPU"
    )
