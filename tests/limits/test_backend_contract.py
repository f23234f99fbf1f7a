"""Both limits backends follow the same rules: the same tests run on memory and on a real Redis.

Time is passed in explicitly (wall-clock seconds), so every refill and period boundary is exact.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from router.limits.backend import (
    Charge,
    Limits,
    LimitsBackend,
    Outcome,
    Periods,
    Verdict,
)
from router.limits.memory import MemoryLimits
from router.limits.redis_backend import RedisLimits
from tests.redis_server import redis_server

T0 = 1_768_435_200.0 + 12 * 3600  # 2026-01-15T12:00:00Z
_ids = itertools.count()


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest_asyncio.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[LimitsBackend]:
    if request.param == "memory":
        yield MemoryLimits()
        return
    url = request.getfixturevalue("redis_url")
    # A fresh key prefix per test keeps the tests apart on one server.
    redis = RedisLimits(url, key_prefix=f"t{next(_ids)}", timeout_s=2.0)
    yield redis
    await redis.close()


def charge(
    at_s: float = T0,
    *,
    tenant: str = "acme",
    tokens: int = 10,
    cost_usd: float = 0.0,
    lease_s: float = 60.0,
) -> Charge:
    return Charge(
        tenant=tenant,
        request_id=f"r{next(_ids)}",
        tokens=tokens,
        cost_usd=cost_usd,
        wall_s=at_s,
        periods=Periods.at(at_s),
        lease_s=lease_s,
    )


def used(tokens: int = 10, cost_usd: float = 0.0, endpoint: str = "us-east") -> Outcome:
    return Outcome(tokens // 2, tokens - tokens // 2, cost_usd, "gpt-4o-mini", endpoint)


async def admit(backend: LimitsBackend, limits: Limits, c: Charge) -> Verdict:
    return await backend.admit(c, limits)


@pytest.mark.asyncio
async def test_requests_per_minute_admit_the_limit_then_refuse_until_a_token_refills(
    backend: LimitsBackend,
) -> None:
    limits = Limits(requests_per_minute=3)
    for i in range(3):
        verdict = await admit(backend, limits, charge())
        assert verdict.refusal is None
        assert verdict.remaining_requests == pytest.approx(2 - i)
    refused = await admit(backend, limits, charge())
    assert refused.refusal is not None
    assert refused.refusal.limit == "requests_per_minute"
    assert refused.refusal.retry_after_s == pytest.approx(20.0)  # one token at 3 per minute
    assert (await admit(backend, limits, charge(T0 + 19.9))).refusal is not None
    assert (await admit(backend, limits, charge(T0 + 20.0))).refusal is None


@pytest.mark.asyncio
async def test_tokens_are_charged_as_estimated_and_settled_to_what_was_used(
    backend: LimitsBackend,
) -> None:
    limits = Limits(tokens_per_minute=1000)
    first = charge(tokens=600)
    assert (await admit(backend, limits, first)).refusal is None
    refused = await admit(backend, limits, charge(tokens=600))
    assert refused.refusal is not None and refused.refusal.limit == "tokens_per_minute"
    assert refused.refusal.retry_after_s == pytest.approx(12.0)  # 200 missing at 1000/60 per s
    # It used only 100 of the 600 estimated: the 500 come back at once.
    await backend.settle(first, limits, used(tokens=100), T0)
    second = charge(tokens=600)
    verdict = await admit(backend, limits, second)
    assert verdict.refusal is None
    assert verdict.remaining_tokens == pytest.approx(300.0)
    # A stream that ran longer than estimated leaves the bucket in debt.
    await backend.settle(second, limits, used(tokens=1500), T0)
    debt = await admit(backend, limits, charge(tokens=1))
    assert debt.refusal is not None
    assert debt.refusal.retry_after_s == pytest.approx((1 + 600) * 60 / 1000)


@pytest.mark.asyncio
async def test_a_request_larger_than_the_minute_waits_for_a_full_bucket(
    backend: LimitsBackend,
) -> None:
    limits = Limits(tokens_per_minute=100)
    assert (await admit(backend, limits, charge(tokens=500))).refusal is None
    refused = await admit(backend, limits, charge(T0 + 30, tokens=500))
    assert refused.refusal is not None
    # 400 of debt, then a full bucket of 100: 500 tokens at 100 per minute.
    assert refused.refusal.retry_after_s == pytest.approx(270.0)
    assert (await admit(backend, limits, charge(T0 + 300, tokens=500))).refusal is None


@pytest.mark.asyncio
async def test_concurrency_counts_requests_in_flight_until_they_settle_or_their_lease_ends(
    backend: LimitsBackend,
) -> None:
    limits = Limits(concurrent_requests=2)
    first, second = charge(lease_s=30), charge(lease_s=30)
    assert (await admit(backend, limits, first)).refusal is None
    assert (await admit(backend, limits, second)).refusal is None
    refused = await admit(backend, limits, charge())
    assert refused.refusal is not None and refused.refusal.limit == "concurrent_requests"
    assert await backend.in_flight("acme", T0) == 2
    await backend.settle(first, limits, used(), T0 + 1)
    assert (await admit(backend, limits, charge(T0 + 1))).refusal is None
    # A process that died never settles `second`: its slot frees when its lease ends.
    assert (await admit(backend, limits, charge(T0 + 29))).refusal is not None
    assert (await admit(backend, limits, charge(T0 + 31))).refusal is None


@pytest.mark.asyncio
async def test_a_daily_budget_refuses_once_spent_until_the_next_utc_day(
    backend: LimitsBackend,
) -> None:
    limits = Limits(daily_budget_usd=1.0)
    first = charge(cost_usd=0.4)
    assert (await admit(backend, limits, first)).refusal is None
    await backend.settle(first, limits, used(cost_usd=0.7), T0)
    second = charge(cost_usd=0.4)
    assert (await admit(backend, limits, second)).refusal is None  # 0.7 spent < 1.0
    # Reserved 0.4 on top of 0.7 spent: nothing more until it settles.
    refused = await admit(backend, limits, charge(cost_usd=0.01))
    assert refused.refusal is not None and refused.refusal.limit == "daily_budget_usd"
    assert refused.refusal.retry_after_s == pytest.approx(12 * 3600)  # noon to midnight UTC
    await backend.settle(second, limits, used(cost_usd=0.2), T0)
    third = charge(cost_usd=0.4)
    assert (await admit(backend, limits, third)).refusal is None  # 0.9 spent < 1.0
    await backend.settle(third, limits, used(cost_usd=0.1), T0)  # 1.0, in floats 0.99999...
    assert (await admit(backend, limits, charge(cost_usd=0.01))).refusal is not None
    tomorrow = T0 + 12 * 3600
    assert (await admit(backend, limits, charge(tomorrow, cost_usd=0.01))).refusal is None


@pytest.mark.asyncio
async def test_an_admission_says_how_much_of_its_budgets_is_committed(
    backend: LimitsBackend,
) -> None:
    limits = Limits(daily_budget_usd=1.0, monthly_budget_usd=10.0)
    first = await admit(backend, limits, charge(cost_usd=0.25))
    assert first.budget_used == pytest.approx(0.25)  # the day's share is the larger
    assert first.committed_usd == pytest.approx((0.25, 0.25))  # the day's, the month's
    second = await admit(backend, limits, charge(cost_usd=0.5))
    assert second.budget_used == pytest.approx(0.75)
    spent = charge(cost_usd=0.0)
    await admit(backend, limits, spent)
    await backend.settle(spent, limits, used(cost_usd=0.1), T0)
    monthly_only = await admit(backend, Limits(monthly_budget_usd=2.0), charge(cost_usd=0.0))
    assert monthly_only.budget_used == pytest.approx(0.85 / 2.0)
    unbudgeted = await admit(backend, Limits(), charge())
    assert unbudgeted.budget_used is None and unbudgeted.committed_usd is None


@pytest.mark.asyncio
async def test_a_monthly_budget_spans_the_days_of_its_month(backend: LimitsBackend) -> None:
    limits = Limits(monthly_budget_usd=1.0, daily_budget_usd=0.8)
    for day in range(3):
        at_s = T0 + day * 86_400
        c = charge(at_s, cost_usd=0.3)
        assert (await admit(backend, limits, c)).refusal is None
        await backend.settle(c, limits, used(cost_usd=0.4), at_s)
    refused = await admit(backend, limits, charge(T0 + 3 * 86_400))
    assert refused.refusal is not None and refused.refusal.limit == "monthly_budget_usd"
    february = Periods.at(T0).month_ends_s + 1
    assert (await admit(backend, limits, charge(february))).refusal is None


@pytest.mark.asyncio
async def test_concurrent_admissions_never_overshoot_by_more_than_what_was_admitted(
    backend: LimitsBackend,
) -> None:
    limits = Limits(daily_budget_usd=1.0)
    charges = [charge(cost_usd=0.1) for _ in range(40)]
    verdicts = await asyncio.gather(*(admit(backend, limits, c) for c in charges))
    admitted = [c for c, v in zip(charges, verdicts, strict=True) if v.refusal is None]
    # Each admission saw the others' reservations: exactly ten fit under $1.
    assert len(admitted) == 10
    await asyncio.gather(*(backend.settle(c, limits, used(cost_usd=0.1), T0) for c in admitted))
    day, _ = await backend.counters("acme", Periods.at(T0))
    assert day["spend_usd"] == pytest.approx(1.0)
    assert day["reserved_usd"] == pytest.approx(0.0)
    assert day["refused:daily_budget_usd"] == 30


@pytest.mark.asyncio
async def test_a_refusal_charges_nothing(backend: LimitsBackend) -> None:
    limits = Limits(requests_per_minute=5, tokens_per_minute=100)
    assert (await admit(backend, limits, charge(tokens=90))).refusal is None
    refused = await admit(backend, limits, charge(tokens=90))  # tokens refuse after requests pass
    assert refused.refusal is not None and refused.refusal.limit == "tokens_per_minute"
    verdict = await admit(backend, limits, charge(tokens=5))
    assert verdict.remaining_requests == pytest.approx(3.0)  # the refused one took no request


@pytest.mark.asyncio
async def test_usage_is_counted_by_period_model_and_endpoint(backend: LimitsBackend) -> None:
    limits = Limits()
    for endpoint, tokens, cost in (("us-east", 10, 0.01), ("eu-west", 20, 0.02), ("", 0, 0.0)):
        c = charge()
        await admit(backend, limits, c)
        await backend.settle(c, limits, used(tokens, cost, endpoint), T0)
    day, month = await backend.counters("acme", Periods.at(T0))
    for counters in (day, month):
        assert counters["requests"] == 3
        assert counters["input_tokens"] + counters["output_tokens"] == 30
        assert counters["spend_usd"] == pytest.approx(0.03)
        assert counters["model:gpt-4o-mini:requests"] == 3
        assert counters["endpoint:eu-west:spend_usd"] == pytest.approx(0.02)
        assert counters["endpoint:us-east:input_tokens"] == 5
        assert not any(key.startswith("endpoint::") for key in counters)


@pytest.mark.asyncio
async def test_cache_hits_and_the_spend_they_saved_are_counted(backend: LimitsBackend) -> None:
    limits = Limits()
    outcomes = (
        Outcome(0, 0, 0.0, "gpt-4o-mini", "", cache_hits=1, saved_usd=0.004),  # a free hit
        Outcome(6, 4, 0.004, "gpt-4o-mini", "", cache_hits=1),  # a charged hit
        used(10, 0.004),  # an upstream answer
    )
    for outcome in outcomes:
        c = charge()
        await admit(backend, limits, c)
        await backend.settle(c, limits, outcome, T0)
    day, month = await backend.counters("acme", Periods.at(T0))
    for counters in (day, month):
        assert counters["requests"] == 3
        assert counters["cache_hits"] == 2
        assert counters["saved_usd"] == pytest.approx(0.004)
        assert counters["spend_usd"] == pytest.approx(0.008)
        assert counters["model:gpt-4o-mini:cache_hits"] == 2
        assert counters.get("endpoint:us-east:cache_hits", 0) == 0


@pytest.mark.asyncio
async def test_usage_counted_elsewhere_adds_to_its_day_or_month(backend: LimitsBackend) -> None:
    # What another process served on its local limits during an outage, as it flattens it.
    limits = Limits(daily_budget_usd=0.05)
    c = charge(cost_usd=0.01)
    await admit(backend, limits, c)
    await backend.settle(c, limits, used(10, 0.01, "us-east"), T0)
    periods = Periods.at(T0)
    elsewhere = {
        "requests": 2.0,
        "input_tokens": 7.0,
        "spend_usd": 0.04,
        "model:llama3:8b:requests": 2.0,
        "endpoint:us-east:spend_usd": 0.04,
        "refused:requests_per_minute": 1.0,
    }
    await backend.add_usage("acme", periods.day, elsewhere, T0)
    day, month = await backend.counters("acme", periods)
    assert day["requests"] == 3 and month["requests"] == 1
    assert day["spend_usd"] == pytest.approx(0.05)
    assert day["input_tokens"] == 12
    assert day["model:llama3:8b:requests"] == 2 and day["model:gpt-4o-mini:requests"] == 1
    assert day["endpoint:us-east:spend_usd"] == pytest.approx(0.05)
    assert day["refused:requests_per_minute"] == 1
    # The day's budget counts it: spent, so the next request is refused.
    refusal = (await admit(backend, limits, charge(cost_usd=0.001))).refusal
    assert refusal is not None and refusal.limit == "daily_budget_usd"
    await backend.add_usage("acme", periods.month, {"requests": 5.0}, T0)
    assert (await backend.counters("acme", periods))[1]["requests"] == 6


@pytest.mark.asyncio
async def test_one_tenants_use_never_touches_anothers(backend: LimitsBackend) -> None:
    limits = Limits(requests_per_minute=1, daily_budget_usd=0.5)
    spender = charge(tenant="a", cost_usd=0.1)
    assert (await admit(backend, limits, spender)).refusal is None
    await backend.settle(spender, limits, used(cost_usd=0.6), T0)
    assert (await admit(backend, limits, charge(tenant="a"))).refusal is not None
    assert (await admit(backend, limits, charge(tenant="b"))).refusal is None
    b_day, b_month = await backend.counters("b", Periods.at(T0))
    assert "spend_usd" not in b_day and "spend_usd" not in b_month


def test_periods_are_utc_days_and_months_with_their_ends() -> None:
    new_year_eve = 1_798_761_599.0  # 2026-12-31T23:59:59Z
    periods = Periods.at(new_year_eve)
    assert (periods.day, periods.month) == ("2026-12-31", "2026-12")
    assert periods.day_ends_s == periods.month_ends_s == new_year_eve + 1
    assert Periods.at(new_year_eve + 1).month == "2027-01"


@pytest.mark.asyncio
async def test_redis_keys_expire_and_share_one_cluster_slot_per_tenant(redis_url: str) -> None:
    backend = RedisLimits(redis_url, key_prefix="expiry", timeout_s=2.0)
    limits = Limits(requests_per_minute=60, tokens_per_minute=600, concurrent_requests=5)
    c = charge(cost_usd=0.1)
    await backend.admit(c, limits)
    await backend.settle(c, limits, used(), T0)
    raw = Redis.from_url(redis_url)
    keys = sorted(k.decode() for k in await raw.keys("expiry:*"))
    assert keys and all(k.startswith("expiry:{acme}:") for k in keys)
    for key in keys:
        assert 0 < await raw.ttl(key) <= 62 * 86_400
    await raw.aclose()
    await backend.close()


@pytest.mark.asyncio
async def test_redis_counts_a_settlement_carried_out_twice_once(redis_url: str) -> None:
    # A settlement Redis ran after its caller timed out is retried: the retry changes nothing.
    backend = RedisLimits(redis_url, key_prefix="twice", timeout_s=2.0)
    limits = Limits(daily_budget_usd=1.0)
    c = charge(cost_usd=0.1)
    await backend.admit(c, limits)
    for _ in range(2):
        await backend.settle(c, limits, used(cost_usd=0.05), T0)
    day, _ = await backend.counters("acme", Periods.at(T0))
    assert day["requests"] == 1 and day["spend_usd"] == pytest.approx(0.05)
    assert day["reserved_usd"] == 0
    # Without limits nothing was admitted, so there is no lease to settle: counted all the same.
    free = charge(tenant="free")
    await backend.settle(free, Limits(), used(), T0)
    assert (await backend.counters("free", Periods.at(T0)))[0]["requests"] == 1
    await backend.close()


@pytest.mark.asyncio
async def test_redis_releases_an_admission_whose_answer_never_came(redis_url: str) -> None:
    backend = RedisLimits(redis_url, key_prefix="release", timeout_s=2.0)
    limits = Limits(daily_budget_usd=1.0, concurrent_requests=1)
    # It ran (Redis answered too late): released, its reservation and its slot are given back.
    ran = charge(cost_usd=0.4)
    await backend.admit(ran, limits)
    assert await backend.release(ran) is True
    day, _ = await backend.counters("acme", Periods.at(T0))
    assert day["reserved_usd"] == 0
    assert await backend.in_flight("acme", T0) == 0
    # It had not run yet (a partition delivers it as it heals): released first, it charges
    # nothing when it arrives.
    late = charge(cost_usd=0.4)
    assert await backend.release(late) is False
    assert (await backend.admit(late, limits)).refusal is not None
    day, _ = await backend.counters("acme", Periods.at(T0))
    assert day["reserved_usd"] == 0 and "refused:concurrent_requests" not in day
    assert await backend.in_flight("acme", T0) == 0
    # Others are admitted as before, and released twice nothing is given back twice.
    other = charge(cost_usd=0.3)
    assert (await backend.admit(other, limits)).refusal is None
    assert await backend.release(ran) is False
    day, _ = await backend.counters("acme", Periods.at(T0))
    assert day["reserved_usd"] == pytest.approx(0.3)
    await backend.close()
