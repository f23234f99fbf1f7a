"""Injected time, so estimators, health and limits are exact in tests.

`now()` is monotonic seconds, for everything that measures durations. `wall()` is seconds since
the Unix epoch, read only where a calendar matters (budgets per UTC day and month) or where
router processes must agree on time (limits shared through Redis). The tests' clock, which moves
only when told to, is `tests/fake_clock.py`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def wall(self) -> float: ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` on this clock (a hedge's delay: scripted in tests)."""
        ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
