"""The hedge delay and the extra-cost ceiling, on a fake clock: exact, no waiting."""

from __future__ import annotations

import math

import pytest

from router.config.model import EstimatorSettings
from router.endpoints.estimators import EndpointModelStats
from router.forwarding.hedging import MIN_DELAY_MS, MIN_SAMPLES, hedge_delay_ms
from router.policy.hedge_budget import HedgeBudget
from tests.fake_clock import FakeClock

TAU_S = 300.0


def _stats_with(samples_ms: list[float], streaming: bool) -> EndpointModelStats:
    stats = EndpointModelStats(EstimatorSettings(), FakeClock())
    for sample_ms in samples_ms:
        stats.begin()
        if streaming:
            stats.end(ok=True, elapsed_ms=sample_ms * 10, ttft_ms=sample_ms, streaming=True)
        else:
            stats.end(ok=True, elapsed_ms=sample_ms)
    return stats


@pytest.mark.parametrize("streaming", [True, False])
def test_no_hedge_delay_until_enough_first_bytes_were_measured(streaming: bool) -> None:
    samples = [float(ms) for ms in range(100, 100 + MIN_SAMPLES)]
    assert hedge_delay_ms(_stats_with(samples[:-1], streaming), streaming) is None
    assert hedge_delay_ms(_stats_with(samples, streaming), streaming) == samples[18]


def test_the_hedge_delay_reads_the_window_of_the_requests_kind() -> None:
    stats = _stats_with([200.0] * MIN_SAMPLES, streaming=True)
    assert hedge_delay_ms(stats, streaming=True) == 200.0
    assert hedge_delay_ms(stats, streaming=False) is None


def test_the_hedge_delay_is_the_p95_and_never_below_the_floor() -> None:
    samples = [10.0] * 95 + [1000.0] * 5
    assert hedge_delay_ms(_stats_with(samples, False), streaming=False) == 10.0
    fast = [0.5] * MIN_SAMPLES
    assert hedge_delay_ms(_stats_with(fast, False), streaming=False) == MIN_DELAY_MS


def test_a_tenant_without_spend_may_not_hedge() -> None:
    budget = HedgeBudget(FakeClock(), TAU_S)
    assert not budget.allows("acme", 1.0)
    budget.record_spend("acme", 0.0)
    assert not budget.allows("acme", 1.0)


def test_hedges_are_allowed_while_the_extra_share_is_below_the_policys() -> None:
    budget = HedgeBudget(FakeClock(), TAU_S)
    budget.record_spend("acme", 1.0)
    assert budget.allows("acme", 0.25)
    budget.charge_extra("acme", 0.125)
    assert budget.allows("acme", 0.25)
    budget.charge_extra("acme", 0.125)
    assert not budget.allows("acme", 0.25)  # 0.25 / 1.0 is not below 0.25
    assert budget.allows("acme", 0.5)  # a larger share (a reloaded policy) applies at once
    assert not budget.allows("acme", 0.0)
    # Other tenants are not affected.
    budget.record_spend("other", 1.0)
    assert budget.allows("other", 0.25)


def test_new_spend_makes_room_for_hedges_again_and_idle_time_does_not() -> None:
    clock = FakeClock()
    budget = HedgeBudget(clock, TAU_S)
    budget.record_spend("acme", 1.0)
    budget.charge_extra("acme", 0.2)
    assert not budget.allows("acme", 0.1)
    clock.advance(10 * TAU_S)  # both sums decayed alike: the share is what it was
    assert not budget.allows("acme", 0.1)
    view = budget.as_dict("acme")
    assert view["spend_usd"] == pytest.approx(math.exp(-10.0))
    assert view["extra_share"] == pytest.approx(0.2)
    budget.record_spend("acme", 2.0)  # recent spend outweighs the decayed hedges
    assert budget.allows("acme", 0.1)
    assert budget.as_dict("acme")["extra_share"] == pytest.approx(
        0.2 * math.exp(-10.0) / (math.exp(-10.0) + 2.0)
    )


def test_spend_decays_with_the_time_constant() -> None:
    clock = FakeClock()
    budget = HedgeBudget(clock, TAU_S)
    budget.record_spend("acme", 1.0)
    clock.advance(TAU_S)
    budget.record_spend("acme", 1.0)
    assert budget.as_dict("acme")["spend_usd"] == pytest.approx(1.0 + math.exp(-1.0))


def test_a_correction_never_takes_the_extra_spend_below_zero() -> None:
    budget = HedgeBudget(FakeClock(), TAU_S)
    budget.record_spend("acme", 1.0)
    budget.charge_extra("acme", 0.05)
    budget.charge_extra("acme", -0.5)
    assert budget.as_dict("acme")["extra_usd"] == 0.0
    assert budget.as_dict("nobody") == {"spend_usd": 0.0, "extra_usd": 0.0, "extra_share": 0.0}


def test_the_time_constant_must_be_positive() -> None:
    with pytest.raises(ValueError):
        HedgeBudget(FakeClock(), 0.0)
