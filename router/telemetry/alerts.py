"""The Prometheus alerting rules, as code: written out as the committed
`deploy/prometheus/alerts.yml` (`make dashboards`; a test fails when the two differ), unit-tested
by `promtool test rules` (`deploy/prometheus/alerts_test.yml`).

Each rule is a *signal* (what is measured) and a threshold. `tests/observability/
test_prometheus.py` runs every signal against a real Prometheus scraping a live router and
worker and requires data from it, so that no rule watches a series that does not exist.

The two SLOs and their burn rates follow the Google SRE workbook's multiwindow, multi-burn-rate
alerts: page when the last 5 minutes and the last hour both burn the 30-day budget 14.4 times
too fast (2% of it in an hour), open a ticket when 30 minutes and 6 hours both burn it 6 times
too fast.

    .venv/bin/python -m router.telemetry.alerts > deploy/prometheus/alerts.yml
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import yaml

# Errors that are the router's or its upstreams', not the client's (a 4xx a client caused, a
# rate limit, PII blocked, a client that left are not).
SERVER_ERRORS = (
    "upstream_connect_error.*|upstream_timeout.*|upstream_status_5.*|internal_error"
    "|no_eligible_endpoint|no_local_model"
)
# The availability SLO: 99.9% of requests without a server error.
AVAILABILITY_SLO = 0.999
# The added-latency SLO: 99% of requests with at most 10 ms added by the router.
ADDED_LATENCY_SLO = 0.99
ADDED_LATENCY_BUCKET = "0.01"


@dataclass(frozen=True)
class Rule:
    name: str
    signal: str  # the measured quantity, returning data whenever the router runs
    threshold: str  # appended to the signal: `> 0.0144`
    for_: str
    severity: str
    summary: str
    action: str  # what to do when it fires (docs/observability.md repeats it)

    @property
    def expr(self) -> str:
        return f"{self.signal} {self.threshold}"


def _error_ratio(window: str) -> str:
    return (
        f'(sum(rate(router_requests_total{{outcome="error",error_type=~"{SERVER_ERRORS}"}}'
        f"[{window}])) or vector(0)) / sum(rate(router_requests_total[{window}]))"
    )


def _slow_ratio(window: str) -> str:
    return (
        f'(1 - sum(rate(router_added_latency_seconds_bucket{{le="{ADDED_LATENCY_BUCKET}"}}'
        f"[{window}])) / sum(rate(router_added_latency_seconds_count[{window}])))"
    )


def _burn(
    ratio: Callable[[str], str], slo: float, factor: float, short: str, long: str
) -> tuple[str, str]:
    """(signal, threshold) of a two-window burn-rate alert: the short window's ratio is the
    signal, and the long window's must be over the same bound."""
    bound = round(factor * (1 - slo), 6)
    return ratio(short), f"> {bound} and {ratio(long)} > {bound}"


def _rules() -> tuple[Rule, ...]:
    fast_errors = _burn(_error_ratio, AVAILABILITY_SLO, 14.4, "5m", "1h")
    slow_errors = _burn(_error_ratio, AVAILABILITY_SLO, 6, "30m", "6h")
    fast_latency = _burn(_slow_ratio, ADDED_LATENCY_SLO, 14.4, "5m", "1h")
    slow_latency = _burn(_slow_ratio, ADDED_LATENCY_SLO, 6, "30m", "6h")
    return (
        Rule(
            "RouterErrorBudgetFastBurn", *fast_errors, "2m", "page",
            "Server errors are burning the 99.9% availability budget 14.4 times too fast.",
            "Open the dashboard's Errors by type and Attempts by endpoint: an endpoint failing "
            "(eject it, or fix its key), or every endpoint of a model down.",
        ),
        Rule(
            "RouterErrorBudgetSlowBurn", *slow_errors, "15m", "ticket",
            "Server errors are burning the 99.9% availability budget 6 times too fast.",
            "Look for a slowly failing endpoint or region in Attempts by endpoint and result.",
        ),
        Rule(
            "RouterAddedLatencyFastBurn", *fast_latency, "2m", "page",
            "More than 1% of requests get over 10 ms added by the router, 14.4 times too often.",
            "Check Event-loop lag and the process's CPU: a core saturated, large bodies being "
            "scanned, or a semantic cache waiting on its embedder.",
        ),
        Rule(
            "RouterAddedLatencySlowBurn", *slow_latency, "15m", "ticket",
            "More than 1% of requests get over 10 ms added by the router, 6 times too often.",
            "Compare the added latency with the request rate: the node may need another core.",
        ),
        Rule(
            "RouterEndpointEjected", 'max by (endpoint) (router_endpoint_state{state="ejected"})',
            "== 1", "1m", "ticket",
            "Endpoint {{ $labels.endpoint }} is ejected: its failures took it out of rotation.",
            "Its traffic goes to the other endpoints; look at its attempts' results (5xx, "
            "timeouts, connect errors) and at the provider's status.",
        ),
        Rule(
            "RouterTenantBudgetNearlySpent",
            'max(router_limits_tenants_near_budget{threshold="0.9"})',
            "> 0", "5m", "ticket",
            "{{ $value }} tenant(s) have committed 90% of a daily or monthly budget.",
            "The dashboard's tenants (or GET /admin/tenants/{id}/usage) say which and how far; "
            "raise the budget in the policy file before the tenant is refused if the spend is "
            "expected.",
        ),
        Rule(
            "RouterTenantBudgetSpent",
            "sum by (limit) (increase(router_limits_refused_total"
            '{limit=~"daily_budget_usd|monthly_budget_usd"}[10m]))',
            "> 0", "0m", "ticket",
            "Requests were refused because a tenant's {{ $labels.limit }} is spent.",
            "GET /admin/tenants/{id}/usage for the tenants near their budgets; raise the budget "
            "in the policy file if the spend is expected.",
        ),
        Rule(
            "RouterEventLoopLag",
            "histogram_quantile(0.99, sum by (le, instance) "
            "(rate(router_event_loop_lag_milliseconds_bucket[5m])))",
            "> 100", "5m", "page",
            "The event loop of {{ $labels.instance }} runs timers over 100 ms late (p99).",
            "Every request on that process waits as long: profile it (py-spy), look for a "
            "request holding the loop, or add a process.",
        ),
        Rule(
            "EdgeWorkerDown", 'up{job="edge-worker"}', "== 0", "1m", "page",
            "The edge worker {{ $labels.instance }} does not answer its scrape.",
            "Local answers and PII kept at the edge wait on it: the router restarts a worker it "
            "spawned; a sidecar is restarted by its orchestrator. Check its log for a model "
            "store that failed verification.",
        ),
    )  # fmt: skip


RULES = _rules()


def render() -> str:
    rules = [
        {
            "alert": rule.name,
            "expr": rule.expr,
            "for": rule.for_,
            "labels": {"severity": rule.severity},
            "annotations": {"summary": rule.summary, "action": rule.action},
        }
        for rule in RULES
    ]
    header = "# Generated by router/telemetry/alerts.py (make dashboards): edit that, not this.\n"
    body = yaml.safe_dump(
        {"groups": [{"name": "edge-router", "rules": rules}]}, sort_keys=False, width=100
    )
    return header + body


if __name__ == "__main__":
    sys.stdout.write(render())
