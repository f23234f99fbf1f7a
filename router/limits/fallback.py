"""Which limits backend serves a call: the shared one (Redis) while it answers, the local one while
it does not.

A failed call to Redis marks it down: every call then goes straight to the local memory backend,
and a background probe (a PING every `retry_interval_s`, with the call timeout) finds when Redis
answers again, so that no request pays a timeout to find out (with a request as the probe, one
request per retry interval did: 200 ms each over a partition, tests/network/
test_redis_partition.py). Going down and coming back are logged once each, and show in the metrics
`router_limits_backend_degraded` (1 while serving locally) and `router_limits_backend_fallbacks`
(calls served locally because Redis failed). Serving locally keeps every process enforcing the
tenant's limits, each on its own share of traffic, instead of failing requests or letting them
all through.

Usage recorded locally during an outage (and by requests admitted then that settle later) is
added to Redis once Redis answers again, in the background, one transaction per tenant and
period, and forgotten locally: after a partition heals, every PoP on the same Redis reports the
same usage, and the shared budget counts what the cut-off PoP spent (tests/network/
test_redis_partition.py). Until then it shows under `local_fallback` in the usage report. A
transaction that fails puts its counters back for the next attempt; one that Redis applied but
whose answer was lost (a timeout at that very moment) is counted twice, which overstates the
spend rather than losing it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis
from cachetools import LRUCache

from router.clock import Clock
from router.limits.backend import Charge, Limits, LimitsBackend, Periods, Verdict
from router.limits.memory import MemoryLimits
from router.telemetry.metrics import Metrics

log = logging.getLogger("edge_router.limits")

T = TypeVar("T")

# Admissions the shared backend did not answer, kept to be released: those in flight as it went
# down, so a handful per outage; more are forgotten, the oldest first.
MAX_UNANSWERED = 10_000
# Tenants whose last committed spend is remembered (the least recently admitted forgotten first).
MAX_TENANTS_REMEMBERED = 10_000

# What a Redis that is down, slow or gone raises through redis-py.
BACKEND_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError, asyncio.TimeoutError)


class FallbackLimits:
    def __init__(
        self,
        shared: LimitsBackend | None,
        local: MemoryLimits,
        clock: Clock,
        metrics: Metrics,
        retry_interval_s: float,
    ) -> None:
        self.shared = shared
        self.local = local
        self._clock = clock
        self._retry_interval_s = retry_interval_s
        self._down = False
        self._probe: asyncio.Task[None] | None = None
        # Local usage not yet added to the shared backend, admissions it did not answer (at
        # most `MAX_UNANSWERED`, the oldest forgotten first), and the task handing them over.
        self._unmerged = False
        self._unanswered: deque[Charge] = deque(maxlen=MAX_UNANSWERED)
        self._merging: asyncio.Task[None] | None = None
        # Per tenant with a budget, the day's and month's committed spend the shared backend last
        # said: counted against its budgets here while the shared backend does not answer.
        self._last_committed: LRUCache[str, tuple[Periods, tuple[float, float]]] = LRUCache(
            MAX_TENANTS_REMEMBERED
        )
        self._fallbacks = metrics.meter.create_counter(
            "router.limits.backend.fallbacks",
            description="Limit checks and settlements served by the local backend because the "
            "shared one failed.",
        )
        self._degraded = metrics.meter.create_up_down_counter(
            "router.limits.backend.degraded",
            description="1 while the shared limits backend is unreachable and limits are local.",
        )
        # Both exported from the start, as 0, so a dashboard can tell "never failed" from "absent".
        self._fallbacks.add(0)
        self._degraded.add(0)

    @property
    def primary(self) -> LimitsBackend:
        return self.shared if self.shared is not None else self.local

    @property
    def degraded(self) -> bool:
        return self._down

    def current(self) -> LimitsBackend:
        """The backend to try now: the shared one unless it failed and has not answered since."""
        if self.shared is None or self._down:
            return self.local
        return self.shared

    async def run(
        self, operation: Callable[[LimitsBackend], Awaitable[T]], backend: LimitsBackend
    ) -> tuple[T, LimitsBackend]:
        """Run `operation` on `backend`; on a shared backend's failure, on the local one."""
        if backend is self.local:
            self.used_locally()
            return await operation(backend), backend
        try:
            result = await operation(backend)
        except BACKEND_ERRORS as error:
            self._mark_down(error)
            self.used_locally()
            return await operation(self.local), self.local
        self._answered(backend)
        return result, backend

    async def admit(
        self, charge: Charge, limits: Limits, backend: LimitsBackend
    ) -> tuple[Verdict, LimitsBackend]:
        """`run` for an admission. One that failed on the shared backend may still be carried
        out there later (Redis got it and answered too late, or a partition delivers it as it
        heals), reserving a budget no request will settle: it is remembered, and released once
        the shared backend answers again."""
        if backend is self.local:
            return self.admit_locally(charge, limits), backend
        try:
            verdict = await backend.admit(charge, limits)
        except BACKEND_ERRORS as error:
            self._unanswered.append(charge)
            self._mark_down(error)
            return self.admit_locally(charge, limits), self.local
        self._answered(backend)
        if verdict.committed_usd is not None:
            self._last_committed[charge.tenant] = (charge.periods, verdict.committed_usd)
        return verdict, backend

    def _answered(self, shared: LimitsBackend) -> None:
        """The shared backend answered: back from an outage, and what it missed is handed over."""
        if self._down:
            self._down = False
            self.local.forget_baselines()
            self._degraded.add(-1)
            log.warning("limits backend %s is reachable again; limits are shared", shared.name)
        if (self._unmerged or self._unanswered) and self._merging is None:
            self._merging = asyncio.get_running_loop().create_task(self._reconcile(shared))

    def admit_locally(self, charge: Charge, limits: Limits) -> Verdict:
        """Admit on the local backend (never awaits). With a shared backend, this process is
        cut off from it: the tenant's first local admission starts its budgets from the spend
        the shared backend last said was committed, so it is not spent a second time here."""
        if self.shared is not None:
            self._unmerged = True
            last = self._last_committed.pop(charge.tenant, None)
            if last is not None:
                self.local.start_from(charge.tenant, *last)
        return self.local.admit_now(charge, limits)

    def used_locally(self) -> None:
        """The local backend admitted, refused or settled something: to be added to the shared
        backend once it answers."""
        if self.shared is not None:
            self._unmerged = True

    async def _reconcile(self, shared: LimitsBackend) -> None:
        try:
            await self._release_unanswered(shared)
            await self._merge(shared)
        finally:
            self._merging = None

    async def _release_unanswered(self, shared: LimitsBackend) -> None:
        """Release the admissions whose answer never came, oldest first."""
        released = 0
        try:
            while self._unanswered:
                released += await shared.release(self._unanswered[0])
                self._unanswered.popleft()
        except BACKEND_ERRORS as error:
            self._mark_down(error)  # the rest wait for the next time Redis answers
        if released:
            log.warning(
                "%d admissions carried out by limits backend %s after their caller gave up on "
                "them were released",
                released,
                shared.name,
            )

    async def _merge(self, shared: LimitsBackend) -> None:
        """Add the local usage to the shared backend, tenant by tenant and period by period."""
        if not self._unmerged or self.degraded:
            return
        self._unmerged = False
        taken = self.local.take_settled()
        wall_s = self._clock.wall()
        merged = len(taken)
        try:
            while taken:
                tenant, period, counters = taken[-1]
                await shared.add_usage(tenant, period, counters, wall_s)
                taken.pop()
            if merged:
                log.warning(
                    "usage recorded locally (%d tenant periods) added to limits backend %s",
                    merged,
                    shared.name,
                )
        except BACKEND_ERRORS as error:
            for tenant, period, counters in taken:
                self.local.add_usage_now(tenant, period, counters, wall_s)
            self._unmerged = True
            self._mark_down(error)

    async def close(self) -> None:
        """Stop probing and handing over (at shutdown)."""
        tasks = [task for task in (self._probe, self._merging) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _probe_until_answered(self, shared: LimitsBackend) -> None:
        """PING the shared backend every retry interval until it answers; then it serves again.
        Ends when it answers, or when cancelled at shutdown."""
        while True:
            await self._clock.sleep(self._retry_interval_s)
            try:
                await shared.ping()
            except BACKEND_ERRORS:
                continue
            self._probe = None
            self._answered(shared)
            return

    def _mark_down(self, error: BaseException) -> None:
        self._fallbacks.add(1)
        shared = self.shared
        if shared is not None and self._probe is None:
            self._probe = asyncio.get_running_loop().create_task(self._probe_until_answered(shared))
        if not self._down:
            self._degraded.add(1)
            log.error(
                "limits backend %s failed (%s: %s); enforcing limits locally, probing it every "
                "%.1fs",
                self.primary.name,
                type(error).__name__,
                error,
                self._retry_interval_s,
            )
        self._down = True
