"""Admission: the tenant's rate limits, token limits, concurrency and budgets, before any work.

Each request is charged one request, its estimated tokens (input estimate + the larger of its two
output caps, or the node's assumed output, times the choices generated: `n`, `best_of`) and its
estimated cost (at the highest price among the alias's targets, as the endpoint is not chosen
yet) in one atomic step of the limits backend. Over a limit it gets a 429 with `Retry-After`:
`rate_limit_exceeded` for rates and concurrency, `insufficient_quota` for budgets. When the
request ends, `on_done` hands the charge and what the request really used (the upstream's usage,
or the counted stream) to the limits' settlements (`router.limits.settlements`), so streams are
charged too and the tenant's usage is kept by model and endpoint. Tenants without limits skip the
check but are still recorded.

Halves: request (checks and charges the estimate), record (settles it). State: per request, the
admission ticket in its slot (`TICKET_SLOT`); the counters are the limits backend's, the
settlements still running the settlements owner's.
"""

from __future__ import annotations

import itertools
import os

from router.answer import Answer
from router.cache.exact import CachedAnswer
from router.cache_request import cache_hit
from router.clock import Clock
from router.config.model import RoutingSettings
from router.context import RequestContext, SlotKey
from router.endpoints.balancer import estimate_price_usd
from router.endpoints.registry import Registry
from router.errors import QuotaExceeded, RateLimited, TokensRateLimited
from router.forwarding.cascade import rejected_usage
from router.limits.backend import (
    NO_LIMITS,
    AdmissionTicket,
    Charge,
    Limits,
    Outcome,
    Periods,
    Refusal,
    Verdict,
)
from router.limits.budget_watch import BudgetWatch
from router.limits.fallback import FallbackLimits
from router.limits.settlements import Settlements
from router.policy.model import TenantPolicy
from router.pricing import served_cost_usd
from router.telemetry.metrics import Metrics
from router.wire.requests import Operation

# What admission charged this request, settled against what it used when it ends.
TICKET_SLOT: SlotKey[AdmissionTicket] = SlotKey("admission.ticket")
# A concurrency slot of a request whose process died is freed this long after its deadline (a
# stream is cut at its deadline; the margin covers clocks that differ between routers).
_LEASE_MARGIN_S = 10.0

_MESSAGES = {
    "requests_per_minute": "Rate limit reached on requests per min (RPM)",
    "tokens_per_minute": "Rate limit reached on tokens per min (TPM)",
    "concurrent_requests": "Rate limit reached on concurrent requests",
    "daily_budget_usd": "You exceeded your daily budget",
    "monthly_budget_usd": "You exceeded your monthly budget",
}


class AdmissionStage:
    name = "admission"
    terminal = False

    def __init__(
        self,
        limits: FallbackLimits,
        settlements: Settlements,
        budgets: BudgetWatch,
        registry: Registry,
        routing: RoutingSettings,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._limits = limits
        self._local = limits.local
        self._settlements = settlements
        self._budgets = budgets
        self._clock = clock
        self._assumed_output_tokens = routing.assumed_output_tokens
        # The dearest target of each alias prices the estimate: (input, output) per Mtok.
        self._dearest = {
            alias: (
                max(t.pricing.input_price_per_mtok for t in targets),
                max(t.pricing.output_price_per_mtok for t in targets),
            )
            for alias, targets in registry.aliases.items()
        }
        self._periods = Periods.at(clock.wall())
        # Request ids hold concurrency slots, in Redis too: unique across processes by a random
        # prefix, cheap by a counter.
        self._id_prefix = os.urandom(8).hex() + "-"
        self._request_numbers = itertools.count()
        self._refused = metrics.meter.create_counter(
            "router.limits.refused", description="Requests refused by admission, by limit."
        )
        self._policy_limits: dict[int, tuple[TenantPolicy, Limits]] = {}

    async def on_request(self, ctx: RequestContext) -> Answer | None:
        limits = self._limits_of(ctx.policy)
        charge = self._charge(ctx)
        backend = self._limits.current()
        if limits.any:
            if backend is self._local:  # no coroutine on the embedded default
                verdict = self._limits.admit_locally(charge, limits)
            else:
                verdict, backend = await self._limits.admit(charge, limits, backend)
            if verdict.refusal is not None:
                self._refused.add(1, {"limit": verdict.refusal.limit})
                raise _refusal_error(verdict.refusal)
            ctx.decision.rate_limit_headers = _rate_limit_headers(verdict, limits)
            if verdict.budget_used is not None:
                self._budgets.record(ctx.tenant, verdict.budget_used, charge.wall_s)
        ctx.put(TICKET_SLOT, AdmissionTicket(charge, limits, backend))
        return None

    def on_done(self, ctx: RequestContext) -> None:
        """Settle the request's charge with what it used."""
        ticket = ctx.slot(TICKET_SLOT)
        if ticket is None:
            return
        ctx.slots.pop(TICKET_SLOT)  # settled once
        self._settlements.settle(ticket, _outcome(ctx))

    def _limits_of(self, policy: TenantPolicy | None) -> Limits:
        if policy is None:
            return NO_LIMITS
        cached = self._policy_limits.get(id(policy))
        if cached is None or cached[0] is not policy:
            if len(self._policy_limits) > 10_000:  # many reloads: start over
                self._policy_limits.clear()
            cached = self._policy_limits[id(policy)] = (policy, Limits.from_policy(policy.limits))
        return cached[1]

    def _charge(self, ctx: RequestContext) -> Charge:
        parsed = ctx.parsed
        if parsed.operation is Operation.EMBEDDINGS:
            output_tokens = 0
        else:
            # The larger token cap, times every choice generated (n, best_of): the most an
            # upstream may produce for this request.
            output_tokens = parsed.estimated_output_tokens(self._assumed_output_tokens)
        input_price, output_price = self._dearest.get(parsed.model, (0.0, 0.0))
        wall_s = self._clock.wall()
        periods = self._periods
        if wall_s >= periods.day_ends_s or wall_s < periods.day_ends_s - 86_400:
            periods = self._periods = Periods.at(wall_s)
        return Charge(
            tenant=ctx.tenant,
            request_id=f"{self._id_prefix}{next(self._request_numbers)}",
            tokens=parsed.estimated_input_tokens + output_tokens,
            cost_usd=estimate_price_usd(
                parsed.estimated_input_tokens, output_tokens, input_price, output_price
            ),
            wall_s=wall_s,
            periods=periods,
            lease_s=_deadline_s(ctx) + _LEASE_MARGIN_S,
        )


UNROUTED_MODEL = "(unrouted)"


def _deadline_s(ctx: RequestContext) -> float:
    """The request's whole budget (the auth stage set its deadline: the tenant's, or the node's)."""
    return ctx.deadline_s - ctx.started_s


def _outcome(ctx: RequestContext) -> Outcome:
    """What the request used: the serving endpoint's usage at its prices, plus the tokens of a
    local answer the cascade did not keep (free at the edge, but tokens all the same)."""
    decision, usage = ctx.decision, ctx.usage
    hit = cache_hit(ctx)
    # Keyed by what the router resolved, never by the client's own `model` string: a request
    # refused before routing (404, 400, 429) counts under one label, so names a client makes up
    # cannot grow the usage records kept for 62 days in memory or Redis (2,000 requests with
    # 100 KB names once added 220 MiB). A cache hit's model is one an earlier answer was routed as.
    model = decision.alias or (ctx.parsed.model if hit is not None else UNROUTED_MODEL)
    if hit is not None:
        return _cache_hit_outcome(ctx, hit, model)
    input_tokens = output_tokens = 0
    cost_usd = served_cost_usd(ctx)
    if usage is not None:
        input_tokens, output_tokens = usage.input_tokens, usage.output_tokens
    rejected = rejected_usage(ctx)
    if rejected is not None:
        input_tokens += rejected.input_tokens
        output_tokens += rejected.output_tokens
    return Outcome(input_tokens, output_tokens, cost_usd, model, decision.endpoint)


def _cache_hit_outcome(ctx: RequestContext, hit: CachedAnswer, model: str) -> Outcome:
    """A cached answer: free by default, its first price counted as saved; or, for a tenant
    whose policy says `cache.charge_hits`, charged its tokens and first price."""
    if ctx.policy is not None and ctx.policy.cache.charge_hits:
        usage = hit.usage
        tokens = (usage.input_tokens, usage.output_tokens) if usage is not None else (0, 0)
        return Outcome(*tokens, hit.cost_usd, model, "", cache_hits=1)
    return Outcome(0, 0, 0.0, model, "", cache_hits=1, saved_usd=hit.cost_usd)


def _refusal_error(refusal: Refusal) -> RateLimited | QuotaExceeded:
    retry_s = refusal.retry_after_s
    message = (
        f"{_MESSAGES[refusal.limit]}: limit {refusal.limit_value:g}. "
        f"Please try again in {_duration(retry_s)}."
    )
    if refusal.limit in ("daily_budget_usd", "monthly_budget_usd"):
        return QuotaExceeded(message, retry_after_s=retry_s)
    kind = {"requests_per_minute": "requests", "tokens_per_minute": "tokens"}.get(refusal.limit)
    headers = {}
    if kind is not None:
        headers = {
            f"x-ratelimit-limit-{kind}": f"{refusal.limit_value:g}",
            f"x-ratelimit-remaining-{kind}": "0",
            f"x-ratelimit-reset-{kind}": _duration(retry_s),
        }
    if refusal.limit == "tokens_per_minute":
        return TokensRateLimited(message, retry_after_s=retry_s, extra_headers=headers)
    return RateLimited(message, retry_after_s=retry_s, extra_headers=headers)


def _rate_limit_headers(verdict: Verdict, limits: Limits) -> dict[str, str] | None:
    """OpenAI's `x-ratelimit-*` headers: limit, remaining, and time until the bucket is full."""
    headers: dict[str, str] = {}
    rpm, level = limits.requests_per_minute, verdict.remaining_requests
    if rpm is not None and level is not None:
        headers["x-ratelimit-limit-requests"] = str(rpm)
        headers["x-ratelimit-remaining-requests"] = str(max(0, int(level)))
        headers["x-ratelimit-reset-requests"] = _duration((rpm - level) * 60.0 / rpm)
    tpm, level = limits.tokens_per_minute, verdict.remaining_tokens
    if tpm is not None and level is not None:
        headers["x-ratelimit-limit-tokens"] = str(tpm)
        headers["x-ratelimit-remaining-tokens"] = str(max(0, int(level)))
        headers["x-ratelimit-reset-tokens"] = _duration((tpm - level) * 60.0 / tpm)
    return headers or None


def _duration(seconds: float) -> str:
    """OpenAI's duration style: `20ms`, `1.5s`, `6m0s`, `2h30m0s`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes}m{secs}s" if hours else f"{minutes}m{secs}s"
