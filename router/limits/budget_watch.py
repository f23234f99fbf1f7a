"""How close tenants are to their budgets, as admission learns it, for the metrics and alerts.

Each admission of a tenant with a daily or monthly budget says what share of it is committed
(`Verdict.budget_used`, from whichever backend admitted it); the latest share of each tenant is
kept here. `/metrics` shows how many tenants are at or past 80% and 90% of a budget
(`router_limits_tenants_near_budget` {threshold}), never which: which ones, and how far, is at
`GET /admin/tenants/{id}/usage` and on the dashboard. A share not refreshed for a day is dropped
(the daily budget it was measured against has started over). At most `MAX_TENANTS` are kept;
tenants are the policy files.
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry.metrics import CallbackOptions, Observation

from router.clock import Clock
from router.telemetry.metrics import Metrics

THRESHOLDS = (0.8, 0.9)
STALE_S = 86_400.0
MAX_TENANTS = 100_000


class BudgetWatch:
    def __init__(self, metrics: Metrics, clock: Clock) -> None:
        self._clock = clock
        # tenant -> (share of its budget committed, wall clock when it was learnt)
        self._shares: dict[str, tuple[float, float]] = {}
        metrics.meter.create_observable_gauge(
            "router.limits.tenants_near_budget",
            callbacks=[self._observe],
            description="Tenants whose committed spend is at or past this share of a daily or "
            "monthly budget.",
        )

    def record(self, tenant: str, share: float, wall_s: float) -> None:
        shares = self._shares
        if tenant in shares or len(shares) < MAX_TENANTS:
            shares[tenant] = (share, wall_s)

    def share(self, tenant: str) -> float | None:
        """The tenant's latest share of a budget committed, if it has a budget."""
        known = self._shares.get(tenant)
        return None if known is None else known[0]

    def near(self, threshold: float, now_s: float) -> int:
        """Tenants at or past `threshold` of a budget, as of `now_s`."""
        # A copy taken in one step: an OTLP reader calls this from its own thread while the
        # event loop records admissions.
        shares = list(self._shares.items())
        for tenant, (_, at) in shares:
            if now_s - at > STALE_S:
                self._shares.pop(tenant, None)
        return sum(1 for _, (share, at) in shares if share >= threshold and now_s - at <= STALE_S)

    def _observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        for threshold in THRESHOLDS:
            now_s = self._clock.wall()
            yield Observation(self.near(threshold, now_s), {"threshold": str(threshold)})
