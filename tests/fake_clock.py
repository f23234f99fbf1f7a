"""A clock for tests: it moves only when told to (`router.clock.Clock`)."""

from __future__ import annotations

# 2026-01-15T00:00:00Z: a fake wall clock starts mid-month, far from a period boundary.
FAKE_WALL_START_S = 1_768_435_200.0


class FakeClock:
    """A clock that moves only when told to; both readings advance together."""

    def __init__(self, start: float = 1000.0, wall_start: float = FAKE_WALL_START_S) -> None:
        self._now = start
        self._wall_offset = wall_start - start

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        self._now += seconds
