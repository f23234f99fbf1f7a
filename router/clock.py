"""Injected time, so estimators, health and limits are exact in tests.

`now()` is monotonic seconds, for everything that measures durations. `wall()` is seconds since
the Unix epoch, read only where a calendar matters (budgets per UTC day and month) or where
router processes must agree on time (limits shared through Redis). The tests' clock, which moves
only when told to, is `tests/fake_clock.py`.
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
