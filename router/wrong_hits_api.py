"""Reports of wrong hits: a cached answer that should not have been served is purged everywhere.

Every hit carries `x-router-cache-entry`, its entry's id: the exact key (`router.cache.scope`), a
hash of the tenant, the whole scope and the question's normal form, so it never shows the question
and another tenant asking the same thing gets another id. The client reports it with its own key,
`POST /v1/cache/wrong_hits` with `{"entry": "<id>"}`; an operator with the admin token,
`POST /admin/cache/wrong_hits`, for any tenant. The entry leaves this router's exact tier and
semantic index, Redis, and, through the shared tier's stream, every other router
(`SharedCache.forget`). A client only reaches its own tenant's entries: another tenant's id is the
same 404 as an unknown one, so an answer reveals nothing. Each report that found its entry is
counted (`router_cache_wrong_hit_reports_total{reporter}`, never a tenant name).

If Redis does not answer, the entry is purged here and the report answers 503
`shared_cache_unavailable`, as `DELETE /admin/cache` does, so the reporter retries; a retry that
then purges the shared copy is counted again.
"""

from __future__ import annotations

import re

import orjson
from aiohttp import web
from redis.exceptions import RedisError

from router.errors import InvalidRequest, NotFound, SharedCacheUnavailable
from router.state import JSON, STATE

_ENTRY_ID = re.compile(r"[0-9a-f]{64}")  # a hex sha256, as `x-router-cache-entry` gives it


async def client_wrong_hit(request: web.Request) -> web.Response:
    """`POST /v1/cache/wrong_hits`: the caller's tenant reports one of its own hits."""
    tenant = request.app[STATE].authenticate.identify(request).tenant
    return await _report(request, tenant, "client")


async def operator_wrong_hit(request: web.Request) -> web.Response:
    """`POST /admin/cache/wrong_hits` (behind the admin token): any tenant's hit."""
    return await _report(request, None, "operator")


async def _report(request: web.Request, tenant: str | None, reporter: str) -> web.Response:
    entry = _entry_of(await request.read())
    cache = request.app[STATE].cache
    purged = cache.forget_entry(entry, tenant)
    body: dict[str, object] = {"entry": entry, "purged": int(purged)}
    if cache.shared is not None:
        try:
            shared_purged = await cache.shared.forget(entry, tenant)
        except (RedisError, OSError, TimeoutError) as error:
            if purged:
                cache.wrong_hit_reports[reporter] += 1
            raise SharedCacheUnavailable(
                f"Purged {int(purged)} entries here, but the shared cache's Redis did not answer "
                f"({type(error).__name__}); retry to purge it and the other routers."
            ) from error
        body["shared_purged"] = int(shared_purged)
        purged = purged or shared_purged
    if not purged:
        raise NotFound(
            f"No cached entry `{entry}` was found for your key; it may have expired.",
            param="entry",
            code="cache_entry_not_found",
        )
    cache.wrong_hit_reports[reporter] += 1
    return web.Response(body=orjson.dumps(body), content_type=JSON)


def _entry_of(raw: bytes) -> str:
    """The reported entry id from a body `{"entry": "<id>"}`; 400 for anything else."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest('The request body must be JSON: {"entry": "<id>"}.') from None
    entry = body.get("entry") if isinstance(body, dict) else None
    if not isinstance(entry, str) or _ENTRY_ID.fullmatch(entry) is None:
        raise InvalidRequest(
            "`entry` must be the id a cache hit gave in its x-router-cache-entry header.",
            param="entry",
        )
    return entry


def add_wrong_hit_routes(app: web.Application) -> None:
    """The client's route; the operator's is added with the admin API (`router.admin_api`)."""
    app.router.add_post("/v1/cache/wrong_hits", client_wrong_hit)
