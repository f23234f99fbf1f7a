"""The built-in dashboard: `/dashboard`, a page served by the router itself, and the admin API it
reads every two seconds.

The page and its assets (`router/dashboard/`: one HTML page, its script and style, and uPlot
1.6.32 from npm, MIT, vendored as built with its licence) hold no data, so they are served
without a token; the page asks for the admin token, keeps it for the browser tab only
(`sessionStorage`), and sends it to:
- `GET /admin/dashboard`: the last two minutes second by second (requests by where they were
  answered, errors, added latency, time to first token by endpoint), the endpoints (state, RTT,
  load, TTFT estimates), the cache's totals, the tenants' requests, tokens, spend, saved spend
  and share of their budget committed, and the recent requests;
- `GET /admin/dashboard/requests/{id}`: one recent request whole, its decision (the reason, the
  candidates with their predicted latency and price), the waterfall of its stages and attempts.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import orjson
from aiohttp import web

from router.admin_api import admin_only
from router.state import STATE

_ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
    "LICENSE-uPlot.txt": "text/plain; charset=utf-8",
}
# The page may load its own assets and talk to this router, nothing else.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@cache
def _asset(name: str) -> bytes:
    """A file of the page, read once (`name` is one of `_ASSETS`, a fixed set)."""
    return (resources.files("router") / "dashboard" / name).read_bytes()


async def dashboard_page(request: web.Request) -> web.Response:
    return _asset_response("index.html")


async def dashboard_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _ASSETS:
        raise web.HTTPNotFound()
    return _asset_response(name)


def _asset_response(name: str) -> web.Response:
    return web.Response(
        body=_asset(name),
        headers={
            "Content-Type": _ASSETS[name],
            "Content-Security-Policy": _CSP,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def dashboard_data(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body: dict[str, Any] = state.dashboard.snapshot(state.clock.wall())
    for tenant in body["tenants"]:  # how much of its budget is committed, when it has one
        tenant["budget_used"] = state.budgets.share(tenant["tenant"])
    registry = state.registry
    endpoints = []
    for name, endpoint in registry.endpoints.items():
        health = registry.health.get(name)
        endpoints.append(
            {
                "name": name,
                "region": endpoint.region,
                "locality": endpoint.settings.locality,
                "state": health.state.value,
                "ejections": health.ejections,
                "rtt_ms": endpoint.rtt.value_ms,
                "in_flight": endpoint.in_flight,
                "max_concurrency": endpoint.max_concurrency,
                "ttft_ms": {
                    model: stats.ttft.cost_ms for model, stats in endpoint.model_stats.items()
                },
            }
        )
    body["endpoints"] = endpoints
    verdicts = state.cache.verdicts
    hits = sum(count for verdict, count in verdicts.items() if verdict.startswith("hit"))
    body["cache"] = {"verdicts": dict(verdicts), "hits": hits, "lookups": sum(verdicts.values())}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def dashboard_request(request: web.Request) -> web.Response:
    detail = request.app[STATE].dashboard.request(request.match_info["id"])
    if detail is None:
        raise web.HTTPNotFound()
    return web.Response(body=orjson.dumps(detail), content_type="application/json")


def add_dashboard_routes(app: web.Application) -> None:
    app.router.add_get("/dashboard", dashboard_page)
    app.router.add_get("/dashboard/{name}", dashboard_asset)
    app.router.add_get("/admin/dashboard", admin_only(dashboard_data))
    app.router.add_get("/admin/dashboard/requests/{id}", admin_only(dashboard_request))
