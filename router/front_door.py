"""The front door: what every connection and every response gets before and after the handlers.

The router sits on the public edge, so its limits follow nginx's and Envoy's defaults
(docs/security.md, "Front door"). aiohttp's own limits (idle keep-alive, header sizes) are passed
to its request handler in `router.server.serve`; this module adds what aiohttp lacks:

- `front_door`, the outermost middleware: gives each request an id of its own (an incoming
  `x-request-id` is never trusted), which every log line written for the request carries
  (`router.telemetry.log_context`), and writes an access-log line for every refusal the pipeline
  did not log itself (bad JSON, 401, 404, 408, 413, the admin API's 401, 403 and 429). Successful
  answers outside the pipeline (health probes, scrapes, model lists, admin reads) get none: probes
  every few seconds would drown the lines that matter.
- `stamp_response`, on `on_response_prepare`: `Server: edge-router` (no versions) and
  `x-request-id` on every response the app makes.
- `ConnectionCap` and `CappedSite`: at `server.max_connections` open connections a new one is
  closed at once, counted and logged, instead of the process running out of file descriptors.
- `raise_fd_limit`: the open-file soft limit raised to the hard limit at start.
- `parser_refusals`: an access-log line for the requests aiohttp's HTTP parser refuses itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import socket
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import cast

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from router.clock import Clock
from router.state import STATE
from router.telemetry.access_log import ACCESS_LOGGED, REQUEST_ID, AccessLog
from router.telemetry.log_context import CURRENT_REQUEST_ID
from router.telemetry.metrics import Metrics

log = logging.getLogger("edge_router.front_door")

SERVER_NAME = "edge-router"
# Refused connections are logged at most this often, with the count since the last line.
_REFUSED_LOG_INTERVAL_S = 10.0


def request_id(request: web.BaseRequest) -> str:
    """This request's id, made on first use: 32 hex digits, never taken from the client."""
    rid = request.get(REQUEST_ID)
    if rid is None:
        rid = os.urandom(16).hex()  # uuid4().hex's 32 digits, random, at a third of its cost
        request[REQUEST_ID] = rid
    return rid


@web.middleware
async def front_door(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    CURRENT_REQUEST_ID.set(request_id(request))
    started = perf_counter()
    response = await handler(request)
    access_log = request.app[STATE].access_log
    if access_log is not None and response.status >= 400 and not request.get(ACCESS_LOGGED, False):
        access_log.record_answer(request, response.status, (perf_counter() - started) * 1000.0)
    return response


async def stamp_response(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER_NAME
    response.headers["x-request-id"] = request_id(request)


def parser_refusals(access_log: AccessLog) -> type[AbstractAccessLogger]:
    """aiohttp's access-logger class, for the requests its HTTP parser refuses itself (a header
    line over `max_header_bytes`, more than `max_headers`, a malformed request line): the app never
    sees those, so `front_door` cannot log them. Every other answer already has its line."""

    class ParserRefusals(AbstractAccessLogger):
        def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
            if response.status >= 400 and not request.get(ACCESS_LOGGED, False):
                # No path: the request was never parsed (aiohttp stands in `GET /`).
                access_log.record_answer(request, response.status, time * 1000.0, path="")

    return ParserRefusals


def raise_fd_limit() -> tuple[int, int]:
    """Raise the open-file soft limit to the hard limit; the (before, after) soft limits.

    Each client connection and each upstream connection holds a descriptor; distributions start
    processes at a soft limit of 1024, which 1,100 idle connections exhausted in an adversary test.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft, soft
        return soft, hard
    return soft, soft


class _Refused(asyncio.Protocol):
    """A connection over the cap: closed as soon as it is accepted, nothing read or written."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).abort()  # a TCP listener's


class ConnectionCap:
    """The listening socket's protocol factory: a request handler made by `handler`, or
    `_Refused` at the cap.

    Open connections are aiohttp's own count (`Server.connections`), so a connection is counted
    from its `connection_made` to its `connection_lost`. A burst accepted in one event-loop
    iteration can overshoot the cap by that burst before the count catches up.
    """

    def __init__(
        self,
        server: web.Server,
        handler: Callable[[], asyncio.BaseProtocol],
        max_connections: int,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self._server = server
        self._handler = handler
        self.max_connections = max_connections
        self._clock = clock
        self._refused = metrics.meter.create_counter(
            "router.connections.refused",
            description="Client connections closed at once because server.max_connections "
            "were open.",
        )
        self._unlogged = 0
        self._logged_at_s: float | None = None

    def __call__(self) -> asyncio.BaseProtocol:
        if len(self._server.connections) < self.max_connections:
            return self._handler()
        self._refused.add(1)
        self._unlogged += 1
        now = self._clock.now()
        if self._logged_at_s is None or now - self._logged_at_s >= _REFUSED_LOG_INTERVAL_S:
            log.warning(
                "server.max_connections (%d) open: closed %d new connection(s) at once",
                self.max_connections,
                self._unlogged,
            )
            self._unlogged = 0
            self._logged_at_s = now
        return _Refused()


class CappedSite(web.SockSite):
    """A site on a listening socket whose connections go through a `ConnectionCap`."""

    def __init__(
        self, runner: web.BaseRunner, sock: socket.socket, cap: ConnectionCap, backlog: int = 4096
    ) -> None:
        super().__init__(runner, sock, backlog=backlog)
        self._cap = cap

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner, like SockSite
        self._server = await asyncio.get_running_loop().create_server(
            self._cap, sock=self._sock, backlog=self._backlog
        )
