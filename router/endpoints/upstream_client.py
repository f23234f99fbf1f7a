"""What `transport.py` needs from a per-endpoint HTTP client, and the rules every client keeps.

Two clients implement it: the lean one in `http1.py` (the default, for its CPU cost on the hot
path) and a reference one on aiohttp's client in `aiohttp_client.py`, picked by
`routing.upstream_client`. One forwarding test suite runs against both
(`tests/endpoints/test_transport_contract.py`).

A client raises only the small exceptions below; `transport.py` maps them to the router's errors
once. Each client prepares what it wants per (method, path) (the lean one a pre-encoded request
head), so the protocol passes the method and path, not a prepared request.

The rules both keep:
- a request is sent once: one that breaks before the answer started may have reached the
  endpoint, so only the caller's fail-over may send it again (elsewhere, in the open);
- an idle pooled connection older than `IDLE_EXPIRY_S` is closed rather than reused;
- a response head is bounded (`MAX_RESPONSE_HEADERS`, `MAX_RESPONSE_HEADER_BYTES`);
- the body is passed on as the endpoint sent it (asked for with `Accept-Encoding: identity`, never
  decompressed), no cookies are kept and no redirect is followed;
- a header holding a line break is never written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

# An idle pooled connection older than this is closed rather than reused: the longer it sat, the
# likelier the endpoint is closing it as we write (uvicorn and Node close after 5 s, nginx 75 s).
IDLE_EXPIRY_S = 30.0
# An upstream's response head is bounded like a client's request head (Envoy: 100 headers, 60 KiB).
MAX_RESPONSE_HEADERS = 100
MAX_RESPONSE_HEADER_BYTES = 60 * 1024


class HttpError(Exception):
    pass


class ConnectFailed(HttpError):
    pass


class ReadTimeout(HttpError):
    pass


class ConnectionBroken(HttpError):
    """The connection closed or sent something unparseable. `before_response` is true when not a
    byte of the response had arrived: the endpoint may or may not have started on the request (a
    chat request's prefill sends nothing for a while), so it is never replayed here; the caller
    decides, and its fail-over never goes to the same endpoint twice in a row."""

    def __init__(self, message: str, *, before_response: bool) -> None:
        super().__init__(message)
        self.before_response = before_response


class UpstreamResponse(Protocol):
    """A response whose head has arrived; its body is read with `read()` or `chunks()`, then
    `finish()` is called whatever happened."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Looked up by lower-case name."""
        ...

    def chunks(self, idle_timeout_s: float | None = None) -> AsyncIterator[bytes]:
        """The body as it arrives. The first chunk waits the read timeout; each later one at most
        `idle_timeout_s` when given; none waits past the request's deadline."""
        ...

    async def read(self, limit: int | None = None) -> bytes:
        """The body to its end, or once at least `limit` bytes arrived."""
        ...

    def finish(self) -> None:
        """Give the connection back when the body was read to the end; close it otherwise (which
        also tells the endpoint to stop generating for a client that is gone)."""
        ...


class UpstreamClient(Protocol):
    """Keep-alive connections to one endpoint's origin, built with the headers every request to
    it carries (its key among them)."""

    async def exchange(
        self,
        method: str,
        path: str,
        extra_headers: Mapping[str, str] | None,
        body: bytes,
        read_timeout_s: float,
        total_timeout_s: float,
    ) -> UpstreamResponse:
        """Send one request to the endpoint's base URL + `path` and wait for the response head:
        the connect within the client's connect timeout, the head within `read_timeout_s` of the
        request being written, everything within `total_timeout_s`."""
        ...

    async def close(self) -> None:
        """Close every connection, idle or in use."""
        ...


def refuse_line_break(name: str, value: str) -> None:
    """A header holding a line break would end early and let what follows be read as headers (or
    a request) of their own: it is refused, never written."""
    if any(c in name or c in value for c in "\r\n"):
        raise ValueError(f"header {name!r} holds a line break; it is not sent")
