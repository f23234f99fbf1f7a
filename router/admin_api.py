"""The admin API (`/admin/*`, behind the node's admin token) and `/metrics`.

`/admin/endpoints` (live routing state; with `serve --workers N`, every worker's view too),
`/admin/policies` (loaded tenants, refused files) and `/admin/tenants/{id}/usage` (a tenant's use
and limits), `DELETE /admin/cache?tenant=<id>` (purge cached answers) and
`POST /admin/cache/wrong_hits` (purge one wrongly served entry, `router.wrong_hits_api`) need
`Authorization: Bearer <admin token>` (`admin.token_env`); tenant keys never open them, and
without a configured token they answer 403.
`/metrics` is open: it carries no tenant names, unless the node config's
`telemetry.metrics.tenant_label` puts them there, and then it needs the admin token too.

Bad admin tokens are throttled per client address (`AdminThrottle`): after
`server.admin_failures_per_minute` of them, the address gets 429 until a minute passes without one.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from cachetools import TTLCache
from redis.exceptions import RedisError

from router.authentication import NODE_TENANT
from router.clock import Clock
from router.errors import (
    AuthenticationFailed,
    NotFound,
    PermissionDenied,
    RateLimited,
    SharedCacheUnavailable,
)
from router.limits.backend import NO_LIMITS, Limits
from router.limits.report import tenant_usage
from router.pool_membership import forwarded_headers, from_sibling
from router.state import JSON, STATE
from router.telemetry.metrics import PROMETHEUS_CONTENT_TYPE
from router.telemetry.worker_dashboard import node_endpoints
from router.telemetry.worker_metrics import merged_exposition
from router.wrong_hits_api import operator_wrong_hit

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Addresses remembered at once; past it the least recently failed are forgotten first, so an
# attacker spraying addresses costs at most this many small entries.
_THROTTLE_MAX_ADDRESSES = 10_000
_THROTTLE_WINDOW_S = 60.0


class AdminThrottle:
    """Bad admin tokens per client address. Each failure restarts the address's minute; at
    `max_failures` within it, the address is refused (429, `Retry-After`) without its token being
    checked, until a minute passes without a failure."""

    def __init__(self, max_failures: int, clock: Clock) -> None:
        self._max_failures = max_failures
        self._clock = clock
        # address -> (failures, monotonic time of the last one)
        self._failures: TTLCache[str, tuple[int, float]] = TTLCache(
            maxsize=_THROTTLE_MAX_ADDRESSES, ttl=_THROTTLE_WINDOW_S, timer=clock.now
        )

    def check(self, address: str) -> None:
        failures, last_s = self._failures.get(address, (0, 0.0))
        if failures >= self._max_failures:
            raise RateLimited(
                "Too many bad admin tokens from this address; wait before trying again.",
                retry_after_s=_THROTTLE_WINDOW_S - (self._clock.now() - last_s),
            )

    def failed(self, address: str) -> None:
        failures, _ = self._failures.get(address, (0, 0.0))
        self._failures[address] = (failures + 1, self._clock.now())


ADMIN_THROTTLE = web.AppKey("router_admin_throttle", AdminThrottle)


def admin_only(handler: Handler) -> Handler:
    """The admin API needs the node's admin token; tenant keys never open it."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        expected = request.app[STATE].loaded.secrets.admin_token
        if expected is None:
            raise PermissionDenied(
                "The admin API is disabled: set admin.token_env in the node config."
            )
        throttle = request.app[ADMIN_THROTTLE]
        address = request.remote or ""
        throttle.check(address)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), expected.encode()
        ):
            throttle.failed(address)
            raise AuthenticationFailed("The admin API needs the admin token (Bearer).")
        return await handler(request)

    return guarded


async def admin_tenant_usage(request: web.Request) -> web.Response:
    state = request.app[STATE]
    tenant = request.match_info["tenant"]
    limits: Limits | None = None
    if state.policy_store is not None:
        policy = state.policy_store.snapshot.policies.get(tenant)
        if policy is not None:
            limits = Limits.from_policy(policy.limits)
    if limits is None and tenant == NODE_TENANT and state.loaded.config.auth.api_keys:
        limits = NO_LIMITS
    if limits is None:
        raise NotFound(f"No tenant `{tenant}` is configured.", code="tenant_not_found")
    report = await tenant_usage(state.limits, tenant, limits, state.clock.wall())
    # Hedging's extra spend against its share, per process (router.policy.hedge_budget).
    report["hedging"] = state.hedge_budget.as_dict(tenant)
    return web.Response(body=orjson.dumps(report), content_type=JSON)


async def prometheus_metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = state.metrics.exposition()
    pool = state.pool
    if pool is not None and not from_sibling(request):
        # The whole node's series (router.telemetry.worker_metrics); the admin token, when
        # /metrics needs it, goes along.
        siblings = await pool.ask_siblings(request.path, forwarded_headers(request))
        body = await merged_exposition([(pool.index, body), *siblings], pool.count)
    return web.Response(body=body, headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})


async def admin_policies(request: web.Request) -> web.Response:
    store = request.app[STATE].policy_store
    if store is None:
        raise NotFound("No policy directory is configured (policies.directory).")
    return web.Response(body=orjson.dumps(store.as_dict()), content_type=JSON)


async def admin_endpoints(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = state.registry.as_dict()
    pool = state.pool
    if pool is not None and not from_sibling(request):
        # Each worker keeps its own estimators and health: every worker's view, by worker.
        siblings = await pool.ask_siblings(request.path, forwarded_headers(request))
        views = await node_endpoints(body["endpoints"], pool.index, siblings, pool.count)
        body.update(views.model_dump())
    return web.Response(body=orjson.dumps(body), content_type=JSON)


async def admin_purge_cache(request: web.Request) -> web.Response:
    """`DELETE /admin/cache?tenant=<id>`: drop a tenant's cached answers (all, without one)."""
    tenant = request.query.get("tenant") or None
    cache = request.app[STATE].cache
    body: dict[str, object] = {"purged": cache.forget(tenant), "tenant": tenant}
    if cache.shared is not None:
        try:
            body["shared_purged"] = await cache.shared.purge(tenant)
        except (RedisError, OSError, TimeoutError) as error:
            raise SharedCacheUnavailable(
                f"Purged {body['purged']} entries here, but the shared cache's Redis did not "
                f"answer ({type(error).__name__}); retry to purge it and the other routers."
            ) from error
    return web.Response(body=orjson.dumps(body), content_type=JSON)


def add_admin_routes(app: web.Application) -> None:
    state = app[STATE]
    app[ADMIN_THROTTLE] = AdminThrottle(
        state.loaded.config.server.admin_failures_per_minute, state.clock
    )
    # With tenants in its labels, /metrics shows every tenant's traffic: the operator's only.
    tenants_shown = app[STATE].loaded.config.telemetry.metrics.tenant_label
    app.router.add_get(
        "/metrics", admin_only(prometheus_metrics) if tenants_shown else prometheus_metrics
    )
    app.router.add_get("/admin/endpoints", admin_only(admin_endpoints))
    app.router.add_get("/admin/policies", admin_only(admin_policies))
    app.router.add_get("/admin/tenants/{tenant}/usage", admin_only(admin_tenant_usage))
    app.router.add_delete("/admin/cache", admin_only(admin_purge_cache))
    app.router.add_post("/admin/cache/wrong_hits", admin_only(operator_wrong_hit))
