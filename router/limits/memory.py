"""The in-memory limits backend: the embedded default, for one router process.

Each call runs to completion without awaiting, so on the event loop it is atomic the same way the
Redis backend's scripts are. State is keyed by tenant and lives as long as the process: a policy
reload changes a tenant's limits, not what it has already used.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from router.limits.backend import (
    BUDGET_EPSILON_USD,
    CONCURRENCY_RETRY_S,
    DAY_RETENTION_S,
    MONTH_RETENTION_S,
    BucketRule,
    Charge,
    Counters,
    LimitName,
    Limits,
    Outcome,
    Periods,
    Refusal,
    Verdict,
    outcome_increments,
)


@dataclass(slots=True)
class _Bucket:
    level: float | None = None
    updated_s: float | None = None


@dataclass(slots=True)
class _Period:
    counters: Counters
    expires_s: float


class MemoryLimits:
    name = "memory"

    def __init__(self) -> None:
        self._requests: dict[str, _Bucket] = defaultdict(_Bucket)
        self._tokens: dict[str, _Bucket] = defaultdict(_Bucket)
        self._leases: dict[str, dict[str, float]] = defaultdict(dict)  # request id -> until
        self._periods: dict[tuple[str, str], _Period] = {}
        self._swept_day = ""

    async def admit(self, charge: Charge, limits: Limits) -> Verdict:
        tenant, wall_s, periods = charge.tenant, charge.wall_s, charge.periods
        self._sweep(periods.day, wall_s)
        day = self._period(tenant, "d:" + periods.day, wall_s + DAY_RETENTION_S)
        month = self._period(tenant, "m:" + periods.month, wall_s + MONTH_RETENTION_S)

        refusal = self._budget_refusal(
            limits.monthly_budget_usd, month, "monthly_budget_usd", periods.month_ends_s - wall_s
        )
        refusal = refusal or self._budget_refusal(
            limits.daily_budget_usd, day, "daily_budget_usd", periods.day_ends_s - wall_s
        )
        leases = self._leases[tenant]
        if refusal is None and limits.concurrent_requests is not None:
            self._expire_leases(leases, wall_s)
            if len(leases) >= limits.concurrent_requests:
                refusal = Refusal(
                    "concurrent_requests", limits.concurrent_requests, CONCURRENCY_RETRY_S
                )
        requests_level = tokens_level = None
        if refusal is None and limits.requests_per_minute is not None:
            rule = BucketRule(limits.requests_per_minute)
            bucket = self._requests[tenant]
            requests_level = rule.refilled(bucket.level, bucket.updated_s, wall_s)
            if requests_level < 1.0:
                refusal = Refusal(
                    "requests_per_minute", rule.capacity, rule.wait_s(requests_level, 1.0)
                )
        if refusal is None and limits.tokens_per_minute is not None:
            rule = BucketRule(limits.tokens_per_minute)
            bucket = self._tokens[tenant]
            tokens_level = rule.refilled(bucket.level, bucket.updated_s, wall_s)
            if tokens_level < min(charge.tokens, rule.capacity):
                refusal = Refusal(
                    "tokens_per_minute", rule.capacity, rule.wait_s(tokens_level, charge.tokens)
                )
        if refusal is not None:
            for period in (day, month):
                key = f"refused:{refusal.limit}"
                period.counters[key] = period.counters.get(key, 0.0) + 1.0
            return Verdict(refusal)

        # Every limit admits the request: charge them all.
        if requests_level is not None:
            requests_level -= 1.0
            self._requests[tenant] = _Bucket(requests_level, wall_s)
        if tokens_level is not None:
            tokens_level -= charge.tokens
            self._tokens[tenant] = _Bucket(tokens_level, wall_s)
        if limits.concurrent_requests is not None:
            leases[charge.request_id] = wall_s + charge.lease_s
        for period in (day, month):
            period.counters["reserved_usd"] = (
                period.counters.get("reserved_usd", 0.0) + charge.cost_usd
            )
        return Verdict(None, requests_level, tokens_level)

    async def settle(self, charge: Charge, limits: Limits, outcome: Outcome, wall_s: float) -> None:
        tenant = charge.tenant
        delta = outcome.tokens - charge.tokens
        if limits.tokens_per_minute is not None and delta:
            rule = BucketRule(limits.tokens_per_minute)
            bucket = self._tokens[tenant]
            level = rule.refilled(bucket.level, bucket.updated_s, wall_s)
            self._tokens[tenant] = _Bucket(min(rule.capacity, level - delta), wall_s)
        self._leases[tenant].pop(charge.request_id, None)
        increments = outcome_increments(outcome)
        periods = charge.periods
        for key, retention_s in (
            ("d:" + periods.day, DAY_RETENTION_S),
            ("m:" + periods.month, MONTH_RETENTION_S),
        ):
            counters = self._period(tenant, key, wall_s + retention_s).counters
            reserved = counters.get("reserved_usd", 0.0) - charge.cost_usd
            counters["reserved_usd"] = reserved if reserved > 1e-12 else 0.0
            for name, value in increments.items():
                counters[name] = counters.get(name, 0.0) + value

    async def counters(self, tenant: str, periods: Periods) -> tuple[Counters, Counters]:
        day = self._periods.get((tenant, "d:" + periods.day))
        month = self._periods.get((tenant, "m:" + periods.month))
        return (
            dict(day.counters) if day else {},
            dict(month.counters) if month else {},
        )

    async def in_flight(self, tenant: str, wall_s: float) -> int:
        leases = self._leases.get(tenant, {})
        self._expire_leases(leases, wall_s)
        return len(leases)

    async def close(self) -> None:
        return None

    def _period(self, tenant: str, key: str, expires_s: float) -> _Period:
        period = self._periods.get((tenant, key))
        if period is None:
            period = self._periods[(tenant, key)] = _Period({}, expires_s)
        return period

    def _sweep(self, day: str, wall_s: float) -> None:
        """Once a day, forget periods past their retention."""
        if day == self._swept_day:
            return
        self._swept_day = day
        for key in [k for k, p in self._periods.items() if p.expires_s < wall_s]:
            del self._periods[key]

    @staticmethod
    def _expire_leases(leases: dict[str, float], wall_s: float) -> None:
        for request_id in [r for r, until in leases.items() if until <= wall_s]:
            del leases[request_id]

    @staticmethod
    def _budget_refusal(
        budget_usd: float | None, period: _Period, limit: LimitName, until_end_s: float
    ) -> Refusal | None:
        if budget_usd is None:
            return None
        counters = period.counters
        committed = counters.get("spend_usd", 0.0) + counters.get("reserved_usd", 0.0)
        if committed + BUDGET_EPSILON_USD < budget_usd:
            return None
        return Refusal(limit, budget_usd, max(1.0, until_end_s))
