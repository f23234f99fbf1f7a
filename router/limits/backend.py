"""Admission limits: what a limits backend does, and the records it keeps.

A backend owns, per tenant: two token buckets (requests and tokens per minute), the requests in
flight, and usage counters per UTC day and per UTC month (requests, tokens, spend, by model and by
endpoint), which are also the budget ledger. `admit` checks every limit and charges all of them in
one atomic step, or charges nothing and counts the refusal; `settle` replaces the estimates with
what the request really used when it ends. Two backends implement it: `memory` (one process, the
embedded default) and `redis` (shared by every process and PoP on the same Redis; a Lua script is
the atomic step). Both follow the same rules, written once here as `BucketRule`, and pass the same
contract tests.

Rules:
- A bucket holds at most its per-minute limit and refills at limit / 60 per second. A request
  takes one request token and its estimated tokens (input estimate + max output). A request
  estimated above the whole per-minute allowance waits for a full bucket, then leaves it in debt,
  rather than being refused forever. Settling adds the difference between real and estimated
  tokens, so a bucket may go negative (debt) and later requests wait it off.
- Budgets: a request is admitted while spend + reserved < budget; it reserves its estimated cost
  until it settles with its real cost. So concurrent requests see each other's reservations and
  overshoot a budget by at most what the requests already admitted really cost.
- Time is wall-clock seconds passed in by the caller, so every process sharing a Redis uses the
  same kind of time and tests drive it with a fake clock.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from typing import Literal, Protocol

from router.policy.model import LimitsPolicy

LimitName = Literal[
    "requests_per_minute",
    "tokens_per_minute",
    "concurrent_requests",
    "daily_budget_usd",
    "monthly_budget_usd",
]

SECONDS_PER_MINUTE = 60.0
# How long usage counters outlive their period, so that a report for yesterday or last month
# still works and a request admitted before midnight settles into the period it was admitted in.
DAY_RETENTION_S = 3 * 86_400
MONTH_RETENTION_S = 62 * 86_400
# Spend is summed in floats: $0.10 ten times is 0.9999999999999999. A budget counts as spent
# within this much, so float error never lets one more request through.
BUDGET_EPSILON_USD = 1e-9
# Told to a client refused for concurrency: a slot frees when some request ends, which is unknown.
CONCURRENCY_RETRY_S = 1.0


@dataclass(frozen=True, slots=True)
class Limits:
    """A tenant's limits (None: no such limit)."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    concurrent_requests: int | None = None
    daily_budget_usd: float | None = None
    monthly_budget_usd: float | None = None

    @classmethod
    def from_policy(cls, policy: LimitsPolicy) -> Limits:
        return cls(
            requests_per_minute=policy.requests_per_minute,
            tokens_per_minute=policy.tokens_per_minute,
            concurrent_requests=policy.concurrent_requests,
            daily_budget_usd=policy.daily_budget_usd,
            monthly_budget_usd=policy.monthly_budget_usd,
        )

    @property
    def any(self) -> bool:
        return any(
            value is not None
            for value in (
                self.requests_per_minute,
                self.tokens_per_minute,
                self.concurrent_requests,
                self.daily_budget_usd,
                self.monthly_budget_usd,
            )
        )


NO_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Periods:
    """The UTC day and month a moment falls in, and when each ends."""

    day: str  # 2026-11-22
    month: str  # 2026-11
    day_ends_s: float
    month_ends_s: float

    @classmethod
    def at(cls, wall_s: float) -> Periods:
        t = time.gmtime(wall_s)
        day_start = calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0))
        next_year, next_month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
        return cls(
            day=f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}",
            month=f"{t.tm_year:04d}-{t.tm_mon:02d}",
            day_ends_s=float(day_start + 86_400),
            month_ends_s=float(calendar.timegm((next_year, next_month, 1, 0, 0, 0))),
        )


@dataclass(frozen=True, slots=True)
class Charge:
    """What admission charges one request: one request, its estimated tokens and cost."""

    tenant: str
    request_id: str
    tokens: int
    cost_usd: float
    wall_s: float
    periods: Periods
    # The longest a concurrency slot is held if the request never settles (its process died).
    lease_s: float


@dataclass(frozen=True, slots=True)
class Refusal:
    limit: LimitName
    limit_value: float
    retry_after_s: float


@dataclass(frozen=True, slots=True)
class Verdict:
    refusal: Refusal | None = None
    # Bucket levels after the charge, for the `x-ratelimit-remaining-*` headers.
    remaining_requests: float | None = None
    remaining_tokens: float | None = None
    # The largest share of a daily or monthly budget committed once this request is charged
    # (spent and reserved over the budget); None without a budget.
    budget_used: float | None = None
    # The day's and the month's committed spend (spent and reserved, USD) once it is charged;
    # None without a budget. What a process falls back on if the shared backend goes away.
    committed_usd: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a request really used, known when it ends."""

    input_tokens: int
    output_tokens: int
    cost_usd: float
    model: str
    endpoint: str  # "" when no endpoint answered
    # A cached answer: counted as a hit, with what the answer cost when it was first served
    # (`saved_usd`) when the tenant is not charged for hits.
    cache_hits: int = 0
    saved_usd: float = 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class LimitsBackend(Protocol):
    name: str

    async def admit(self, charge: Charge, limits: Limits) -> Verdict: ...

    async def settle(
        self, charge: Charge, limits: Limits, outcome: Outcome, wall_s: float
    ) -> None: ...

    async def counters(self, tenant: str, periods: Periods) -> tuple[Counters, Counters]:
        """The tenant's usage counters for the day and the month of `periods`."""
        ...

    async def in_flight(self, tenant: str, wall_s: float) -> int: ...

    async def ping(self) -> None:
        """Return once the backend answers (raise as a call would when it does not)."""
        ...

    async def release(self, charge: Charge) -> bool:
        """Give back what an admission whose answer never came holds, if it ran, and stop it
        from running later (a shared backend may carry out a call its caller gave up on).
        Whether it had run."""
        ...

    async def add_usage(self, tenant: str, period: str, counters: Counters, wall_s: float) -> None:
        """Add usage counted elsewhere to the tenant's `period` (a day or a month, `is_day`):
        what a process served on its local limits while this backend was unreachable."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class AdmissionTicket:
    """What a request was charged and by which backend, to settle it there."""

    charge: Charge
    limits: Limits
    backend: LimitsBackend


# Flat usage counters, the same in both backends: requests, input_tokens, output_tokens,
# spend_usd, reserved_usd, `model:<alias>:<counter>`, `endpoint:<name>:<counter>` and
# `refused:<limit>`.
Counters = dict[str, float]


def is_day(period: str) -> bool:
    """Whether a usage period names a day (`2026-11-22`, as `Periods.day`) or a month
    (`2026-11`)."""
    return len(period) == len("2026-11-22")


@dataclass(frozen=True, slots=True)
class BucketRule:
    """A per-minute token bucket's arithmetic, shared by the memory backend and the tests that
    check the Redis script against it."""

    capacity: float

    @property
    def rate_per_s(self) -> float:
        return self.capacity / SECONDS_PER_MINUTE

    def refilled(self, level: float | None, updated_s: float | None, wall_s: float) -> float:
        if level is None or updated_s is None:
            return self.capacity  # a new bucket starts full
        elapsed_s = max(0.0, wall_s - updated_s)  # a clock stepping back refills nothing
        return min(self.capacity, level + elapsed_s * self.rate_per_s)

    def wait_s(self, level: float, need: float) -> float:
        """Seconds until the bucket holds `need` (capped at a full bucket)."""
        need = min(need, self.capacity)
        return max(0.0, (need - level) / self.rate_per_s)
