"""How many tenants are near a budget, as admission learns it: counted by threshold at
`/metrics`, never named, and forgotten once a day has passed without news."""

from __future__ import annotations

from router.limits.budget_watch import STALE_S, BudgetWatch
from router.telemetry.metrics import Metrics
from tests.fake_clock import FakeClock


def _exposed(metrics: Metrics) -> list[str]:
    text = metrics.exposition().decode()
    return [line for line in text.splitlines() if line.startswith("router_limits_tenants_near")]


def test_tenants_near_a_budget_are_counted_by_threshold_and_never_named() -> None:
    clock, metrics = FakeClock(), Metrics()
    watch = BudgetWatch(metrics, clock)
    for tenant, share in (("acme", 0.85), ("beta", 0.95), ("gamma", 0.5), ("acme", 0.82)):
        watch.record(tenant, share, clock.wall())
    assert (watch.near(0.8, clock.wall()), watch.near(0.9, clock.wall())) == (2, 1)
    assert (watch.share("acme"), watch.share("delta")) == (
        0.82,
        None,
    )  # the latest, for the dashboard
    lines = _exposed(metrics)
    assert 'router_limits_tenants_near_budget{threshold="0.8"} 2.0' in lines
    assert 'router_limits_tenants_near_budget{threshold="0.9"} 1.0' in lines
    assert not [line for line in lines if "acme" in line or "beta" in line]


def test_a_share_not_refreshed_for_a_day_is_forgotten() -> None:
    clock, metrics = FakeClock(), Metrics()
    watch = BudgetWatch(metrics, clock)
    watch.record("acme", 0.95, clock.wall())
    clock.advance(STALE_S / 2)
    watch.record("beta", 0.95, clock.wall())
    clock.advance(STALE_S / 2 + 1)
    assert watch.near(0.9, clock.wall()) == 1  # acme's news is a day old; beta's is not
    assert 'router_limits_tenants_near_budget{threshold="0.9"} 1.0' in _exposed(metrics)
