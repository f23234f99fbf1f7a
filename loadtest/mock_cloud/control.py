"""The control API: read and change the regions of a running mock cloud.

    GET    /control/regions                    every region's settings, port, base_url and `down`
    GET    /control/regions/{name}             one region
    PATCH  /control/regions/{name}             partial settings and/or {"down": true|false};
                                               {"fault": MODE|null} sets or clears a fault mode
    GET    /control/regions/{name}/stats       counters
    GET    /control/regions/{name}/requests    the last received requests, oldest first
    DELETE /control/regions/{name}/requests    forget them
    POST   /control/reset                      counters and records of every region

It lives on its own port so that taking a region down never takes its controls with it.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from .errors import error_body
from .region import Region
from .settings import SettingsError, patched_region_settings


def control_app(regions: Mapping[str, Region]) -> web.Application:
    api = _ControlApi(regions)
    app = web.Application(middlewares=[_errors_as_json])
    app.router.add_get("/control/regions", api.list_regions)
    app.router.add_get("/control/regions/{name}", api.get_region)
    app.router.add_patch("/control/regions/{name}", api.patch_region)
    app.router.add_get("/control/regions/{name}/stats", api.get_stats)
    app.router.add_get("/control/regions/{name}/requests", api.get_requests)
    app.router.add_delete("/control/regions/{name}/requests", api.clear_requests)
    app.router.add_post("/control/reset", api.reset)
    return app


class _ControlError(Exception):
    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@web.middleware
async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every control error, aiohttp's own 404/405 included, as an OpenAI-style error body."""
    try:
        return await handler(request)
    except _ControlError as exc:
        return _json_bytes(error_body(str(exc), "invalid_request_error", code=exc.code), exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        body = error_body(
            f"{exc.reason} ({request.method} {request.path})", "invalid_request_error"
        )
        return _json_bytes(body, exc.status)


def _json(data: object) -> web.Response:
    return _json_bytes(orjson.dumps(data), 200)


def _json_bytes(body: bytes, status: int) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


class _ControlApi:
    def __init__(self, regions: Mapping[str, Region]) -> None:
        self._regions = regions

    def _region(self, request: web.Request) -> Region:
        name = request.match_info["name"]
        region = self._regions.get(name)
        if region is None:
            raise _ControlError(404, f"no region named {name!r}", "region_not_found")
        return region

    async def list_regions(self, request: web.Request) -> web.Response:
        return _json([region.describe() for region in self._regions.values()])

    async def get_region(self, request: web.Request) -> web.Response:
        return _json(self._region(request).describe())

    async def patch_region(self, request: web.Request) -> web.Response:
        region = self._region(request)
        try:
            patch = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise _ControlError(400, "the patch is not valid JSON", "invalid_json") from None
        try:
            settings, down = patched_region_settings(region.settings, patch)
        except SettingsError as exc:
            raise _ControlError(400, str(exc), "invalid_settings") from None
        # Naming `fault`, even the mode already set, re-arms it: a "once" fault strikes again.
        region.apply(settings, fault_named="fault" in patch)
        if down is not None:
            try:
                await region.set_down(down)
            except OSError as exc:  # the port was taken while the region was down
                raise _ControlError(
                    409, f"cannot listen again: {exc}", "port_unavailable"
                ) from None
        return _json(region.describe())

    async def get_stats(self, request: web.Request) -> web.Response:
        return _json(self._region(request).stats.to_json())

    async def get_requests(self, request: web.Request) -> web.Response:
        return _json([record.to_json() for record in self._region(request).state.records])

    async def clear_requests(self, request: web.Request) -> web.Response:
        self._region(request).state.records.clear()
        return web.Response(status=204)

    async def reset(self, request: web.Request) -> web.Response:
        for region in self._regions.values():
            region.state.reset()
        return web.Response(status=204)
