"""A clock that only a scripted engine's sleep moves: exact timing arithmetic for the view tests."""

from __future__ import annotations


class FakeTime:
    """Seconds since the start; `sleep` advances them, `now` and `ns` read them."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        """Seconds (for throttles)."""
        return self.t

    def ns(self) -> int:
        """Nanoseconds (for a `ChunkClock`)."""
        return round(self.t * 1e9)

    def sleep(self, seconds: float) -> None:
        """What the scripted engine calls between chunks."""
        self.t += seconds
