"""A scripted backend on a fake clock: every sweep figure is exact arithmetic on the script's delays."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from xybrid_notebook import LlmConfig
from xybrid_notebook.backends.scripted import Script, ScriptedBackend
from xybrid_notebook.metrics import ChunkClock


@dataclass
class FakeTime:
    """A clock that moves only when the scripted engine sleeps; each run's delays scale by its factor."""

    factors: Sequence[float]
    chunks_per_run: int
    now_ns: int = 0
    sleeps: int = 0
    runs_seen: list[int] = field(default_factory=list)

    def now(self) -> int:
        return self.now_ns

    def sleep(self, seconds: float) -> None:
        run = self.sleeps // self.chunks_per_run
        self.sleeps += 1
        self.now_ns += round(seconds * self.factors[run % len(self.factors)] * 1e9)

    def clock(self) -> ChunkClock:
        return ChunkClock(now=self.now)


@pytest.fixture
def scripted_on_fake_time() -> Callable[..., tuple[ScriptedBackend, FakeTime]]:
    def make(factors: Sequence[float], delays_s: Sequence[float] = (0.2, 0.05, 0.05, 0.05)):
        fake = FakeTime(factors, len(delays_s))
        chunks = tuple(f"w{i}" for i in range(len(delays_s)))
        backend = ScriptedBackend(Script(chunks=chunks, delays_s=delays_s, sleep=fake.sleep))
        backend.load(LlmConfig("scripted.gguf", context_length=256))
        return backend, fake

    return make
