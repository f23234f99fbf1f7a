"""The reference upstream client, on aiohttp's: an `upstream_client.UpstreamClient` that keeps the
same rules as the lean one in `http1.py` and raises the same small exceptions.

It is there to check the lean client against (the forwarding contract tests run on both) and to
fall back to (`routing.upstream_client: aiohttp`); it costs more CPU per request
(docs/benchmarks.md).

How aiohttp 3.14 is held to the rules (read in its source):
- no replay: `ClientSession._request` retries a request broken on a pooled connection only for
  idempotent methods (`IDEMPOTENT_METHODS`: GET, HEAD, OPTIONS, TRACE, PUT, DELETE; RFC 9112
  §9.3.1), never a POST, so nothing needs switching off for forwarded requests. The probe's GET may
  be sent again once on a fresh connection, which an idempotent GET allows; there is no public
  switch for it;
- idle expiry: the connector's `keepalive_timeout`; an idle connection seen closed is skipped;
- response head: `max_headers` and `max_field_size` (name and value of one header) are aiohttp's
  own limits; the whole head's size, which aiohttp does not bound, is checked once it arrived;
- `auto_decompress=False`, a `DummyCookieJar`, `allow_redirects=False`, no `User-Agent`,
  `Accept` or `Accept-Encoding` of its own;
- a header with a line break is refused before anything is sent, like the lean client does
  (aiohttp's header writer refuses any control character too).

Timeouts: the connect and the response head use aiohttp's `connect` and `sock_read`, the request's
deadline its `total` (which, like the lean client, never fails a read that finds data buffered).
Once the head arrived, `sock_read` is switched off and each body read is bounded here, so a stream's
idle timeout may differ from the first-byte one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import aiohttp
from yarl import URL

from router.endpoints.upstream_client import (
    IDLE_EXPIRY_S,
    MAX_RESPONSE_HEADER_BYTES,
    MAX_RESPONSE_HEADERS,
    ConnectFailed,
    ConnectionBroken,
    ReadTimeout,
    refuse_line_break,
)

_NO_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding")


class AiohttpResponse:
    """A response whose head has arrived; the body is read with `read()` or `chunks()`."""

    __slots__ = ("_read_timeout_s", "_response", "headers", "status")

    def __init__(
        self, response: aiohttp.ClientResponse, headers: dict[str, str], read_timeout_s: float
    ) -> None:
        self._response = response
        self._read_timeout_s = read_timeout_s
        self.status = response.status
        self.headers: Mapping[str, str] = headers

    async def _next_chunk(self, timeout_s: float) -> bytes:
        try:
            async with asyncio.timeout(timeout_s):
                return await self._response.content.readany()
        except TimeoutError:
            # Ours (read or idle timeout) or aiohttp's total (the request's deadline).
            raise ReadTimeout("no data from the endpoint in time") from None
        except aiohttp.ClientError as exc:
            raise ConnectionBroken(f"body cut short: {exc!r}", before_response=False) from None

    async def chunks(self, idle_timeout_s: float | None = None) -> AsyncIterator[bytes]:
        timeout_s = self._read_timeout_s
        while chunk := await self._next_chunk(timeout_s):
            if idle_timeout_s is not None:
                timeout_s = idle_timeout_s
            yield chunk

    async def read(self, limit: int | None = None) -> bytes:
        parts: list[bytes] = []
        size = 0
        while chunk := await self._next_chunk(self._read_timeout_s):
            parts.append(chunk)
            size += len(chunk)
            if limit is not None and size >= limit:
                break
        return b"".join(parts)

    def finish(self) -> None:
        response = self._response
        if response.content.at_eof():
            response.release()
        else:
            response.close()


class AiohttpClient:
    """Keep-alive connections to one origin through an `aiohttp.ClientSession`, opened on the
    first request (aiohttp binds it to the running loop) and closed with `close()`."""

    def __init__(
        self,
        base_url: str,
        connect_timeout_s: float,
        idle_expiry_s: float = IDLE_EXPIRY_S,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._connect_timeout_s = connect_timeout_s
        self._idle_expiry_s = idle_expiry_s
        self._headers = dict(headers or {})
        self._urls: dict[str, URL] = {}
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        for name, value in self._headers.items():
            refuse_line_break(name, value)
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=self._idle_expiry_s)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            skip_auto_headers=_NO_AUTO_HEADERS,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,
            max_headers=MAX_RESPONSE_HEADERS,
            max_field_size=MAX_RESPONSE_HEADER_BYTES,
        )
        return self._session

    def _url(self, path: str) -> URL:
        url = self._urls.get(path)
        if url is None:
            # Sent as written, like the lean client's request line.
            url = self._urls[path] = URL(self._base_url + path, encoded=True)
        return url

    async def exchange(
        self,
        method: str,
        path: str,
        extra_headers: Mapping[str, str] | None,
        body: bytes,
        read_timeout_s: float,
        total_timeout_s: float,
    ) -> AiohttpResponse:
        session = self._session or self._open()
        timeout = aiohttp.ClientTimeout(
            total=total_timeout_s,
            connect=min(self._connect_timeout_s, total_timeout_s),
            sock_read=min(read_timeout_s, total_timeout_s),
        )
        try:
            response = await session.request(
                method,
                self._url(path),
                headers=extra_headers,
                data=body,
                timeout=timeout,
                allow_redirects=False,
            )
        except aiohttp.ServerDisconnectedError as exc:
            # aiohttp hands over the part of a head it had parsed, if any arrived.
            raise ConnectionBroken(
                "connection closed by the endpoint", before_response=isinstance(exc.message, str)
            ) from None
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise ConnectFailed(f"cannot connect to {self._base_url}: {exc!r}") from None
        except TimeoutError:
            raise ReadTimeout("no response head from the endpoint in time") from None
        except aiohttp.ClientResponseError as exc:  # unparseable, or over aiohttp's limits
            raise ConnectionBroken(f"malformed response: {exc!r}", before_response=False) from None
        except aiohttp.ClientOSError as exc:
            # A reset before the head: aiohttp does not say whether part of one had come.
            raise ConnectionBroken(f"connection lost: {exc!r}", before_response=True) from None
        except aiohttp.ClientError as exc:
            raise ConnectionBroken(f"exchange failed: {exc!r}", before_response=False) from None
        return _accepted(response, read_timeout_s)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _accepted(response: aiohttp.ClientResponse, read_timeout_s: float) -> AiohttpResponse:
    """The response with lower-cased headers, once its head is within the limits; from here on
    body reads are timed by `AiohttpResponse`, not by aiohttp's `sock_read`."""
    headers: dict[str, str] = {}
    size = 0
    for name, value in response.raw_headers:
        size += len(name) + len(value)
        headers[name.decode("latin-1").lower()] = value.decode("latin-1")
    if size > MAX_RESPONSE_HEADER_BYTES:
        response.close()
        raise ConnectionBroken("response headers over the limit", before_response=False)
    connection = response.connection
    if connection is not None and connection.protocol is not None:
        connection.protocol.read_timeout = None
        connection.protocol.start_timeout()  # with no timeout: drops the one running
    return AiohttpResponse(response, headers, read_timeout_s)
