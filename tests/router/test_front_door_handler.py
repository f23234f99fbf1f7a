"""The request handler every client connection gets (router/front_door_handler.py): a head that
trickles in is cut off by its own timer, not the idle keep-alive one; a head too large in total
gets 431; and what aiohttp's parser refuses gets the router's JSON error without a byte of the
request, in the answer or in the log.

Waits are bounded (`raw_http.WAIT_S`); the short limits under test are set in each node config,
with the keep-alive timer far longer so that only the head timer can close a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

import orjson
import pytest

from router.telemetry.log_context import RequestIdFilter
from tests.router import raw_http as raw
from tests.stack import API_KEY

_HEAD_TIMER = {"header_read_timeout_s": 0.5, "keepalive_timeout_s": 60.0}
_SECRET = "sk-live-SECRET-never-echoed-0123456789"


def _json_error(body: bytes) -> dict[str, object]:
    error = orjson.loads(body)["error"]
    assert isinstance(error, dict)
    return error


@pytest.mark.asyncio
async def test_a_head_trickled_past_its_timeout_gets_408_and_the_connection_is_closed() -> None:
    async with raw.stack_with(**_HEAD_TIMER) as stack, raw.connection(stack) as (reader, writer):

        async def trickle() -> None:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: router\r\n")
            for n in range(200):
                await asyncio.sleep(0.05)
                writer.write(f"X-Slow-{n}: 1\r\n".encode())

        trickling = asyncio.create_task(trickle())
        try:
            status, headers, body = await raw.response(reader)
            assert await raw.closed(reader)
        finally:
            trickling.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await trickling
        assert status == 408
        assert _json_error(body)["code"] == "request_timeout"
        assert headers["server"] == "edge-router"
        (line,) = [line for line in stack.access_log_lines() if line["status"] == 408]
        assert line["request_id"] == headers["x-request-id"]
        assert line["client"] == "127.0.0.1"


@pytest.mark.asyncio
async def test_the_head_timer_spares_idle_connections_and_slow_bodies() -> None:
    """The timer runs from a head's first byte to its end: a connection that sends nothing, an
    idle keep-alive connection and a body sent slowly after its head are not cut by it."""
    async with (
        raw.stack_with(**_HEAD_TIMER, body_read_timeout_s=5.0) as stack,
        raw.connection(stack) as (reader, writer),
    ):
        await asyncio.sleep(1.0)  # twice the head timeout, before the first byte
        writer.write(raw.head("GET", "/healthz"))
        assert (await raw.response(reader))[0] == 200
        await asyncio.sleep(1.0)  # idle between two requests
        writer.write(raw.head("GET", "/healthz"))
        assert (await raw.response(reader))[0] == 200
        body = orjson.dumps(
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        )
        headers = {
            "Authorization": f"Bearer {API_KEY}",
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
        }
        writer.write(raw.head("POST", "/v1/chat/completions", headers))
        for start in range(0, len(body), len(body) // 4 + 1):
            await asyncio.sleep(0.3)  # 1.2 s in all, over twice the head timeout
            writer.write(body[start : start + len(body) // 4 + 1])
        status, _, answer = await raw.response(reader)
        assert status == 200, answer
        assert orjson.loads(answer)["object"] == "chat.completion"


@pytest.mark.asyncio
async def test_a_head_growing_past_the_total_bound_gets_431_before_it_ends() -> None:
    limits = {"max_header_total_bytes": 4096, "max_headers": 100, "max_header_bytes": 2048}
    async with raw.stack_with(**limits) as stack, raw.connection(stack) as (reader, writer):
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: router\r\n")
        for n in range(5):  # 5 lines of 1 KiB, each under the line limit, never finished
            writer.write(f"X-Big-{n}: {'a' * 1000}\r\n".encode())
            await asyncio.sleep(0.01)
        status, headers, body = await raw.response(reader)
        assert await raw.closed(reader)
    assert status == 431
    assert _json_error(body)["code"] == "request_header_fields_too_large"
    assert headers["server"] == "edge-router"


@pytest.mark.asyncio
async def test_a_whole_head_over_the_total_bound_gets_431_and_one_under_it_is_served() -> None:
    limits = {"max_header_total_bytes": 4096, "max_headers": 100, "max_header_bytes": 2048}
    async with raw.stack_with(**limits) as stack:
        for count, expected in ((10, 431), (2, 200)):
            async with raw.connection(stack) as (reader, writer):
                fields = {f"X-Big-{n}": "a" * 1000 for n in range(count)}
                writer.write(raw.head("GET", "/healthz", fields))  # in one write
                status, headers, body = await raw.response(reader)
            assert status == expected, body
            assert headers["server"] == "edge-router"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "request_bytes",
    [
        # A header line over max_header_bytes: aiohttp's parser put its first 100 bytes in the
        # answer and in a logged traceback.
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: router\r\nAuthorization: Bearer "
        + _SECRET.encode()
        + b"x" * 9000
        + b"\r\n\r\n",
        # A malformed request line carrying the key.
        b"POST /v1/chat/completions?key=" + _SECRET.encode() + b" HTTP/1.1 extra\r\n\r\n",
        # A header name with a forbidden character.
        b"GET /healthz HTTP/1.1\r\nHost: router\r\nX-Key" + _SECRET.encode() + b"(: 1\r\n\r\n",
    ],
    ids=["line-too-long", "bad-request-line", "bad-header-name"],
)
async def test_what_the_parser_refuses_gets_a_json_error_that_echoes_nothing(
    request_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(RequestIdFilter())
    async with raw.stack_with() as stack, raw.connection(stack) as (reader, writer):
        writer.write(request_bytes)
        answer = await asyncio.wait_for(reader.read(), raw.WAIT_S)
        lines = stack.access_log_lines()
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert status in (400, 431)
    assert _json_error(body)["type"] == "invalid_request_error"
    assert _SECRET.encode() not in answer
    assert b"Server: edge-router\r\n" in head
    assert b"aiohttp" not in answer.lower() and b"python" not in answer.lower()
    request_id = re.search(rb"x-request-id: ([0-9a-f]{32})", head, re.IGNORECASE)
    assert request_id is not None
    (line,) = [line for line in lines if line["status"] == status]
    assert line["request_id"] == request_id.group(1).decode()
    assert _SECRET not in caplog.text
    refusals = [r for r in caplog.records if r.name == "edge_router.front_door"]
    assert [getattr(r, "request_id", None) for r in refusals] == [line["request_id"]]


@pytest.mark.asyncio
async def test_pipelined_requests_are_still_answered_in_order() -> None:
    async with raw.stack_with(**_HEAD_TIMER) as stack, raw.connection(stack) as (reader, writer):
        writer.write(raw.head("GET", "/healthz") + raw.head("GET", "/nowhere") * 2)
        statuses = [(await raw.response(reader))[0] for _ in range(3)]
    assert statuses == [200, 404, 404]
