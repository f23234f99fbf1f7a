"""A tenant's usage as `GET /admin/tenants/{id}/usage` shows it: requests, tokens and spend today
and this month (UTC), by model and by endpoint, with the refusals per limit and the limits that
apply. Built from the flat counters both backends keep.
"""

from __future__ import annotations

from typing import Any

from router.limits.backend import Counters, Limits, Periods
from router.limits.fallback import FallbackLimits

_TOTALS = ("requests", "input_tokens", "output_tokens")


def period_report(period: str, counters: Counters) -> dict[str, Any]:
    report: dict[str, Any] = {"period": period}
    report.update(_group_totals(counters, ""))
    report["reserved_usd"] = round(counters.get("reserved_usd", 0.0), 9)
    for prefix, name in (("model:", "by_model"), ("endpoint:", "by_endpoint")):
        members = sorted(
            {key[len(prefix) :].rsplit(":", 1)[0] for key in counters if key.startswith(prefix)}
        )
        report[name] = {member: _group_totals(counters, f"{prefix}{member}:") for member in members}
    report["refused"] = {
        key.split(":", 1)[1]: int(value)
        for key, value in counters.items()
        if key.startswith("refused:")
    }
    return report


def _group_totals(counters: Counters, prefix: str) -> dict[str, Any]:
    totals: dict[str, Any] = {name: int(counters.get(prefix + name, 0.0)) for name in _TOTALS}
    totals["total_tokens"] = totals["input_tokens"] + totals["output_tokens"]
    totals["spend_usd"] = round(counters.get(prefix + "spend_usd", 0.0), 9)
    totals["cache_hits"] = int(counters.get(prefix + "cache_hits", 0.0))
    totals["saved_usd"] = round(counters.get(prefix + "saved_usd", 0.0), 9)
    return totals


async def tenant_usage(
    limits_backends: FallbackLimits, tenant: str, limits: Limits, wall_s: float
) -> dict[str, Any]:
    periods = Periods.at(wall_s)
    backend = limits_backends.current()
    (day, month), used = await limits_backends.run(
        lambda chosen: chosen.counters(tenant, periods), backend
    )
    in_flight, _ = await limits_backends.run(lambda chosen: chosen.in_flight(tenant, wall_s), used)
    report: dict[str, Any] = {
        "tenant": tenant,
        "backend": used.name,
        "degraded": limits_backends.degraded,
        "limits": {name: value for name, value in _limit_fields(limits) if value is not None},
        "in_flight": in_flight,
        "today": period_report(periods.day, day),
        "this_month": period_report(periods.month, month),
    }
    if used is not limits_backends.local:
        local_day, local_month = await limits_backends.local.counters(tenant, periods)
        if local_day or local_month:
            # Recorded by this process while the shared backend was unreachable.
            report["local_fallback"] = {
                "today": period_report(periods.day, local_day),
                "this_month": period_report(periods.month, local_month),
            }
    return report


def _limit_fields(limits: Limits) -> list[tuple[str, float | None]]:
    return [
        ("requests_per_minute", limits.requests_per_minute),
        ("tokens_per_minute", limits.tokens_per_minute),
        ("concurrent_requests", limits.concurrent_requests),
        ("daily_budget_usd", limits.daily_budget_usd),
        ("monthly_budget_usd", limits.monthly_budget_usd),
    ]
