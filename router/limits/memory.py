"""The in-memory limits backend: the embedded default, for one router process.

`admit_now` and `settle_now` run to completion without awaiting, so on the event loop they are
atomic the same way the Redis backend's scripts are, and the admission stage calls them directly
(no task, no coroutine) on the hot path; the async methods are the `LimitsBackend` protocol. State
is keyed by tenant and lives as long as the process: a policy reload changes a tenant's limits,
not what it has already used. Usage is kept in small structured totals (cheaper to update than
the flat counters the Redis hashes hold) and flattened only for a report.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

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
    is_day,
)


@dataclass(slots=True)
class _Bucket:
    level: float | None = None
    updated_s: float | None = None


_INT_COUNTERS = frozenset(("requests", "input_tokens", "output_tokens", "cache_hits"))
_FLOAT_COUNTERS = frozenset(("spend_usd", "saved_usd"))


@dataclass(slots=True)
class _Totals:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    spend_usd: float = 0.0
    cache_hits: int = 0
    saved_usd: float = 0.0

    def add(self, outcome: Outcome) -> None:
        self.requests += 1
        self.input_tokens += outcome.input_tokens
        self.output_tokens += outcome.output_tokens
        self.spend_usd += outcome.cost_usd
        self.cache_hits += outcome.cache_hits
        self.saved_usd += outcome.saved_usd

    def add_counter(self, name: str, value: float) -> None:
        """Add one flat counter (`requests`, `spend_usd`, ...); an unknown name is ignored."""
        if name in _FLOAT_COUNTERS:
            setattr(self, name, getattr(self, name) + value)
        elif name in _INT_COUNTERS:
            setattr(self, name, getattr(self, name) + int(value))

    def flatten(self, prefix: str, into: Counters) -> None:
        into[prefix + "requests"] = float(self.requests)
        into[prefix + "input_tokens"] = float(self.input_tokens)
        into[prefix + "output_tokens"] = float(self.output_tokens)
        into[prefix + "spend_usd"] = self.spend_usd
        into[prefix + "cache_hits"] = float(self.cache_hits)
        into[prefix + "saved_usd"] = self.saved_usd


@dataclass(slots=True)
class _Period:
    expires_s: float
    totals: _Totals = field(default_factory=_Totals)
    reserved_usd: float = 0.0
    # Spend committed elsewhere, counted against budgets only: what the shared backend last said
    # while this process serves on local limits (`MemoryLimits.start_from`).
    baseline_usd: float = 0.0
    by_model: dict[str, _Totals] = field(default_factory=lambda: defaultdict(_Totals))
    by_endpoint: dict[str, _Totals] = field(default_factory=lambda: defaultdict(_Totals))
    refused: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def settled(self) -> bool:
        """Whether anything was settled or refused in it."""
        return bool(self.totals.requests or self.refused)

    @property
    def committed_usd(self) -> float:
        return self.baseline_usd + self.totals.spend_usd + self.reserved_usd

    def add(self, outcome: Outcome) -> None:
        self.totals.add(outcome)
        self.by_model[outcome.model].add(outcome)
        if outcome.endpoint:
            self.by_endpoint[outcome.endpoint].add(outcome)

    def add_counters(self, counters: Counters) -> None:
        """Add flat counters as `counters()` writes them (reservations excepted: those are
        requests running in another process)."""
        for key, value in counters.items():
            group, _, rest = key.partition(":")
            if group == "refused":
                self.refused[rest] += int(value)
            elif group in ("model", "endpoint") and ":" in rest:
                member, name = rest.rsplit(":", 1)
                members = self.by_model if group == "model" else self.by_endpoint
                members[member].add_counter(name, value)
            else:
                self.totals.add_counter(key, value)

    def take_settled(self) -> Counters:
        """What was settled here, as flat counters, handed over: the period starts over, with
        the reservations of its requests still running."""
        taken = self.counters()
        del taken["reserved_usd"]
        self.totals = _Totals()
        self.by_model = defaultdict(_Totals)
        self.by_endpoint = defaultdict(_Totals)
        self.refused = defaultdict(int)
        return taken

    def counters(self) -> Counters:
        counters: Counters = {"reserved_usd": self.reserved_usd}
        if self.totals.requests:
            self.totals.flatten("", counters)
        for group, members in (("model", self.by_model), ("endpoint", self.by_endpoint)):
            for name, totals in members.items():
                totals.flatten(f"{group}:{name}:", counters)
        for limit, count in self.refused.items():
            counters[f"refused:{limit}"] = float(count)
        return counters


class MemoryLimits:
    name = "memory"

    def __init__(self) -> None:
        self._requests: dict[str, _Bucket] = defaultdict(_Bucket)
        self._tokens: dict[str, _Bucket] = defaultdict(_Bucket)
        self._leases: dict[str, dict[str, float]] = defaultdict(dict)  # request id -> until
        self._periods: dict[tuple[str, str], _Period] = {}
        self._swept_day = ""

    async def admit(self, charge: Charge, limits: Limits) -> Verdict:
        return self.admit_now(charge, limits)

    async def settle(self, charge: Charge, limits: Limits, outcome: Outcome, wall_s: float) -> None:
        self.settle_now(charge, limits, outcome, wall_s)

    def admit_now(self, charge: Charge, limits: Limits) -> Verdict:
        tenant, wall_s, periods = charge.tenant, charge.wall_s, charge.periods
        if periods.day != self._swept_day:
            self._sweep(periods.day, wall_s)
        day = self._period(tenant, periods.day, wall_s + DAY_RETENTION_S)
        month = self._period(tenant, periods.month, wall_s + MONTH_RETENTION_S)

        refusal = _budget_refusal(
            limits.monthly_budget_usd, month, "monthly_budget_usd", periods.month_ends_s - wall_s
        ) or _budget_refusal(
            limits.daily_budget_usd, day, "daily_budget_usd", periods.day_ends_s - wall_s
        )
        leases = self._leases[tenant]
        if refusal is None and limits.concurrent_requests is not None:
            if len(leases) >= limits.concurrent_requests:
                _expire_leases(leases, wall_s)  # only when full: a dead lease may hold a slot
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
            day.refused[refusal.limit] += 1
            month.refused[refusal.limit] += 1
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
        day.reserved_usd += charge.cost_usd
        month.reserved_usd += charge.cost_usd
        used = _budget_used(limits, day, month)
        committed = (
            (day.committed_usd, month.committed_usd)
            if limits.daily_budget_usd or limits.monthly_budget_usd
            else None
        )
        return Verdict(None, requests_level, tokens_level, used, committed)

    def settle_now(self, charge: Charge, limits: Limits, outcome: Outcome, wall_s: float) -> None:
        tenant = charge.tenant
        delta = outcome.tokens - charge.tokens
        if limits.tokens_per_minute is not None and delta:
            rule = BucketRule(limits.tokens_per_minute)
            bucket = self._tokens[tenant]
            level = rule.refilled(bucket.level, bucket.updated_s, wall_s)
            self._tokens[tenant] = _Bucket(min(rule.capacity, level - delta), wall_s)
        self._leases[tenant].pop(charge.request_id, None)
        periods = charge.periods
        for key, retention_s in (
            (periods.day, DAY_RETENTION_S),
            (periods.month, MONTH_RETENTION_S),
        ):
            period = self._period(tenant, key, wall_s + retention_s)
            reserved = period.reserved_usd - charge.cost_usd
            period.reserved_usd = reserved if reserved > 1e-12 else 0.0
            period.add(outcome)

    async def counters(self, tenant: str, periods: Periods) -> tuple[Counters, Counters]:
        day = self._periods.get((tenant, periods.day))
        month = self._periods.get((tenant, periods.month))
        return (day.counters() if day else {}, month.counters() if month else {})

    async def in_flight(self, tenant: str, wall_s: float) -> int:
        leases = self._leases.get(tenant, {})
        _expire_leases(leases, wall_s)
        return len(leases)

    async def ping(self) -> None:
        return None

    async def release(self, charge: Charge) -> bool:
        return False  # a call here completes or never starts: none runs after its caller gave up

    async def add_usage(self, tenant: str, period: str, counters: Counters, wall_s: float) -> None:
        self.add_usage_now(tenant, period, counters, wall_s)

    def add_usage_now(self, tenant: str, period: str, counters: Counters, wall_s: float) -> None:
        retention_s = DAY_RETENTION_S if is_day(period) else MONTH_RETENTION_S
        self._period(tenant, period, wall_s + retention_s).add_counters(counters)

    def start_from(self, tenant: str, periods: Periods, committed_usd: tuple[float, float]) -> None:
        """Count the spend the shared backend last said the tenant had committed in the day and
        the month of `periods` against its budgets here (its counters are not changed): a
        process cut off from Redis does not spend the budget a second time."""
        wall_s = periods.day_ends_s - 86_400.0
        day = self._period(tenant, periods.day, wall_s + DAY_RETENTION_S)
        month = self._period(tenant, periods.month, wall_s + MONTH_RETENTION_S)
        day.baseline_usd, month.baseline_usd = committed_usd

    def forget_baselines(self) -> None:
        """The shared backend answers again: it counts what was committed elsewhere."""
        for period in self._periods.values():
            period.baseline_usd = 0.0

    def take_settled(self) -> list[tuple[str, str, Counters]]:
        """The usage settled here so far, per tenant and period, handed over and forgotten
        here: what this process served on local limits while the shared backend was unreachable,
        for it to add up (`router.limits.fallback.FallbackLimits`). Reservations stay."""
        taken = []
        for (tenant, period), totals in list(self._periods.items()):
            if totals.settled:
                taken.append((tenant, period, totals.take_settled()))
            if not totals.reserved_usd:
                del self._periods[(tenant, period)]  # nothing left here but an empty record
        return taken

    async def close(self) -> None:
        return None

    def _period(self, tenant: str, key: str, expires_s: float) -> _Period:
        """A tenant's totals for one day (`2026-11-22`) or month (`2026-11`)."""
        period = self._periods.get((tenant, key))
        if period is None:
            period = self._periods[(tenant, key)] = _Period(expires_s)
        return period

    def _sweep(self, day: str, wall_s: float) -> None:
        """Once a day, forget periods past their retention."""
        self._swept_day = day
        for key in [k for k, p in self._periods.items() if p.expires_s < wall_s]:
            del self._periods[key]


def _expire_leases(leases: dict[str, float], wall_s: float) -> None:
    for request_id in [r for r, until in leases.items() if until <= wall_s]:
        del leases[request_id]


def _budget_used(limits: Limits, day: _Period, month: _Period) -> float | None:
    shares = [
        period.committed_usd / budget
        for budget, period in ((limits.daily_budget_usd, day), (limits.monthly_budget_usd, month))
        if budget
    ]
    return max(shares) if shares else None


def _budget_refusal(
    budget_usd: float | None, period: _Period, limit: LimitName, until_end_s: float
) -> Refusal | None:
    if budget_usd is None or period.committed_usd + BUDGET_EPSILON_USD < budget_usd:
        return None
    return Refusal(limit, budget_usd, max(1.0, until_end_s))
