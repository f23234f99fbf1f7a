"""The settlements owner, alone on a fake clock: at once in memory; on a shared backend in the
background, retried while it fails and the request's lease would live, then kept locally."""

from __future__ import annotations

import asyncio

import pytest

from router.limits.backend import (
    AdmissionTicket,
    Charge,
    Counters,
    Limits,
    Outcome,
    Periods,
    Verdict,
)
from router.limits.fallback import FallbackLimits
from router.limits.memory import MemoryLimits
from router.limits.settlements import SETTLE_RETRY_S, Settlements
from router.telemetry.metrics import Metrics
from tests.fake_clock import FakeClock

LIMITS = Limits(concurrent_requests=4)
OUTCOME = Outcome(10, 20, 0.5, "m", "e")


class ScriptedShared:
    """A shared backend whose settlements fail `failures` times, then succeed."""

    name = "scripted"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.settled: list[Outcome] = []

    async def admit(self, charge: Charge, limits: Limits) -> Verdict:
        raise AssertionError("not admitted here")

    async def settle(self, charge: Charge, limits: Limits, outcome: Outcome, wall_s: float) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("redis is down")
        self.settled.append(outcome)

    async def counters(self, tenant: str, periods: Periods) -> tuple[Counters, Counters]:
        return {}, {}

    async def in_flight(self, tenant: str, wall_s: float) -> int:
        return 0

    async def add_usage(self, tenant: str, period: str, counters: Counters, wall_s: float) -> None:
        raise AssertionError("nothing is served locally in these tests")

    async def close(self) -> None:
        return None


def _owner(clock: FakeClock, shared: ScriptedShared | None) -> tuple[Settlements, MemoryLimits]:
    local = MemoryLimits()
    limits = FallbackLimits(shared, local, clock, Metrics(), retry_interval_s=1.0)
    return Settlements(limits, clock), local


def _ticket(clock: FakeClock, backend: object, lease_s: float = 30.0) -> AdmissionTicket:
    wall_s = clock.wall()
    charge = Charge("acme", "r-1", 100, 0.5, wall_s, Periods.at(wall_s), lease_s)
    return AdmissionTicket(charge, LIMITS, backend)  # type: ignore[arg-type]


async def _local_requests(local: MemoryLimits, clock: FakeClock) -> float:
    day, _ = await local.counters("acme", Periods.at(clock.wall()))
    return day.get("requests", 0.0)


async def _let_tasks_run() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_a_memory_settlement_is_made_at_once() -> None:
    clock = FakeClock()
    settlements, local = _owner(clock, None)
    settlements.settle(_ticket(clock, local), OUTCOME)
    assert settlements.running == 0
    assert await _local_requests(local, clock) == 1


@pytest.mark.asyncio
async def test_a_shared_settlement_is_retried_until_the_backend_answers() -> None:
    clock = FakeClock()
    shared = ScriptedShared(failures=2)
    settlements, local = _owner(clock, shared)
    settlements.settle(_ticket(clock, shared), OUTCOME)
    await _let_tasks_run()
    assert shared.calls == 1 and settlements.running == 1
    clock.advance(SETTLE_RETRY_S)
    await _let_tasks_run()
    assert shared.calls == 2 and not shared.settled
    clock.advance(SETTLE_RETRY_S)
    await _let_tasks_run()
    assert shared.settled == [OUTCOME] and settlements.running == 0
    assert await _local_requests(local, clock) == 0  # settled where it was admitted only


@pytest.mark.asyncio
async def test_a_settlement_never_taken_is_kept_locally_once_its_lease_would_end() -> None:
    clock = FakeClock()
    shared = ScriptedShared(failures=1_000)
    settlements, local = _owner(clock, shared)
    settlements.settle(_ticket(clock, shared, lease_s=3.5), OUTCOME)
    for _ in range(5):
        await _let_tasks_run()
        clock.advance(SETTLE_RETRY_S)
    await _let_tasks_run()
    assert settlements.running == 0 and not shared.settled
    # Tried at 0, 1, 2 and 3 s; a retry after the one at 3 s would outlive the 3.5 s lease.
    assert shared.calls == 4
    assert await _local_requests(local, clock) == 1


@pytest.mark.asyncio
async def test_drain_waits_for_the_settlements_still_running() -> None:
    clock = FakeClock()
    shared = ScriptedShared(failures=0)
    settlements, _ = _owner(clock, shared)
    settlements.settle(_ticket(clock, shared), OUTCOME)
    assert settlements.running == 1
    await settlements.drain()
    assert shared.settled == [OUTCOME] and settlements.running == 0
