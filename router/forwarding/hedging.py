"""Hedged requests (Dean and Barroso, "The Tail at Scale", 2013), where a tenant's policy allows.

When an attempt has produced no first byte after the p95 first-byte time of its (endpoint, model),
a second attempt starts on the next endpoint of the plan. The first of the two to produce its first
byte (a stream's first chunk; a JSON answer, which is only of use whole) is committed to the
client; the other is cancelled, which closes its upstream connection and so stops its generation.
An attempt that fails before its first byte leaves the other one to answer: fail-over without the
wait. One hedge per request; fail-over after a race goes on as usual.

No hedge starts when:
- the delay is unknown: fewer than `MIN_SAMPLES` measured first bytes on the (endpoint, model), so
  a cold endpoint is not hedged blindly. The delay is never below `MIN_DELAY_MS`, so loopback-fast
  endpoints are not hedged on scheduling jitter;
- the plan has no next target on another endpoint that is available and below its concurrency
  limit, no attempt is left (`max_attempts`, the hedge counts as one) or the deadline has passed;
- the tenant's extra spend is at its share (`router.policy.hedge_budget`).

The cancelled attempt gets no health verdict: it was stopped by us, not by the endpoint. Without a
first byte yet it would have taken at least as long as it ran, so its latency estimate rises to that
as a lower bound (`EndpointModelStats.outrun`), and a pick that went slow loses its traffic even
while hedges hide it; it is no sample for the p95 window. Only a request that may hedge runs its
attempts as tasks; every other request runs one attempt at a time in its handler's task, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from router.answer import Answer
from router.clock import Clock
from router.context import HEDGE_CANCELLED, RequestContext
from router.endpoints.estimators import RECENT_MIN_SAMPLES, EndpointModelStats
from router.endpoints.registry import Registry, Target
from router.errors import UpstreamError
from router.forwarding.attempt_plan import AttemptPlan
from router.policy.hedge_budget import HedgeBudget
from router.pricing import input_cost_usd, spent_usd

MIN_SAMPLES = RECENT_MIN_SAMPLES
MIN_DELAY_MS = 5.0


def hedge_delay_ms(stats: EndpointModelStats, streaming: bool) -> float | None:
    """How long to wait for a first byte before hedging: the p95 of the recent successful ones
    (stream: time to the first chunk; JSON: time to the whole answer), or None while cold."""
    p95_ms = stats.recent_first_byte_p95_ms(streaming)
    return None if p95_ms is None else max(MIN_DELAY_MS, p95_ms)


@dataclass(slots=True)
class HedgeAllowance:
    """One request's leave to hedge: its tenant's share, and whether the hedge was used."""

    max_extra_share: float
    launched: bool = False


class Race:
    """The attempts of one request that run at once; the first to claim its first byte answers."""

    __slots__ = ("_ctx", "_tasks", "hedge", "stopped", "winner")

    def __init__(self, ctx: RequestContext) -> None:
        self._ctx = ctx
        self._tasks: dict[asyncio.Task[Answer], Target] = {}
        self.hedge: Target | None = None
        self.winner: Target | None = None
        # Set when the race was given up for an error no other endpoint can fix.
        self.stopped = False

    def start(self, target: Target, attempt: Coroutine[Any, Any, Answer]) -> None:
        self._tasks[asyncio.get_running_loop().create_task(attempt)] = target

    def claim(self, target: Target) -> None:
        """`target` has its first byte: it answers and the others are cancelled at once (so
        synchronously that no other can claim in between)."""
        if self.winner is not None:
            if self.winner is target:
                return
            raise asyncio.CancelledError  # lost; its task is being cancelled already
        self.winner = target
        for task, other in self._tasks.items():
            if other is not target and not task.done():
                task.cancel()
                self._ctx.decision.hedge_cancelled = other.endpoint.name

    def cancelled_outcome(self, target: Target) -> str:
        """What an attempt of this race that ended without a verdict is recorded as."""
        lost = self.stopped or (self.winner is not None and self.winner is not target)
        return HEDGE_CANCELLED if lost else "client_disconnected"

    async def first_byte_within(self, timeout_s: float, clock: Clock) -> bool:
        """Wait up to `timeout_s` on `clock`: whether an attempt has claimed or ended by then."""
        waiting = asyncio.ensure_future(clock.sleep(timeout_s))
        try:
            done, _ = await asyncio.wait(
                {*self._tasks, waiting}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiting.cancel()
        return any(task in done for task in self._tasks) or self.winner is not None

    async def outcome(self) -> Answer:
        """The winner's answer (a stream: from its first chunk on), or the last error when every
        attempt failed.

        Once an attempt has claimed the answer, the others' errors no longer matter."""
        pending = set(self._tasks)
        error: BaseException | None = None
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.cancelled():
                    continue
                target, exc = self._tasks[task], task.exception()
                if exc is None or target is self.winner:
                    return task.result()  # the answer, or what went wrong after it was claimed
                if self.winner is not None:
                    continue
                if not _retryable(exc):
                    self.stopped = True  # no other endpoint can fix this one
                    raise exc
                error = exc
        if error is None:  # every attempt was cancelled from outside
            raise asyncio.CancelledError
        raise error

    async def stop(self) -> None:
        """Cancel attempts still running and wait until they have closed their connections."""
        running = [task for task in self._tasks if not task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
        for task in self._tasks:
            if not task.cancelled():
                task.exception()  # retrieved: an error lost in the race is recorded, not logged


AttemptFn = Callable[[RequestContext, Target, float, Race | None], Coroutine[Any, Any, Answer]]


class Hedger:
    """Runs an attempt with a hedge where the tenant may hedge, and keeps the tenant's spend."""

    def __init__(
        self, attempt: AttemptFn, registry: Registry, budget: HedgeBudget, clock: Clock
    ) -> None:
        self._attempt = attempt
        self._registry = registry
        self._budget = budget
        self._clock = clock

    @staticmethod
    def allowance(ctx: RequestContext) -> HedgeAllowance | None:
        """None unless the tenant's policy enables hedging (then its spend is recorded too)."""
        policy = ctx.policy
        if policy is None or not policy.routing.hedging.enabled:
            return None
        return HedgeAllowance(policy.routing.hedging.max_extra_cost_share)

    async def run(
        self,
        ctx: RequestContext,
        first: Target,
        remaining_s: float,
        plan: AttemptPlan,
        allowance: HedgeAllowance,
    ) -> Answer:
        """`first`'s answer, or a hedge's; raises the error to fail over on if both fail."""
        delay_ms = self._delay_ms(ctx, first, plan, allowance)
        if delay_ms is None:
            return await self._attempt(ctx, first, remaining_s, None)
        race = Race(ctx)
        race.start(first, self._attempt(ctx, first, remaining_s, race))
        try:
            if not await race.first_byte_within(delay_ms / 1000.0, self._clock):
                self._start_hedge(ctx, race, plan, allowance, delay_ms)
            return await race.outcome()
        finally:
            await race.stop()
            if race.hedge is not None and race.winner is race.hedge:
                # The attempt that did not answer was the first, not the hedge charged at start.
                correction = input_cost_usd(ctx, first) - input_cost_usd(ctx, race.hedge)
                self._budget.charge_extra(ctx.tenant, correction)

    def _delay_ms(
        self, ctx: RequestContext, first: Target, plan: AttemptPlan, allowance: HedgeAllowance
    ) -> float | None:
        if allowance.launched or plan.peek() is None:
            return None
        if not self._budget.allows(ctx.tenant, allowance.max_extra_share):
            return None
        return hedge_delay_ms(first.stats, ctx.parsed.stream)

    def _start_hedge(
        self,
        ctx: RequestContext,
        race: Race,
        plan: AttemptPlan,
        allowance: HedgeAllowance,
        delay_ms: float,
    ) -> None:
        # Checked again: other requests of the tenant may have hedged during the wait.
        index = plan.peek()
        if index is None or not self._budget.allows(ctx.tenant, allowance.max_extra_share):
            return
        endpoint = plan.target_at(index).endpoint
        if endpoint.in_flight >= endpoint.max_concurrency:
            return
        if not self._registry.health.available(endpoint.name):
            return
        step = plan.take(index)
        if step is None:
            return
        target, remaining_s = step
        allowance.launched = True
        self._budget.charge_extra(ctx.tenant, input_cost_usd(ctx, target))
        decision = ctx.decision
        decision.hedged_after_ms = delay_ms
        decision.hedge_endpoint = endpoint.name
        race.hedge = target
        race.start(target, self._attempt(ctx, target, remaining_s, race))

    def record_spend(self, ctx: RequestContext) -> None:
        """An answered request of a hedging tenant: its cost at the serving target's prices."""
        cost_usd = spent_usd(ctx)
        if cost_usd is not None:
            self._budget.record_spend(ctx.tenant, cost_usd)


def _retryable(error: BaseException) -> bool:
    return isinstance(error, UpstreamError) and error.retryable
