"""The handler each client connection gets: aiohttp's `RequestHandler`, with what it lacks at the
edge (docs/security.md, "Front door").

- **A request-head timeout.** From the first byte of a request's head, a client has
  `server.header_read_timeout_s` to finish it, however it trickles it (slowloris); then it gets
  408 and the connection is closed. aiohttp has none: its idle keep-alive timer was the only bound.
- **A bound on the whole head.** A head still incomplete past `server.max_header_total_bytes`
  gets 431 and the connection is closed; aiohttp bounds each line and the number of fields only
  (100 × 8 KiB). A head that arrives whole is measured by `check_head` in the app.
- **Quiet refusals.** What aiohttp's HTTP parser refuses (a malformed request line, a line too
  long, too many fields) gets the router's own JSON error, `Server: edge-router` and an
  `x-request-id`. aiohttp's answer echoed up to 100 bytes of the offending line (a long
  `Authorization` header's key included) and named its version, and its log line carried the
  same bytes in a traceback; the router's line names the client and the kind of error only.

The refusals go through aiohttp's own path for parser errors (an error message queued for the
handler task), so they get the access-log line of every other refusal.

This leans on a few private parts of aiohttp's `RequestHandler` (its message queue, waiter and
request count, as of aiohttp 3.10 to 3.14); tests/router/test_front_door_handler.py exercises
each, so an aiohttp release that moves them fails there first.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong
from aiohttp.streams import EMPTY_PAYLOAD
from aiohttp.web_protocol import RequestHandler, _ErrInfo

from router.errors import (
    HeadersTooLarge,
    InvalidRequest,
    RequestTimeout,
    RouterError,
    UpstreamTimeout,
)
from router.front_door import SERVER_NAME, request_id
from router.telemetry.log_context import CURRENT_REQUEST_ID

log = logging.getLogger("edge_router.front_door")


class HeadTimedOut(HttpProcessingError):
    """The request head was not complete within `server.header_read_timeout_s`."""


class HeadTooLarge(HttpProcessingError):
    """The request head grew past `server.max_header_total_bytes` before it was complete."""


def raw_head_bytes(request: web.BaseRequest) -> int:
    """The size of a parsed request's header fields, as sent (name, value, ': ' and CRLF)."""
    return sum(len(name) + len(value) + 4 for name, value in request.raw_headers)


def check_head(request: web.BaseRequest, max_header_total_bytes: int) -> None:
    """431 for a head that arrived whole but is larger, in total, than the router takes."""
    if raw_head_bytes(request) > max_header_total_bytes:
        raise HeadersTooLarge(
            f"The request's header fields exceed {max_header_total_bytes} bytes in total."
        )


def quiet_error(status: int, exc: BaseException | None) -> RouterError:
    """The router's error for what aiohttp refused or failed on, without a byte of the request."""
    if isinstance(exc, HeadTimedOut):
        return RequestTimeout("The request head was not complete in time.")
    if isinstance(exc, HeadTooLarge | LineTooLong):
        return HeadersTooLarge("A request line, a header field or the header block is too large.")
    if isinstance(exc, HttpProcessingError) or 400 <= status < 500:
        return InvalidRequest("The request is not valid HTTP/1.1.")
    if status == 504:
        return UpstreamTimeout("The request timed out.", endpoint="")
    return RouterError("The server had an error processing your request.")


class EdgeRequestHandler(RequestHandler):
    """aiohttp's request handler with a head timeout, a head size bound and quiet refusals."""

    def __init__(
        self,
        manager: web.Server,
        *,
        loop: asyncio.AbstractEventLoop,
        header_read_timeout_s: float,
        max_header_total_bytes: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(manager, loop=loop, **kwargs)
        self._head_timeout_s = header_read_timeout_s
        self._max_head_bytes = max_header_total_bytes
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._head_count = 0  # the request count when the head being read began
        self._refused = False

    def _between_requests(self) -> bool:
        """True when bytes arriving now begin a new request head: nothing parsed yet on this
        connection, or the handler waits for its next request with none queued."""
        if self._messages:
            return False
        waiter = self._waiter
        return self._request_count == 0 or (waiter is not None and not waiter.done())

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._head_timer is None and self._between_requests():
            self._head_timer = self._loop.call_later(self._head_timeout_s, self._head_timed_out)
            self._head_bytes = 0
            self._head_count = self._request_count
        super().data_received(data)
        if self._head_timer is None:
            return
        if self._request_count != self._head_count:  # the head is complete (or refused)
            self._stop_head_timer()
            return
        self._head_bytes += len(data)
        if self._head_bytes > self._max_head_bytes:
            self._refuse(HeadTooLarge(message="request head too large"), 431)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._request_count == self._head_count and not self._refused:
            self._refuse(HeadTimedOut(message="request head timed out"), 408)

    def _refuse(self, exc: HttpProcessingError, status: int) -> None:
        """Queue an error answer, as aiohttp does for what its parser refuses, and read no more:
        the answer closes the connection."""
        self._refused = True
        self._stop_head_timer()
        self._request_count += 1
        self._messages.append(
            (_ErrInfo(status=status, exc=exc, message=exc.message), EMPTY_PAYLOAD)
        )
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The router's JSON error for a request aiohttp refused or a handler that failed outside
        the app's middlewares; it always closes the connection, as aiohttp's does."""
        error = quiet_error(status, exc)
        rid = request_id(request)
        CURRENT_REQUEST_ID.set(rid)  # this runs in the request's own task, as handlers do
        kind = type(exc).__name__ if exc is not None else f"status {status}"
        if isinstance(exc, BadHttpMethod) and self._request_count == 1:
            # Not HTTP at all (TLS to a plain port, a scanner): routine on a public address.
            log.debug("refused a non-HTTP request from %s (%s)", request.remote, kind)
        elif error.status >= 500:  # the router's own failure: its traceback is the router's code
            log.error("answered %d to %s (%s)", error.status, request.remote, kind, exc_info=exc)
        else:
            log.info("refused a request from %s (%s)", request.remote, kind)
        if request.writer.output_size > 0:
            raise ConnectionError("the answer had started; the connection is closed instead")
        response = web.Response(
            status=error.status,
            body=error.to_body(),
            content_type="application/json",
            headers={"Server": SERVER_NAME, "x-request-id": rid},
        )
        response.force_close()
        return response
