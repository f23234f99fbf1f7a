"""What the built-in dashboard (`/dashboard`) shows, kept as requests end, with no exporter and no
other service: the last requests, each with its decision, its stages and its attempts (a
waterfall); per-second counts of the last two minutes; totals per tenant.

Every structure is bounded: `RECENT` requests, `SECONDS` seconds of counts with at most
`SAMPLES` latency samples a second, `MAX_TENANTS` tenants (tenants are the policy files'). The
request path appends one record (a few fields and references to objects the request already
made); the work of summing, sorting and turning into JSON is done when the dashboard asks,
behind the admin token (it shows every tenant: it is the operator's).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from router.cache_request import cache_hit
from router.context import Decision, RequestContext
from router.pricing import served_cost_usd
from router.telemetry.request_outcome import added_s, failed

RECENT = 200
SECONDS = 120
SAMPLES = 2_000
MAX_TENANTS = 10_000
NODE_TENANT = "(node key)"
_SERVED_BY = ("cloud", "edge", "cache", "none")


@dataclass(slots=True)
class _Second:
    second: int
    served_by: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    added_ms: list[float] = field(default_factory=list)
    # Time to first token of streams, by the endpoint (or `cache`) that answered.
    ttft_ms: dict[str, list[float]] = field(default_factory=dict)
    # The second's summary, kept once the second is over: a snapshot sorts each second's
    # samples once, not at every poll of the page (120 seconds of up to 2,000 samples).
    summary: dict[str, Any] | None = None

    def summarized(self, over: bool) -> dict[str, Any]:
        if self.summary is not None:
            return self.summary
        added = sorted(self.added_ms)
        summary = {
            "t": self.second,
            "served_by": {k: self.served_by.get(k, 0) for k in _SERVED_BY},
            "errors": self.errors,
            "added_p50_ms": _quantile(added, 0.5),
            "added_p99_ms": _quantile(added, 0.99),
            "ttft_p50_ms": {where: _quantile(sorted(v), 0.5) for where, v in self.ttft_ms.items()},
        }
        if over:
            self.summary = summary
        return summary


@dataclass(slots=True)
class _Tenant:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    spend_usd: float = 0.0
    saved_usd: float = 0.0
    cache_hits: int = 0


@dataclass(frozen=True, slots=True)
class RecentRequest:
    request_id: str
    at_s: float  # wall clock
    tenant: str
    model: str
    stream: bool
    status: int
    error_type: str
    duration_ms: float
    first_byte_ms: float | None
    # Reading and parsing the body, before the pipeline's first stage.
    head_ms: float
    decision: Decision
    stage_ms: dict[str, float]
    input_tokens: int | None
    output_tokens: int | None


class DashboardFeed:
    def __init__(self) -> None:
        self._recent: deque[RecentRequest] = deque(maxlen=RECENT)
        self._seconds: deque[_Second] = deque(maxlen=SECONDS)
        self._tenants: dict[str, _Tenant] = {}

    def record(
        self,
        ctx: RequestContext,
        request_id: str,
        at_s: float,
        status: int,
        error_type: str,
        duration_s: float,
        first_byte_s: float | None,
        head_s: float,
    ) -> None:
        decision, usage = ctx.decision, ctx.usage
        served_by = decision.served_by or "none"
        second = self._second(int(at_s))
        second.served_by[served_by] = second.served_by.get(served_by, 0) + 1
        if failed(error_type):
            second.errors += 1
        added = added_s(ctx, duration_s)
        if added is not None and len(second.added_ms) < SAMPLES:
            second.added_ms.append(added * 1000.0)
        if first_byte_s is not None:
            where = decision.endpoint or served_by
            samples = second.ttft_ms.setdefault(where, [])
            if len(samples) < SAMPLES:
                samples.append(first_byte_s * 1000.0)
        self._tenant(ctx, usage is not None and decision.endpoint != "")
        self._recent.append(
            RecentRequest(
                request_id,
                at_s,
                ctx.tenant or NODE_TENANT,
                decision.alias or ctx.parsed.model[:64],
                ctx.parsed.stream,
                status,
                error_type,
                duration_s * 1000.0,
                None if first_byte_s is None else first_byte_s * 1000.0,
                head_s * 1000.0,
                decision,
                ctx.stage_ms,
                None if usage is None else usage.input_tokens,
                None if usage is None else usage.output_tokens,
            )
        )

    def _second(self, now: int) -> _Second:
        seconds = self._seconds
        if seconds and seconds[-1].second == now:
            return seconds[-1]
        second = _Second(now)
        seconds.append(second)
        return second

    def _tenant(self, ctx: RequestContext, served: bool) -> None:
        name = ctx.tenant or NODE_TENANT
        totals = self._tenants.get(name)
        if totals is None:
            if len(self._tenants) >= MAX_TENANTS:
                return
            totals = self._tenants[name] = _Tenant()
        totals.requests += 1
        usage = ctx.usage
        if usage is not None and served:
            totals.input_tokens += usage.input_tokens
            totals.output_tokens += usage.output_tokens
            totals.spend_usd += served_cost_usd(ctx)
        hit = cache_hit(ctx)
        if hit is not None:
            totals.cache_hits += 1
            totals.saved_usd += hit.cost_usd

    def snapshot(self, now_s: float) -> dict[str, Any]:
        """The last two minutes, second by second, the tenants and the recent requests."""
        first = int(now_s) - SECONDS + 1
        by_second = {s.second: s for s in self._seconds if s.second >= first}
        seconds = []
        for t in range(first, int(now_s) + 1):
            second = by_second.get(t)
            seconds.append(second.summarized(t < int(now_s)) if second else _quiet(t))
        tenants = [
            {
                "tenant": name,
                "requests": t.requests,
                "input_tokens": t.input_tokens,
                "output_tokens": t.output_tokens,
                "spend_usd": t.spend_usd,
                "saved_usd": t.saved_usd,
                "cache_hits": t.cache_hits,
            }
            for name, t in sorted(self._tenants.items(), key=lambda kv: -kv[1].spend_usd)[:50]
        ]
        recent = [_summary(r) for r in reversed(self._recent)][:50]
        return {"seconds": seconds, "tenants": tenants, "recent": recent}

    def request(self, request_id: str) -> dict[str, Any] | None:
        """One recent request, whole: its decision, candidates, stages and attempts."""
        for recent in self._recent:
            if recent.request_id == request_id:
                return _detail(recent)
        return None


def _quiet(t: int) -> dict[str, Any]:
    return {
        "t": t,
        "served_by": dict.fromkeys(_SERVED_BY, 0),
        "errors": 0,
        "added_p50_ms": None,
        "added_p99_ms": None,
        "ttft_p50_ms": {},
    }


def _quantile(ordered: list[float], q: float) -> float | None:
    """The `q` quantile of values already sorted."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def _summary(r: RecentRequest) -> dict[str, Any]:
    return {
        "id": r.request_id,
        "at": r.at_s,
        "tenant": r.tenant,
        "model": r.model,
        "stream": r.stream,
        "status": r.status,
        "error_type": r.error_type,
        "served_by": r.decision.served_by or "none",
        "endpoint": r.decision.endpoint,
        "duration_ms": round(r.duration_ms, 3),
        "first_byte_ms": None if r.first_byte_ms is None else round(r.first_byte_ms, 3),
    }


def _detail(r: RecentRequest) -> dict[str, Any]:
    decision = r.decision
    stages, at_ms = [], r.head_ms
    for name, took_ms in r.stage_ms.items():
        stages.append({"name": name, "start_ms": round(at_ms, 3), "duration_ms": round(took_ms, 3)})
        at_ms += took_ms
    attempts = [
        {
            "endpoint": a.endpoint,
            "outcome": a.outcome,
            "start_ms": round(r.head_ms + a.started_ms, 3),
            "duration_ms": round(a.duration_ms, 3),
            "hedge": a.endpoint == decision.hedge_endpoint and decision.hedged_after_ms is not None,
        }
        for a in decision.attempts
    ]
    return {
        **_summary(r),
        "head_ms": round(r.head_ms, 3),
        "headers": decision.headers(),
        "reason": decision.reason_text(),
        "candidates": [
            {
                "endpoint": c.endpoint,
                "region": c.region,
                "predicted_latency_ms": round(c.predicted_latency_ms, 3),
                "price_usd": c.price_usd,
                "available": c.available,
            }
            for c in decision.candidates
        ],
        "stages": stages,
        "attempts": attempts,
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
    }
