"""A clock for tests: it moves only when told to (`router.clock.Clock`)."""

from __future__ import annotations

import asyncio

# 2026-01-15T00:00:00Z: a fake wall clock starts mid-month, far from a period boundary.
FAKE_WALL_START_S = 1_768_435_200.0


class FakeClock:
    """A clock that moves only when told to; both readings advance together."""

    def __init__(self, start: float = 1000.0, wall_start: float = FAKE_WALL_START_S) -> None:
        self._now = start
        self._wall_offset = wall_start - start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    async def sleep(self, seconds: float) -> None:
        """Returns once `advance` has moved the clock `seconds` on."""
        waking = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + seconds, waking))
        await waking

    def advance(self, seconds: float) -> None:
        self._now += seconds
        due = [(at, waking) for at, waking in self._sleepers if at <= self._now]
        self._sleepers = [(at, waking) for at, waking in self._sleepers if at > self._now]
        for _, waking in due:
            if not waking.done():
                waking.set_result(None)
