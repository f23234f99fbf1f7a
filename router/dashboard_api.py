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
With `serve --workers N`, both are the whole node's: the worker that answers asks its siblings
(`router.telemetry.worker_dashboard` says how their data is merged), and `workers` in the data
says how many there are and how many answered.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import orjson
from aiohttp import web

from router.admin_api import admin_only
from router.endpoints.registry import Registry
from router.pool_membership import forwarded_headers, from_sibling
from router.state import JSON, STATE, RouterState
from router.telemetry.worker_dashboard import node_dashboard

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
    body = _this_workers_dashboard(state)
    pool = state.pool
    if pool is None:
        body["workers"] = {"configured": 1, "answered": 1}
    elif not from_sibling(request):
        # The whole node's (router.telemetry.worker_dashboard); a sibling's question is answered
        # from this worker alone.
        siblings = await pool.ask_siblings(request.path, forwarded_headers(request))
        node = await node_dashboard(body, pool.index, siblings, pool.count)
        return web.Response(body=node, content_type=JSON)
    return web.Response(body=orjson.dumps(body), content_type=JSON)


def _this_workers_dashboard(state: RouterState) -> dict[str, Any]:
    body: dict[str, Any] = state.dashboard.snapshot(state.clock.wall())
    for tenant in body["tenants"]:  # how much of its budget is committed, when it has one
        tenant["budget_used"] = state.budgets.share(tenant["tenant"])
    body["endpoints"] = _endpoint_cards(state.registry)
    verdicts = state.cache.verdicts
    hits = sum(count for verdict, count in verdicts.items() if verdict.startswith("hit"))
    body["cache"] = {"verdicts": dict(verdicts), "hits": hits, "lookups": sum(verdicts.values())}
    return body


def _endpoint_cards(registry: Registry) -> list[dict[str, Any]]:
    cards = []
    for name, endpoint in registry.endpoints.items():
        health = registry.health.get(name)
        cards.append(
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
    return cards


async def dashboard_request(request: web.Request) -> web.Response:
    state = request.app[STATE]
    detail = state.dashboard.request(request.match_info["id"])
    if detail is not None:
        return web.Response(body=orjson.dumps(detail), content_type=JSON)
    pool = state.pool
    if pool is not None and not from_sibling(request):
        # Another worker may have served it; the first that has it answers. The raw path keeps
        # the id as the client encoded it.
        siblings = await pool.ask_siblings(request.raw_path, forwarded_headers(request))
        for _, body in siblings:
            if body is not None:
                return web.Response(body=body, content_type=JSON)
    raise web.HTTPNotFound()


def add_dashboard_routes(app: web.Application) -> None:
    app.router.add_get("/dashboard", dashboard_page)
    app.router.add_get("/dashboard/{name}", dashboard_asset)
    app.router.add_get("/admin/dashboard", admin_only(dashboard_data))
    app.router.add_get("/admin/dashboard/requests/{id}", admin_only(dashboard_request))
