"""HTTP transport to cloud endpoints: pooled keep-alive connections and one exception mapping.

Each endpoint has its own client (`upstream_client.UpstreamClient`): the lean one in `http1.py`,
or the reference one on aiohttp in `aiohttp_client.py`, as `routing.upstream_client` says. Their
small exceptions are mapped to the router's errors here and nowhere else (the httpx transport
pattern), so failover reads `retryable` and never inspects transport types.

Measured on the benchmark machine (docs/benchmarks.md): the lean client costs less CPU per
forwarded request than aiohttp's client, which the transport used first.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from time import perf_counter
from types import TracebackType

from router.config.loader import Secrets
from router.config.model import RoutingSettings
from router.endpoints.aiohttp_client import AiohttpClient
from router.endpoints.http1 import Http1Pool
from router.endpoints.registry import Endpoint
from router.endpoints.upstream_client import (
    ConnectFailed,
    ConnectionBroken,
    HttpError,
    ReadTimeout,
    UpstreamClient,
    UpstreamResponse,
)
from router.errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamRejected,
    UpstreamStatusError,
    UpstreamTimeout,
)

# Statuses after which another endpoint may well succeed. 401/403 mean the router's own key for
# this endpoint is wrong: the client cannot fix that, another provider account may serve it.
_RETRYABLE_STATUSES = frozenset({401, 403, 408, 409, 429})
_ERROR_BODY_LIMIT = 64 * 1024


def _map_exception(exc: HttpError | OSError | ssl.SSLError, endpoint: str) -> UpstreamError:
    if isinstance(exc, ReadTimeout):
        return UpstreamTimeout(f"endpoint {endpoint} timed out", endpoint=endpoint)
    if isinstance(exc, ConnectFailed):
        return UpstreamConnectError(f"could not connect to endpoint {endpoint}", endpoint=endpoint)
    if isinstance(exc, ConnectionBroken):
        return UpstreamConnectError(f"endpoint {endpoint} broke the connection", endpoint=endpoint)
    return UpstreamConnectError(
        f"connection to endpoint {endpoint} failed ({type(exc).__name__})", endpoint=endpoint
    )


_TRANSPORT_ERRORS = (HttpError, OSError, ssl.SSLError)


def _client(base_url: str, headers: Mapping[str, str], routing: RoutingSettings) -> UpstreamClient:
    if routing.upstream_client == "aiohttp":
        return AiohttpClient(base_url, routing.connect_timeout_s, headers=headers)
    return Http1Pool(base_url, routing.connect_timeout_s, headers=headers)


class Transport:
    def __init__(
        self,
        endpoints: Mapping[str, Endpoint],
        secrets: Secrets,
        routing: RoutingSettings,
        clients: Mapping[str, UpstreamClient] | None = None,
    ) -> None:
        """`clients`: each endpoint's client, where given (scripted upstreams in tests, as
        httpx's MockTransport); the others get the configured client."""
        self._endpoints = endpoints
        self.routing = routing
        self._clients: dict[str, UpstreamClient] = dict(clients or {})
        for name, endpoint in endpoints.items():
            if name in self._clients:
                continue
            headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
            key = secrets.endpoint_keys.get(name)
            if key is not None and endpoint.settings.auth == "x-api-key":
                headers["x-api-key"] = key
            elif key is not None:
                headers["Authorization"] = f"Bearer {key}"
            self._clients[name] = _client(endpoint.base_url, headers, routing)

    async def start(self) -> None:
        """Nothing to open ahead: connections are made on first use and kept alive."""

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()

    def post(
        self,
        endpoint: Endpoint,
        path: str,
        body: bytes,
        remaining_s: float,
        extra_headers: Mapping[str, str] | None = None,
        first_byte_timeout_s: float | None = None,
    ) -> AbstractAsyncContextManager[UpstreamResponse]:
        """An upstream response with a 200 status, head read and body not yet consumed.

        Any other status is turned into an error here (its body read and kept short). On leaving
        the context the connection goes back to the pool if the body was read to the end, and is
        closed otherwise (a cancelled or cut stream), which also stops the upstream's work.
        """
        return _Posting(
            self,
            endpoint.name,
            path,
            body,
            remaining_s,
            extra_headers,
            first_byte_timeout_s or self.routing.first_byte_timeout_s,
        )

    async def _exchange(self, posting: _Posting) -> UpstreamResponse:
        name = posting.endpoint
        try:
            response = await self._clients[name].exchange(
                "POST",
                posting.path,
                posting.extra_headers,
                posting.body,
                read_timeout_s=posting.first_byte_timeout_s,
                total_timeout_s=posting.remaining_s,
            )
        except _TRANSPORT_ERRORS as exc:
            raise _map_exception(exc, name) from None
        if response.status != 200:
            try:
                await self._raise_for_status(response, name)
            finally:
                response.finish()
        return response

    async def _raise_for_status(self, response: UpstreamResponse, name: str) -> None:
        status = response.status
        body = await self.read_body(response, name, _ERROR_BODY_LIMIT)
        if status >= 500 or status in _RETRYABLE_STATUSES:
            raise UpstreamStatusError(
                f"endpoint {name} answered {status}",
                endpoint=name,
                upstream_status=status,
                retry_after=response.headers.get("retry-after"),
            )
        raise UpstreamRejected(
            f"endpoint {name} rejected the request ({status})",
            endpoint=name,
            upstream_status=status,
            body=body,
        )

    async def chunks(self, response: UpstreamResponse, endpoint: str) -> AsyncIterator[bytes]:
        """The body as it arrives, with read failures mapped to upstream errors; once it started,
        a gap longer than `routing.stream_idle_timeout_s` is a timeout (a stalled stream)."""
        try:
            async for chunk in response.chunks(self.routing.stream_idle_timeout_s):
                yield chunk
        except _TRANSPORT_ERRORS as exc:
            raise _map_exception(exc, endpoint) from None

    @staticmethod
    async def read_body(
        response: UpstreamResponse, endpoint: str, limit: int | None = None
    ) -> bytes:
        try:
            return await response.read(limit)
        except _TRANSPORT_ERRORS as exc:
            raise _map_exception(exc, endpoint) from None

    async def probe(self, endpoint: Endpoint, timeout_s: float) -> float | None:
        """Round-trip time of a cheap GET to the endpoint in ms, or None when it failed.

        Any answer below 500 counts as reachable: the probe measures the network path and the
        provider's front door, not whether our key is accepted.
        """
        name = endpoint.name
        started = perf_counter()
        try:
            response = await self._clients[name].exchange(
                "GET",
                endpoint.settings.probe_path,
                None,
                b"",
                read_timeout_s=timeout_s,
                total_timeout_s=timeout_s,
            )
            try:
                await response.read()
            finally:
                response.finish()
        except _TRANSPORT_ERRORS:
            return None
        if response.status >= 500:
            return None
        return (perf_counter() - started) * 1000.0


class _Posting:
    """`Transport.post`'s context, written out rather than an `asynccontextmanager`: entering and
    leaving it costs 0.7 µs instead of 2.5 to 2.9 µs (200,000 rounds on this machine), on every
    forwarded request."""

    __slots__ = (
        "_response",
        "_transport",
        "body",
        "endpoint",
        "extra_headers",
        "first_byte_timeout_s",
        "path",
        "remaining_s",
    )

    def __init__(
        self,
        transport: Transport,
        endpoint: str,
        path: str,
        body: bytes,
        remaining_s: float,
        extra_headers: Mapping[str, str] | None,
        first_byte_timeout_s: float,
    ) -> None:
        self._transport = transport
        self.endpoint = endpoint
        self.path = path
        self.body = body
        self.remaining_s = remaining_s
        self.extra_headers = extra_headers
        self.first_byte_timeout_s = first_byte_timeout_s
        self._response: UpstreamResponse | None = None

    async def __aenter__(self) -> UpstreamResponse:
        self._response = await self._transport._exchange(self)
        return self._response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._response is not None:
            self._response.finish()
