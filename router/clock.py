"""Injected time, so estimators, health and limits are exact in tests.

`now()` is monotonic seconds, for everything that measures durations. `wall()` is seconds since
the Unix epoch, read only where a calendar matters (budgets per UTC day and month) or where
router processes must agree on time (limits shared through Redis).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def wall(self) -> float: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


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
