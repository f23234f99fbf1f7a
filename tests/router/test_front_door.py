"""The front door on the public edge: clients that misbehave on real sockets (stalled bodies,
idle or half-sent connections, oversized headers, too many connections, admin-token guessing)
are cut off by configured limits, and every answer carries an id and gets an access-log line.

Waits are bounded (`raw_http.WAIT_S`, far above the configured timeouts); nothing asserts a
duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import resource
from typing import Any

import orjson
import pytest

from router.front_door import raise_fd_limit
from tests.router import raw_http as raw
from tests.stack import ADMIN_HEADERS, API_KEY, Stack

_FAST = {"body_read_timeout_s": 0.5, "keepalive_timeout_s": 0.5}


def _lines_with(stack: Stack, status: int) -> list[dict[str, Any]]:
    return [line for line in stack.access_log_lines() if line["status"] == status]


@pytest.mark.asyncio
async def test_missing_or_unknown_key_gets_401_before_the_body_is_read() -> None:
    async with raw.stack_with() as stack:
        for auth in ({}, {"Authorization": "Bearer sk-not-a-key"}):
            async with raw.connection(stack) as (reader, writer):
                # Announces 4 MB (under max_body_bytes) and sends none of it.
                headers = {"Content-Type": "application/json", "Content-Length": "4000000", **auth}
                writer.write(raw.head("POST", "/v1/chat/completions", headers))
                status, _, body = await raw.response(reader)
                assert status == 401
                assert orjson.loads(body)["error"]["type"] == "invalid_request_error"
        assert [line["path"] for line in _lines_with(stack, 401)] == ["/v1/chat/completions"] * 2


@pytest.mark.asyncio
async def test_expect_100_continue_gets_the_go_ahead_only_with_a_known_key() -> None:
    async with raw.stack_with() as stack:
        for key, expected in ((None, 401), ("sk-not-a-key", 401), (API_KEY, 100)):
            async with raw.connection(stack) as (reader, writer):
                headers = {"Content-Length": "4000000", "Expect": "100-continue"}
                if key is not None:
                    headers["Authorization"] = f"Bearer {key}"
                writer.write(raw.head("POST", "/v1/chat/completions", headers))
                status_line = await asyncio.wait_for(reader.readline(), raw.WAIT_S)
                assert int(status_line.split()[1]) == expected


@pytest.mark.asyncio
async def test_stalled_body_gets_408_and_the_connection_is_closed() -> None:
    async with raw.stack_with(**_FAST) as stack, raw.connection(stack) as (reader, writer):
        headers = {
            "Authorization": f"Bearer {API_KEY}",
            "Content-Type": "application/json",
            "Content-Length": "100",
        }
        writer.write(raw.head("POST", "/v1/chat/completions", headers) + b'{"model": ')
        status, headers_out, body = await raw.response(reader)
        assert status == 408
        error = orjson.loads(body)["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["code"] == "request_timeout"
        assert headers_out["connection"].lower() == "close"
        assert await raw.closed(reader)
        assert _lines_with(stack, 408)[0]["path"] == "/v1/chat/completions"


@pytest.mark.asyncio
async def test_idle_keepalive_connection_is_closed() -> None:
    async with raw.stack_with(**_FAST) as stack, raw.connection(stack) as (reader, writer):
        writer.write(raw.head("GET", "/healthz"))
        status, headers, _ = await raw.response(reader)
        assert status == 200
        assert headers.get("connection", "keep-alive").lower() == "keep-alive"
        assert await raw.closed(reader)


@pytest.mark.asyncio
async def test_headers_sent_slowly_are_cut_off_by_the_keepalive_timer() -> None:
    """Slowloris: a header line every 0.1 s never completes the request; the idle timer, armed
    when the connection opened and not moved by partial data, closes it."""
    async with raw.stack_with(**_FAST) as stack, raw.connection(stack) as (reader, writer):

        async def trickle() -> None:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: router\r\n")
            for n in range(100):
                await asyncio.sleep(0.1)
                writer.write(f"X-Slow-{n}: 1\r\n".encode())

        trickling = asyncio.create_task(trickle())
        try:
            assert await raw.closed(reader)
        finally:
            trickling.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await trickling


@pytest.mark.asyncio
async def test_too_many_or_too_large_headers_are_refused() -> None:
    async with raw.stack_with(max_headers=20, max_header_bytes=2048) as stack:
        many = {f"X-Many-{n}": "1" for n in range(30)}
        large = {"X-Large": "a" * 4096}
        for headers in (many, large):
            async with raw.connection(stack) as (reader, writer):
                writer.write(raw.head("GET", "/healthz", headers))
                status, _, _ = await raw.response(reader)
                assert status in (400, 431)
        # aiohttp's parser refused them before the app saw them; they are logged all the same.
        refused = [line for line in stack.access_log_lines() if line["status"] in (400, 431)]
        assert [(line["path"], line["client"]) for line in refused] == [("", "127.0.0.1")] * 2
        async with raw.connection(stack) as (reader, writer):
            writer.write(raw.head("GET", "/healthz", {f"X-Few-{n}": "1" for n in range(10)}))
            status, _, _ = await raw.response(reader)
            assert status == 200


@pytest.mark.asyncio
async def test_every_response_has_a_bare_server_header_and_a_fresh_request_id() -> None:
    async with raw.stack_with() as stack:
        incoming = {"x-request-id": "client-chosen"}
        async with stack.http.get(f"{stack.url}/healthz", headers=incoming) as response:
            assert response.headers["Server"] == "edge-router"
            assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
        async with stack.http.get(f"{stack.url}/no-such-path") as response:
            assert response.status == 404
            assert response.headers["Server"] == "edge-router"
            assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with stack.http.post(
            f"{stack.url}/v1/chat/completions", json=chat, headers=headers
        ) as response:
            assert response.status == 200
            assert response.headers["Server"] == "edge-router"
            request_id = response.headers["x-request-id"]
        (line,) = [line for line in stack.access_log_lines() if line["request_id"] == request_id]
        assert line["status"] == 200
        assert line["client"] == "127.0.0.1"
        assert line["tenant"] == "node"


@pytest.mark.asyncio
async def test_answers_refused_before_the_pipeline_are_logged() -> None:
    async with raw.stack_with(max_body_bytes=1000) as stack:
        key = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        chat_url = f"{stack.url}/v1/chat/completions"
        sent: dict[int, str] = {}
        async with stack.http.post(chat_url, data=b'{"model": ', headers=key) as response:
            sent[response.status] = response.headers["x-request-id"]
        async with stack.http.post(chat_url, data=b"x" * 2000, headers=key) as response:
            sent[response.status] = response.headers["x-request-id"]
        async with stack.http.post(chat_url, json={}) as response:
            sent[response.status] = response.headers["x-request-id"]
        async with stack.http.get(f"{stack.url}/v1/nothing-here") as response:
            sent[response.status] = response.headers["x-request-id"]
        assert sorted(sent) == [400, 401, 404, 413]
        async with stack.http.get(
            f"{stack.url}/admin/endpoints", headers={"Authorization": "Bearer wrong"}
        ) as response:
            assert response.status == 401
            admin_id = response.headers["x-request-id"]
        lines = {line["request_id"]: line for line in stack.access_log_lines()}
        for status, request_id in sent.items():
            assert lines[request_id]["status"] == status
            assert lines[request_id]["client"] == "127.0.0.1"
        assert lines[admin_id]["status"] == 401
        assert lines[admin_id]["path"] == "/admin/endpoints"


@pytest.mark.asyncio
async def test_connections_over_the_cap_are_closed_at_once_and_counted() -> None:
    async with raw.stack_with(max_connections=3) as stack, contextlib.AsyncExitStack() as held:
        kept = [await held.enter_async_context(raw.connection(stack)) for _ in range(3)]
        for reader, writer in kept:  # each served once, so each is open on the server's side
            writer.write(raw.head("GET", "/healthz"))
            assert (await raw.response(reader))[0] == 200
        for _ in range(2):
            async with raw.connection(stack) as (reader, writer):
                writer.write(raw.head("GET", "/healthz"))
                assert await raw.closed(reader)
        reader, writer = kept[0]
        writer.write(raw.head("GET", "/metrics"))
        status, _, body = await raw.response(reader)
        assert status == 200
        assert "router_connections_refused_total 2.0" in body.decode()


@pytest.mark.asyncio
async def test_bad_admin_tokens_are_throttled_per_address() -> None:
    async with raw.stack_with(admin_failures_per_minute=3) as stack:
        url = f"{stack.url}/admin/endpoints"
        wrong = {"Authorization": "Bearer guess"}
        for _ in range(3):
            async with stack.http.get(url, headers=wrong) as response:
                assert response.status == 401
        for headers in (wrong, ADMIN_HEADERS):  # once throttled, not even the token is checked
            async with stack.http.get(url, headers=headers) as response:
                assert response.status == 429
                assert 1 <= int(response.headers["Retry-After"]) <= 60
                assert (await response.json())["error"]["code"] == "rate_limit_exceeded"


def test_fd_soft_limit_is_raised_to_the_hard_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    before, after = raise_fd_limit()
    assert after >= before
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft == after
    if hard != resource.RLIM_INFINITY:
        assert soft == hard


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz\r\n\r\n",  # HTTP/0.9: no headers, no key, no length
        b"POST /v1/chat/completions HTTP/1.0\r\nAuthorization: Bearer "
        + API_KEY.encode()
        + b"\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
    ids=["http-0.9", "te-on-http-1.0"],
)
async def test_old_framing_that_proxies_read_differently_is_refused(request_bytes: bytes) -> None:
    async with raw.stack_with() as stack, raw.connection(stack) as (reader, writer):
        writer.write(request_bytes)
        answer = await asyncio.wait_for(reader.read(), raw.WAIT_S)
    assert answer.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request"), answer[:200]
    assert b"invalid_request_error" in answer
