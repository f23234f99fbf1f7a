"""One simulated region: its state plus the listening socket that can be taken down and back up.

Going down has to look like an outage to a client, not like a graceful drain: the listening socket
closes (new connections are refused) and every open connection is aborted with a reset, including
idle keep-alive ones that a pooled client would otherwise go on using. A connection the event loop
accepted in the same iteration as the socket closed is registered with the server only by its
`connection_made` callback, after the abort has run, so it would outlive the outage and keep
answering (a router under load then saw the "down" region serve for seconds); a request on such a
connection is cut by `_cut_while_down` instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Callable
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler

from .region_http import RegionHandler
from .region_state import RegionState, RegionStats
from .settings import DEFAULT_RESPONSE_STORE_LIMIT, RegionSettings

# Embedding batches are larger than aiohttp's 1 MiB default body limit.
_MAX_BODY_BYTES: Final = 64 * 1024 * 1024
# Connections are aborted before cleanup, so nothing is left to wait for; this only bounds a bug.
_SHUTDOWN_TIMEOUT_S: Final = 1.0


class Region:
    def __init__(
        self,
        settings: RegionSettings,
        rng: random.Random,
        record_limit: int,
        response_store_limit: int = DEFAULT_RESPONSE_STORE_LIMIT,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = RegionState(settings, rng, record_limit, response_store_limit, clock=clock)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._port = settings.port
        self._down = False
        self._switching = asyncio.Lock()

    @property
    def name(self) -> str:
        return self.state.settings.name

    @property
    def settings(self) -> RegionSettings:
        return self.state.settings

    @property
    def stats(self) -> RegionStats:
        return self.state.stats

    @property
    def port(self) -> int:
        """The bound port once started (the configured one may be 0)."""
        return self._port

    @property
    def down(self) -> bool:
        return self._down

    @property
    def base_url(self) -> str:
        """An OpenAI client's `base_url`."""
        return f"{self.anthropic_base_url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """An Anthropic client's `base_url` (it adds the `/v1`)."""
        host = self.settings.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=_MAX_BODY_BYTES, middlewares=[self._cut_while_down])
        app.router.add_route("*", "/{path:.*}", RegionHandler(self.state).handle)
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S
        )
        await runner.setup()
        self._runner = runner
        await self._listen()

    async def stop(self) -> None:
        if self._runner is None:
            return
        await self._abort_connections()
        await self._runner.cleanup()
        self._runner = self._site = None

    async def set_down(self, down: bool) -> None:
        async with self._switching:
            if down == self._down or self._runner is None:
                return
            if down:
                self._down = True
                if self._site is not None:
                    await self._site.stop()
                    self._site = None
                await self._abort_connections()
            else:
                await self._listen()

    def apply(self, settings: RegionSettings, *, fault_named: bool = False) -> None:
        self.state.apply(settings, fault_named=fault_named)

    def describe(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self.settings),
            "port": self._port,
            "down": self._down,
            "base_url": self.base_url,
            "anthropic_base_url": self.anthropic_base_url,
        }

    @web.middleware
    async def _cut_while_down(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self._down:
            return await handler(request)
        if request.transport is not None:
            request.transport.abort()
        # Never written: the connection is gone, which is all the client sees.
        raise web.HTTPServiceUnavailable()

    async def _listen(self) -> None:
        assert self._runner is not None
        # Once bound, the region keeps its port so clients can find it again after an outage.
        site = web.TCPSite(self._runner, self.settings.host, self._port)
        await site.start()
        self._site = site
        self._port = site.port
        self._down = False

    async def _abort_connections(self) -> None:
        server = self._runner.server if self._runner is not None else None
        if server is None:
            return
        for connection in server.connections:
            if connection.transport is not None:
                connection.transport.abort()
        # connection_lost (which cancels the handlers) runs on the next loop iteration.
        await asyncio.sleep(0)
