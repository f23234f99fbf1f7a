"""The Grafana dashboard, as code: every panel and its PromQL, written out as the committed
`deploy/grafana/edge-router.json` (`make dashboards`; a test fails when the two differ).

Every query reads the series at `/metrics` (docs/observability.md) of the router, and of the edge
worker for its own row; `tests/observability/test_prometheus.py` runs each one against a real
Prometheus scraping a live router and worker, and requires data from it. Import the JSON in Grafana
(Dashboards, Import) and pick the Prometheus data source that scrapes them.

    .venv/bin/python -m router.telemetry.grafana > deploy/grafana/edge-router.json
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

UID = "edge-router"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    queries: tuple[Query, ...]
    description: str = ""


def _q(expr: str, legend: str = "") -> Query:
    return Query(expr, legend)


def _quantiles(metric: str, by: str = "", *, legend: str = "") -> tuple[Query, ...]:
    group = f"le, {by}" if by else "le"
    label = f"{legend} " if legend else ""
    return tuple(
        _q(
            f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket[5m])))",
            f"{label}p{round(q * 100)}",
        )
        for q in (0.5, 0.99)
    )


ROWS: tuple[tuple[str, tuple[Panel, ...]], ...] = (
    (
        "Traffic: where answers come from",
        (
            Panel(
                "Requests by where they were answered",
                "reqps",
                (_q("sum by (served_by) (rate(router_requests_total[5m]))", "{{served_by}}"),),
                "cloud, edge (the PoP's local model), cache, or none (refused before routing).",
            ),
            Panel(
                "Error ratio",
                "percentunit",
                (
                    _q(
                        'sum(rate(router_requests_total{outcome="error"}[5m]))'
                        " / sum(rate(router_requests_total[5m]))",
                        "errors",
                    ),
                ),
                "Requests that ended in an error over all requests (clients that left are not "
                "errors).",
            ),
            Panel(
                "Errors by type",
                "reqps",
                (
                    _q(
                        'sum by (error_type) (rate(router_requests_total{outcome="error"}[5m]))',
                        "{{error_type}}",
                    ),
                ),
            ),
            Panel(
                "Latency the router added",
                "s",
                _quantiles("router_added_latency_seconds"),
                "A request's time outside its upstream attempts: auth, limits, the PII scan, the "
                "cache, routing, writing.",
            ),
        ),
    ),
    (
        "Latency by model",
        (
            Panel(
                "Request duration",
                "s",
                _quantiles(
                    "gen_ai_client_operation_duration_seconds",
                    "gen_ai_request_model",
                    legend="{{gen_ai_request_model}}",
                ),
            ),
            Panel(
                "Time to first token (streams)",
                "s",
                _quantiles(
                    "gen_ai_server_time_to_first_token_seconds",
                    "gen_ai_request_model",
                    legend="{{gen_ai_request_model}}",
                ),
            ),
            Panel(
                "Time per output token (streams)",
                "s",
                _quantiles(
                    "gen_ai_server_time_per_output_token_seconds",
                    "gen_ai_request_model",
                    legend="{{gen_ai_request_model}}",
                ),
            ),
        ),
    ),
    (
        "Endpoints",
        (
            Panel(
                "Attempts by endpoint and result",
                "reqps",
                (
                    _q(
                        "sum by (endpoint, result) (rate(router_endpoint_attempts_total[5m]))",
                        "{{endpoint}} {{result}}",
                    ),
                ),
            ),
            Panel(
                "Fail-overs by endpoint failed over from",
                "reqps",
                (_q("sum by (endpoint) (rate(router_failovers_total[5m]))", "{{endpoint}}"),),
            ),
            Panel(
                "Hedges by endpoint",
                "reqps",
                (
                    _q(
                        "sum by (endpoint, result) (rate(router_hedges_total[5m]))",
                        "{{endpoint}} {{result}}",
                    ),
                ),
                "Hedged attempts started towards an endpoint, and those it won.",
            ),
            Panel(
                "Endpoint state",
                "none",
                (_q("router_endpoint_state == 1", "{{endpoint}} {{state}}"),),
                "Each endpoint's health state now: healthy, ejected or half_open.",
            ),
            Panel(
                "Ejections",
                "none",
                (
                    _q(
                        "sum by (endpoint) (increase(router_endpoint_ejections_total[15m]))",
                        "{{endpoint}}",
                    ),
                ),
            ),
            Panel(
                "Probed round-trip time",
                "s",
                (_q("router_endpoint_rtt_seconds", "{{endpoint}}"),),
            ),
            Panel(
                "Time to first token the router ranks by",
                "s",
                (_q("router_endpoint_ttft_estimate_seconds", "{{endpoint}} {{model}}"),),
            ),
            Panel(
                "Attempts in flight",
                "none",
                (_q("router_endpoint_in_flight", "{{endpoint}}"),),
            ),
        ),
    ),
    (
        "Spend, tokens and the cache",
        (
            Panel(
                "Spend per hour",
                "currencyUSD",
                (
                    _q(
                        "sum by (alias, endpoint) (rate(router_spend_usd_total[5m])) * 3600",
                        "{{alias}} @ {{endpoint}}",
                    ),
                ),
                "At the serving endpoint's prices. Per tenant: GET /admin/tenants/{id}/usage.",
            ),
            Panel(
                "Tokens",
                "short",
                (_q("sum by (type) (rate(router_tokens_total[5m]))", "{{type}}"),),
            ),
            Panel(
                "Cache hit ratio",
                "percentunit",
                (
                    _q(
                        'sum(rate(router_cache_lookups_total{result=~"hit-.*"}[5m]))'
                        " / sum(rate(router_cache_lookups_total[5m]))",
                        "hits",
                    ),
                ),
                "Hits over the look-ups of cache-enabled tenants.",
            ),
        ),
    ),
    (
        "Privacy and limits",
        (
            Panel(
                "Privacy actions by PII kind",
                "reqps",
                (
                    _q(
                        "sum by (action, kind) (rate(router_privacy_actions_total[5m]))",
                        "{{action}} {{kind}}",
                    ),
                ),
            ),
            Panel(
                "Tenants near a budget",
                "none",
                (
                    _q(
                        "max by (threshold) (router_limits_tenants_near_budget)",
                        "past {{threshold}}",
                    ),
                ),
                "Tenants whose committed spend is past 80% or 90% of a daily or monthly budget "
                "(which ones: the built-in dashboard, or GET /admin/tenants/{id}/usage).",
            ),
            Panel(
                "Requests refused by a limit",
                "reqps",
                (_q("sum by (limit) (rate(router_limits_refused_total[5m]))", "{{limit}}"),),
            ),
        ),
    ),
    (
        "The process and the edge worker",
        (
            Panel(
                "Event-loop lag",
                "ms",
                _quantiles("router_event_loop_lag_milliseconds"),
                "How late the loop ran a timer: what every request on the process waited.",
            ),
            Panel(
                "Edge worker queue",
                "none",
                (
                    _q("edge_worker_queue_depth", "waiting {{instance}}"),
                    _q("edge_worker_running", "running {{instance}}"),
                ),
            ),
            Panel(
                "Edge worker tokens per second",
                "short",
                (_q("rate(edge_worker_generated_tokens_total[5m])", "{{instance}}"),),
            ),
        ),
    ),
)


def queries() -> list[str]:
    """Every PromQL expression of the dashboard."""
    return [query.expr for _, panels in ROWS for panel in panels for query in panel.queries]


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 8, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": q.expr,
                "legendFormat": q.legend,
            }
            for i, q in enumerate(panel.queries)
        ],
    }


def dashboard(rows: Sequence[tuple[str, Sequence[Panel]]] = ROWS) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    panel_id, y = 1, 0
    for title, row_panels in rows:
        panels.append(
            {
                "id": panel_id,
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        panel_id, y = panel_id + 1, y + 1
        for index, panel in enumerate(row_panels):
            x = (index % 3) * 8
            if index and index % 3 == 0:
                y += 8
            panels.append(_panel(panel, panel_id, x, y))
            panel_id += 1
        y += 8
    return {
        "uid": UID,
        "title": "Edge router",
        "description": "Where answers come from, what the router added, endpoints, spend, the "
        "cache, privacy, limits and the edge worker (generated by router/telemetry/grafana.py).",
        "tags": ["edge-router"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
