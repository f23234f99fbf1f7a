"""Settling what admission charged a request with what it used, on the backend that admitted it.

Admission charges an estimate when a request comes in (`router.stages.admission`); when the
request ends, its record half hands the ticket and the outcome here. On the memory backend the
settlement is made at once. On a shared backend (Redis) it runs in the background, so that a
JSON response is not held back by a round trip to Redis, and it is retried while Redis does not
answer: the concurrency slot the request holds in Redis is released in Redis once Redis answers
again, rather than held until its lease expires (a 10 s Redis stall once held 37 slots for about
180 s). When the lease would be over, the usage is settled locally so that it is kept at least.

An owner built once in `build_app`: the admission stage hands it tickets, the app's lifespan
drains it at shutdown.
"""

from __future__ import annotations

import asyncio

from router.clock import Clock
from router.limits.backend import AdmissionTicket, Outcome
from router.limits.fallback import BACKEND_ERRORS, FallbackLimits

# A settlement the shared backend could not take is tried again this often, for as long as its
# lease would live.
SETTLE_RETRY_S = 1.0
# At shutdown, settlements still waiting for the shared backend get this long.
DRAIN_SETTLE_S = 5.0


class Settlements:
    def __init__(self, limits: FallbackLimits, clock: Clock) -> None:
        self._limits = limits
        self._local = limits.local
        self._clock = clock
        self._running: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        """Settlements still waiting for the shared backend."""
        return len(self._running)

    def settle(self, ticket: AdmissionTicket, outcome: Outcome) -> None:
        """Settle `ticket` with `outcome`: at once in memory, in the background on a shared
        backend."""
        wall_s = self._clock.wall()
        if ticket.backend is self._local:
            self._local.settle_now(ticket.charge, ticket.limits, outcome, wall_s)
            self._limits.used_locally()
            return
        task = asyncio.get_running_loop().create_task(self._on_shared(ticket, outcome, wall_s))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def drain(self) -> None:
        """Wait for settlements still running (at shutdown), those retrying a stalled shared
        backend at most `DRAIN_SETTLE_S`."""
        if self._running:
            _, waiting = await asyncio.wait(self._running, timeout=DRAIN_SETTLE_S)
            for task in waiting:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)

    async def _on_shared(self, ticket: AdmissionTicket, outcome: Outcome, wall_s: float) -> None:
        """On the backend that admitted the request, so that its concurrency slot is released
        where it is held; retried while the slot would live, then settled locally."""
        charge, limits, backend = ticket.charge, ticket.limits, ticket.backend
        lease_ends_s = charge.wall_s + charge.lease_s
        while True:
            try:
                await backend.settle(charge, limits, outcome, wall_s)
                return
            except BACKEND_ERRORS:
                if self._clock.wall() + SETTLE_RETRY_S >= lease_ends_s:
                    break
            await self._clock.sleep(SETTLE_RETRY_S)
        self._local.settle_now(charge, limits, outcome, wall_s)  # the usage, at least, is kept
        self._limits.used_locally()
