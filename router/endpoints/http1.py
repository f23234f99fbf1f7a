"""A lean HTTP/1.1 client for the hot path: keep-alive pools of asyncio protocols and httptools.

Why not aiohttp's client: on the benchmark machine its request machinery (ClientRequest,
ClientResponse, timers, tracing hooks, cookie handling) was about a quarter of the router's CPU per
request. Forwarding needs much less: write one pre-built request, parse the status, a few headers
and the body as it arrives, and give the connection back. The request head is built from a
per-endpoint prefix; the response is parsed by httptools (llhttp, the C parser uvicorn uses).

It implements `upstream_client.UpstreamClient`: it speaks only HTTP, raises that module's small
exceptions (which `transport.py` maps to the router's errors once) and keeps its rules.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from typing import cast
from urllib.parse import urlsplit

import httptools

from router.endpoints.upstream_client import (
    IDLE_EXPIRY_S,
    MAX_RESPONSE_HEADER_BYTES,
    MAX_RESPONSE_HEADERS,
    ConnectFailed,
    ConnectionBroken,
    HttpError,
    ReadTimeout,
    refuse_line_break,
)

# Pause reading from a socket when this much body is buffered and unread (back-pressure).
_HIGH_WATER_BYTES = 256 * 1024


class _Connection(asyncio.Protocol):
    """One keep-alive connection; carries one exchange at a time."""

    def __init__(self, pool: Http1Pool) -> None:
        self._pool = pool
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._error: HttpError | None = None
        self._paused = False
        self.closed = False
        self.reused = False
        self.idle_since = 0.0  # loop time it went back to the pool
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._headers_done = False
        self._got_bytes = False
        self.complete = False
        self._keep_alive = False
        self._framed = False
        self._interim = False
        self._header_count = 0
        self._header_bytes = 0

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionBroken(f"malformed response: {exc}", before_response=False))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._pool.forget(self)
        if self._headers_done and not self.complete and not self._framed:
            # A body delimited by the connection closing (neither length nor chunked).
            self.complete = True
            self._wake()
            return
        if not self.complete:
            self._fail(
                ConnectionBroken(
                    "connection closed by the endpoint", before_response=not self._got_bytes
                )
            )

    # -- httptools callbacks -------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_bytes += len(name) + len(value)
        if (
            self._header_count > MAX_RESPONSE_HEADERS
            or self._header_bytes > MAX_RESPONSE_HEADER_BYTES
        ):
            # Raised through the parser, which reports it as a malformed response.
            raise ValueError("response headers over the limit")
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            # An interim response (100 Continue, 103 Early Hints) comes before the final one and
            # has no body; a client must skip it, asked for or not (RFC 9110 §15.2).
            self._interim = True
            self.headers.clear()
            return
        self.status = status
        self._keep_alive = self._parser.should_keep_alive()
        self._framed = (
            "content-length" in self.headers
            or "chunked" in self.headers.get("transfer-encoding", "")
            or self.status in (204, 304)
        )
        self._headers_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER_BYTES and not self._paused and self._transport:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self.complete = True
        self._wake()

    # -- the exchange ------------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: HttpError) -> None:
        self._error = error
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.abort()

    def abort(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.abort()

    async def _wait(self, timeout_s: float) -> None:
        if self._error is not None:
            raise self._error
        waiter = self._loop.create_future()
        self._waiter = waiter
        timer = self._loop.call_later(timeout_s, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def send(self, request: bytes) -> None:
        self._reset()
        assert self._transport is not None
        self._transport.write(request)

    async def read_headers(self, timeout_s: float) -> None:
        while not self._headers_done:
            await self._wait(timeout_s)

    async def next_chunk(self, timeout_s: Callable[[], float]) -> bytes:
        """The next piece of the body, or b"" once it is complete. `timeout_s` is asked only
        when there is nothing buffered to return, so data that already arrived is never lost
        to a deadline."""
        while not self._chunks:
            if self.complete:
                return b""
            await self._wait(timeout_s())
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered < _HIGH_WATER_BYTES // 4 and self._transport:
            self._paused = False
            self._transport.resume_reading()
        return chunk

    @property
    def reusable(self) -> bool:
        return self.complete and self._keep_alive and not self.closed and not self._chunks


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(ReadTimeout("no data from the endpoint in time"))


class Http1Response:
    """A response whose head has arrived; the body is read with `read()` or `chunks()`."""

    __slots__ = ("_conn", "_deadline", "_loop", "_pool", "_read_timeout_s", "headers", "status")

    def __init__(
        self, conn: _Connection, pool: Http1Pool, read_timeout_s: float, deadline: float
    ) -> None:
        self._conn = conn
        self._pool = pool
        self._read_timeout_s = read_timeout_s
        self._deadline = deadline
        self._loop = asyncio.get_running_loop()
        self.status = conn.status
        self.headers: Mapping[str, str] = conn.headers

    def _timeout_s(self) -> float:
        """Each read waits at most the read timeout, and never past the request's deadline."""
        return min(self._read_timeout_s, _left_s(self._loop, self._deadline))

    async def chunks(self, idle_timeout_s: float | None = None) -> AsyncIterator[bytes]:
        """The body as it arrives. The first chunk waits the read timeout; each later one at most
        `idle_timeout_s` when given (a stream that stalls after it started)."""
        chunk = await self._conn.next_chunk(self._timeout_s)
        if idle_timeout_s is not None:
            self._read_timeout_s = idle_timeout_s
        while chunk:
            yield chunk
            chunk = await self._conn.next_chunk(self._timeout_s)

    async def read(self, limit: int | None = None) -> bytes:
        parts: list[bytes] = []
        size = 0
        while chunk := await self._conn.next_chunk(self._timeout_s):
            parts.append(chunk)
            size += len(chunk)
            if limit is not None and size >= limit:
                break
        return b"".join(parts)

    def finish(self) -> None:
        """Give the connection back when the body was read to the end; close it otherwise (which
        also tells the endpoint to stop generating for a client that is gone)."""
        self._pool.release(self._conn)


class Http1Pool:
    """Keep-alive connections to one origin (scheme, host, port); every request carries
    `headers`."""

    def __init__(
        self,
        base_url: str,
        connect_timeout_s: float,
        idle_expiry_s: float = IDLE_EXPIRY_S,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        tls = parts.scheme == "https"
        self.port = parts.port or (443 if tls else 80)
        self.path_prefix = parts.path.rstrip("/")
        self._ssl: ssl.SSLContext | None = ssl.create_default_context() if tls else None
        default_port = (tls and self.port == 443) or (not tls and self.port == 80)
        self.host_header = self.host if default_port else f"{self.host}:{self.port}"
        self._connect_timeout_s = connect_timeout_s
        self._idle_expiry_s = idle_expiry_s
        self._idle: collections.deque[_Connection] = collections.deque()
        self._all: set[_Connection] = set()
        self._headers = dict(headers or {})
        self._heads: dict[tuple[str, str], bytes] = {}

    def request_head(self, method: str, path: str) -> bytes:
        """The request line and the headers that do not change between requests, pre-encoded
        once per (method, path)."""
        head = self._heads.get((method, path))
        if head is None:
            lines = [f"{method} {self.path_prefix}{path} HTTP/1.1", f"Host: {self.host_header}"]
            lines += [_header_line(name, value) for name, value in self._headers.items()]
            head = ("\r\n".join(lines) + "\r\n").encode("latin-1")
            self._heads[(method, path)] = head
        return head

    async def _connect(self, timeout_s: float) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout_s):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self),
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None,
                )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise ConnectFailed(f"cannot connect to {self.host}:{self.port}: {exc!r}") from None
        self._all.add(conn)
        return conn

    @property
    def idle_connections(self) -> int:
        """Idle connections not seen closed: the ones a request could take now."""
        return sum(1 for conn in self._idle if not conn.closed)

    def _take_idle(self) -> _Connection | None:
        """The most recently used idle connection (the least likely to be stale) not seen closed;
        the older ones expire."""
        now = asyncio.get_running_loop().time()
        while self._idle and now - self._idle[0].idle_since >= self._idle_expiry_s:
            expired = self._idle.popleft()
            expired.abort()
            self._all.discard(expired)
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                conn.reused = True
                return conn
        return None

    async def exchange(
        self,
        method: str,
        path: str,
        extra_headers: Mapping[str, str] | None,
        body: bytes,
        read_timeout_s: float,
        total_timeout_s: float,
    ) -> Http1Response:
        """Send one request and wait for the response head, on an idle connection not seen
        closed, else a new one. A request is sent once: one that breaks before the answer started
        may have reached the endpoint (which may be generating, and billing), so it is not sent
        again here on a fresh connection, unseen by the fail-over record that would show it."""
        request = _encode(self.request_head(method, path), extra_headers, body)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + total_timeout_s
        conn = self._take_idle()
        if conn is None:
            conn = await self._connect(min(self._connect_timeout_s, _left_s(loop, deadline)))
        return await self._send(conn, request, read_timeout_s, deadline)

    async def _send(
        self, conn: _Connection, request: bytes, read_timeout_s: float, deadline: float
    ) -> Http1Response:
        conn.send(request)
        loop = asyncio.get_running_loop()
        try:
            await conn.read_headers(min(read_timeout_s, _left_s(loop, deadline)))
        except BaseException:
            conn.abort()
            raise
        return Http1Response(conn, self, read_timeout_s, deadline)

    def release(self, conn: _Connection) -> None:
        if conn.reusable:
            conn.reused = True
            conn.idle_since = asyncio.get_running_loop().time()
            self._idle.append(conn)
        else:
            conn.abort()
            self._all.discard(conn)

    def forget(self, conn: _Connection) -> None:
        self._all.discard(conn)

    async def close(self) -> None:
        for conn in list(self._all):
            conn.abort()
        self._all.clear()
        self._idle.clear()


def _left_s(loop: asyncio.AbstractEventLoop, deadline: float) -> float:
    left_s = deadline - loop.time()
    if left_s <= 0:
        raise ReadTimeout("the request's deadline passed")
    return left_s


def _encode(head: bytes, extra_headers: Mapping[str, str] | None, body: bytes) -> bytes:
    extra = b""
    if extra_headers:
        lines = (_header_line(k, v) + "\r\n" for k, v in extra_headers.items())
        extra = "".join(lines).encode("latin-1")
    return b"%s%sContent-Length: %d\r\n\r\n%s" % (head, extra, len(body), body)


def _header_line(name: str, value: str) -> str:
    refuse_line_break(name, value)
    return f"{name}: {value}"
