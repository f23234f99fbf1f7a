"""HTTP transport to cloud endpoints: pooled keep-alive connections and one exception mapping.

Each endpoint gets its own `aiohttp.ClientSession` whose connector is bounded by the endpoint's
concurrency limit, so one slow region cannot take the sockets another needs. Library exceptions are
mapped to the router's errors here and nowhere else (the httpx transport pattern), so failover reads
`retryable` and never inspects aiohttp types.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from time import perf_counter

import aiohttp

from router.config.loader import Secrets
from router.config.model import RoutingSettings
from router.endpoints.registry import Endpoint
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


def _map_exception(exc: BaseException, endpoint: str) -> UpstreamError:
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return UpstreamTimeout(f"endpoint {endpoint} timed out", endpoint=endpoint)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamConnectError(f"could not connect to endpoint {endpoint}", endpoint=endpoint)
    return UpstreamConnectError(
        f"connection to endpoint {endpoint} failed ({type(exc).__name__})", endpoint=endpoint
    )


class Transport:
    def __init__(
        self, endpoints: Mapping[str, Endpoint], secrets: Secrets, routing: RoutingSettings
    ):
        self._endpoints = endpoints
        self._routing = routing
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._headers: dict[str, dict[str, str]] = {}
        for name in endpoints:
            headers = {"Content-Type": "application/json"}
            key = secrets.endpoint_keys.get(name)
            if key is not None:
                headers["Authorization"] = f"Bearer {key}"
            self._headers[name] = headers

    async def start(self) -> None:
        for name, endpoint in self._endpoints.items():
            connector = aiohttp.TCPConnector(
                limit=endpoint.max_concurrency,
                limit_per_host=0,
                keepalive_timeout=30.0,
                ttl_dns_cache=300,
            )
            self._sessions[name] = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
                # Responses are streamed through as they arrive; no whole-body timeout here.
                timeout=aiohttp.ClientTimeout(total=None),
            )

    async def close(self) -> None:
        sessions, self._sessions = self._sessions, {}
        await asyncio.gather(*(s.close() for s in sessions.values()), return_exceptions=True)

    def _timeout(self, remaining_s: float) -> aiohttp.ClientTimeout:
        routing = self._routing
        return aiohttp.ClientTimeout(
            # The request's deadline bounds the whole exchange, streamed body included.
            total=remaining_s,
            connect=min(routing.connect_timeout_s, remaining_s),
            sock_read=min(routing.first_byte_timeout_s, remaining_s),
        )

    @asynccontextmanager
    async def post(
        self,
        endpoint: Endpoint,
        path: str,
        body: bytes,
        remaining_s: float,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """An upstream response with a 200 status, headers read and body not yet consumed.

        Any other status is turned into an error here (its body read and kept short). Errors
        raised while the caller reads the body are mapped the same way. On leaving the context
        the connection goes back to the pool if the body was read to the end, and is closed
        otherwise (a cancelled or cut stream), which also cancels the upstream's work.
        """
        name = endpoint.name
        headers = self._headers[name]
        if extra_headers:
            headers = {**headers, **extra_headers}
        session = self._sessions[name]
        try:
            # aiohttp's own connect and read timeouts bound the wait for the headers.
            response = await session.post(
                endpoint.base_url + path,
                data=body,
                headers=headers,
                timeout=self._timeout(remaining_s),
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _map_exception(exc, name) from None
        try:
            if response.status != 200:
                await self._raise_for_status(response, name)
            yield response
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            response.close()
            raise _map_exception(exc, name) from None
        except BaseException:
            response.close()
            raise
        else:
            if response.content.at_eof():
                response.release()
            else:
                response.close()

    @staticmethod
    async def chunks(response: aiohttp.ClientResponse, endpoint: str) -> AsyncIterator[bytes]:
        """The body as it arrives, with read failures mapped to upstream errors."""
        try:
            while chunk := await response.content.readany():
                yield chunk
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _map_exception(exc, endpoint) from None

    @staticmethod
    async def read_body(response: aiohttp.ClientResponse, endpoint: str) -> bytes:
        try:
            return await response.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _map_exception(exc, endpoint) from None

    async def _raise_for_status(self, response: aiohttp.ClientResponse, name: str) -> None:
        status = response.status
        try:
            body = await response.content.read(64 * 1024)
        finally:
            response.close()
        if status >= 500 or status in _RETRYABLE_STATUSES:
            raise UpstreamStatusError(
                f"endpoint {name} answered {status}",
                endpoint=name,
                upstream_status=status,
                retry_after=response.headers.get("Retry-After"),
            )
        raise UpstreamRejected(
            f"endpoint {name} rejected the request ({status})",
            endpoint=name,
            upstream_status=status,
            body=body,
        )

    async def probe(self, endpoint: Endpoint, timeout_s: float) -> float | None:
        """Round-trip time of a cheap GET to the endpoint in ms, or None when it failed.

        Any answer below 500 counts as reachable: the probe measures the network path and the
        provider's front door, not whether our key is accepted.
        """
        session = self._sessions.get(endpoint.name)
        if session is None:
            return None
        started = perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                async with session.get(
                    endpoint.base_url + endpoint.settings.probe_path,
                    headers=self._headers[endpoint.name],
                ) as response:
                    await response.read()
                    if response.status >= 500:
                        return None
        except (TimeoutError, aiohttp.ClientError, OSError):
            return None
        return (perf_counter() - started) * 1000.0
