"""Usage a process recorded on its local limits while the shared backend was unreachable is added
to the shared backend once it answers again, and forgotten locally; a merge that fails keeps it
for the next one; admissions the shared backend did not answer are released there. Alone, on a
fake clock, with an in-memory backend standing in for Redis."""

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
from router.limits.settlements import Settlements
from router.telemetry.metrics import Metrics
from tests.fake_clock import FakeClock

LIMITS = Limits(daily_budget_usd=1.0)
OUTCOME = Outcome(4, 6, 0.1, "m", "e")
RETRY_S = 1.0


class CutOffShared(MemoryLimits):
    """A shared backend that raises what an unreachable Redis raises while `down`, and can fail
    its merges alone."""

    name = "redis"

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.merges_fail = False
        self.released: list[str] = []
        self.calls = self.pings = 0

    def _reachable(self) -> None:
        if self.down:
            raise ConnectionError("redis is unreachable")

    async def admit(self, charge: Charge, limits: Limits) -> Verdict:
        self.calls += 1
        self._reachable()
        return await super().admit(charge, limits)

    async def ping(self) -> None:
        self.pings += 1
        self._reachable()

    async def release(self, charge: Charge) -> bool:
        self._reachable()
        self.released.append(charge.request_id)
        return True

    async def add_usage(self, tenant: str, period: str, counters: Counters, wall_s: float) -> None:
        self._reachable()
        if self.merges_fail:
            raise TimeoutError
        await super().add_usage(tenant, period, counters, wall_s)


def _charge(clock: FakeClock, n: int, tenant: str = "acme") -> Charge:
    wall_s = clock.wall()
    return Charge(tenant, f"r-{n}", 10, 0.1, wall_s, Periods.at(wall_s), 30.0)


async def _serve(limits: FallbackLimits, settlements: Settlements, charge: Charge) -> str:
    """Admit `charge` on the backend the fallback picks and settle it there: its name."""
    verdict, backend = await limits.admit(charge, LIMITS, limits.current())
    assert verdict.refusal is None
    settlements.settle(AdmissionTicket(charge, LIMITS, backend), OUTCOME)
    await _let_tasks_run()
    return backend.name


async def _day(backend: MemoryLimits, clock: FakeClock, tenant: str = "acme") -> Counters:
    return (await backend.counters(tenant, Periods.at(clock.wall())))[0]


async def _let_tasks_run() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def _fallback(clock: FakeClock) -> tuple[FallbackLimits, Settlements, CutOffShared, MemoryLimits]:
    shared, local = CutOffShared(), MemoryLimits()
    limits = FallbackLimits(shared, local, clock, Metrics(), retry_interval_s=RETRY_S)
    return limits, Settlements(limits, clock), shared, local


@pytest.mark.asyncio
async def test_usage_served_locally_during_an_outage_is_added_to_the_shared_backend_after() -> None:
    clock = FakeClock()
    limits, settlements, shared, local = _fallback(clock)
    assert await _serve(limits, settlements, _charge(clock, 1)) == "redis"
    shared.down = True
    served = [await _serve(limits, settlements, _charge(clock, n, t)) for n, t in
              ((2, "acme"), (3, "acme"), (4, "globex"))]  # fmt: skip
    assert served == ["memory"] * 3 and (await _day(local, clock))["requests"] == 2
    shared.down = False
    clock.advance(RETRY_S)  # the probe's PING is answered
    await _let_tasks_run()
    assert await _serve(limits, settlements, _charge(clock, 5)) == "redis"
    acme = await _day(shared, clock)
    assert acme["requests"] == 4  # one before, two during, one after
    assert acme["spend_usd"] == pytest.approx(0.4)
    assert acme["endpoint:e:requests"] == 4
    assert (await _day(shared, clock, "globex"))["requests"] == 1
    month = (await shared.counters("acme", Periods.at(clock.wall())))[1]
    assert month["requests"] == 4
    assert "requests" not in await _day(local, clock)  # forgotten here: counted once


@pytest.mark.asyncio
async def test_a_merge_that_fails_keeps_the_usage_for_the_next_one() -> None:
    clock = FakeClock()
    limits, settlements, shared, local = _fallback(clock)
    shared.down = True
    assert await _serve(limits, settlements, _charge(clock, 1)) == "memory"
    shared.down, shared.merges_fail = False, True
    clock.advance(RETRY_S)  # the probe's PING is answered; the merge then fails
    await _let_tasks_run()
    assert limits.degraded  # a failed merge counts as the backend failing
    assert (await _day(local, clock))["requests"] == 1  # put back
    assert "requests" not in await _day(shared, clock)
    assert await _serve(limits, settlements, _charge(clock, 2)) == "memory"
    shared.merges_fail = False
    clock.advance(RETRY_S)  # answered again, and merged
    await _let_tasks_run()
    assert await _serve(limits, settlements, _charge(clock, 3)) == "redis"
    assert (await _day(shared, clock))["requests"] == 3
    assert "requests" not in await _day(local, clock)


@pytest.mark.asyncio
async def test_admissions_the_shared_backend_did_not_answer_are_released_once_it_does() -> None:
    clock = FakeClock()
    limits, settlements, shared, _ = _fallback(clock)
    shared.down = True
    assert await _serve(limits, settlements, _charge(clock, 1)) == "memory"  # tried, unanswered
    assert await _serve(limits, settlements, _charge(clock, 2)) == "memory"  # not tried
    assert shared.released == []
    shared.down = False
    clock.advance(RETRY_S)  # the probe's PING is answered
    await _let_tasks_run()
    assert await _serve(limits, settlements, _charge(clock, 3)) == "redis"
    assert shared.released == ["r-1"]


@pytest.mark.asyncio
async def test_no_request_waits_on_the_shared_backend_while_it_does_not_answer() -> None:
    # One call finds it down; the probe, not requests, finds when it answers again.
    clock = FakeClock()
    limits, settlements, shared, _ = _fallback(clock)
    shared.down = True
    assert await _serve(limits, settlements, _charge(clock, 1)) == "memory"
    tries = shared.calls
    for n in range(2, 6):
        clock.advance(RETRY_S)
        await _let_tasks_run()
        assert await _serve(limits, settlements, _charge(clock, n)) == "memory"
    assert shared.calls == tries  # no request tried it
    assert shared.pings == 4
    await limits.close()


@pytest.mark.asyncio
async def test_a_process_cut_off_from_the_shared_backend_does_not_spend_the_budget_again() -> None:
    # $1 a day; each request $0.10. Seven spent through the shared backend, then it goes away:
    # this process starts from the $0.70 it last heard was committed, so three more, not ten.
    clock = FakeClock()
    limits, settlements, shared, local = _fallback(clock)
    for n in range(7):
        assert await _serve(limits, settlements, _charge(clock, n)) == "redis"
    shared.down = True
    admitted = 0
    for n in range(7, 20):
        verdict, backend = await limits.admit(_charge(clock, n), LIMITS, limits.current())
        assert backend is local
        if verdict.refusal is not None:
            assert verdict.refusal.limit == "daily_budget_usd"
            break
        admitted += 1
        settlements.settle(AdmissionTicket(_charge(clock, n), LIMITS, local), OUTCOME)
    assert admitted == 3
    # Back on the shared backend: what was spent here is added there, the baseline forgotten.
    await _let_tasks_run()  # the probe starts its wait
    shared.down = False
    clock.advance(RETRY_S)
    await _let_tasks_run()
    day = await _day(shared, clock)
    assert day["requests"] == 10 and day["spend_usd"] == pytest.approx(1.0)
    local_day = (await local.counters("acme", Periods.at(clock.wall())))[0]
    assert "requests" not in local_day
