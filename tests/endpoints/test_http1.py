"""The lean HTTP/1.1 client against scripted upstreams (`scripted_upstream.py`).

Each upstream is a raw TCP server on a loopback port whose script reads the request bytes and
writes exactly the response bytes a test chooses, so framing, keep-alive and broken connections are
under the test's control. Where a test needs one piece of a stream to arrive before the next, the
server waits for the client to signal it got the first piece (lockstep), not for a clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator

import pytest

from router.endpoints.http1 import Http1Pool, Http1Response
from router.endpoints.upstream_client import ConnectFailed, ConnectionBroken, ReadTimeout
from tests.endpoints.scripted_upstream import (
    CHUNKED_HEAD,
    LAST_CHUNK,
    Peer,
    Script,
    ScriptedUpstream,
    answer_every_request,
    chunk,
    echo_body,
    http_response,
)

# Generous, so that only the tests about timeouts ever wait for one.
READ_TIMEOUT_S = 2.0
TOTAL_TIMEOUT_S = 4.0
CONNECT_TIMEOUT_S = 2.0
HANG_GUARD_S = 5.0


@contextlib.asynccontextmanager
async def upstream_and_pool(
    script: Script, path_prefix: str = ""
) -> AsyncIterator[tuple[ScriptedUpstream, Http1Pool]]:
    upstream = ScriptedUpstream(script)
    await upstream.start()
    pool = Http1Pool(
        upstream.url + path_prefix,
        connect_timeout_s=CONNECT_TIMEOUT_S,
        headers={"Content-Type": "application/json"},
    )
    try:
        yield upstream, pool
    finally:
        await pool.close()
        await upstream.stop()


async def get(
    pool: Http1Pool,
    body: bytes = b"",
    read_timeout_s: float = READ_TIMEOUT_S,
    total_timeout_s: float = TOTAL_TIMEOUT_S,
) -> Http1Response:
    return await pool.exchange(
        "POST", "/echo", None, body, read_timeout_s=read_timeout_s, total_timeout_s=total_timeout_s
    )


async def fetch(pool: Http1Pool, body: bytes = b"") -> tuple[int, bytes]:
    """One whole exchange: status and body, with the connection given back."""
    response = await get(pool, body)
    try:
        return response.status, await response.read()
    finally:
        response.finish()


# -- keep-alive and the request on the wire ------------------------------------------------------


@pytest.mark.asyncio
async def test_sequential_requests_reuse_one_connection() -> None:
    async with upstream_and_pool(answer_every_request(echo_body)) as (upstream, pool):
        for n in range(3):
            assert await fetch(pool, b"request %d" % n) == (200, b"request %d" % n)

        assert upstream.connections == 1
        assert len(upstream.requests) == 3


@pytest.mark.asyncio
async def test_request_on_the_wire_is_well_formed_with_prefix_host_length_and_extra_headers() -> (
    None
):
    script = answer_every_request(lambda request: http_response(b"{}"))
    async with upstream_and_pool(script, path_prefix="/v1/") as (upstream, pool):
        body = b'{"model": "m", "messages": []}'
        response = await pool.exchange(
            "POST",
            "/chat/completions",
            {"X-Request-Id": "req-7", "Traceparent": "00-abc-def-01"},
            body,
            read_timeout_s=READ_TIMEOUT_S,
            total_timeout_s=TOTAL_TIMEOUT_S,
        )
        await response.read()
        response.finish()

        [request] = upstream.requests
        assert request.request_line == "POST /v1/chat/completions HTTP/1.1"
        assert request.headers["host"] == f"127.0.0.1:{upstream.port}"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["content-length"] == str(len(body))
        assert request.headers["x-request-id"] == "req-7"
        assert request.headers["traceparent"] == "00-abc-def-01"
        assert request.body == body


def test_host_header_omits_the_default_port() -> None:
    assert Http1Pool("http://upstream.test/v1", 1.0).host_header == "upstream.test"
    assert Http1Pool("https://upstream.test:443", 1.0).host_header == "upstream.test"
    assert Http1Pool("https://upstream.test:8443", 1.0).host_header == "upstream.test:8443"


# -- body framing -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_content_length_body_is_read_whole_with_lower_cased_headers() -> None:
    body = b'{"id": "cmpl-1", "choices": []}'
    script = answer_every_request(
        lambda request: http_response(body, headers=[("Content-Type", "application/json")])
    )
    async with upstream_and_pool(script) as (_, pool):
        response = await get(pool)
        try:
            assert response.status == 200
            assert response.headers["content-type"] == "application/json"
            assert response.headers["content-length"] == str(len(body))
            assert await response.read() == body
        finally:
            response.finish()


@pytest.mark.asyncio
async def test_chunked_body_is_streamed_as_pieces_that_join_to_the_whole_body() -> None:
    events = [b"data: 1\n\n", b"data: 2\n\n", b"data: 3\n\n", b"data: [DONE]\n\n"]
    client_got_first = asyncio.Event()

    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.write(CHUNKED_HEAD + chunk(events[0]))
        await client_got_first.wait()
        for event in events[1:]:
            await peer.write(chunk(event))
            await asyncio.sleep(0.01)
        await peer.write(LAST_CHUNK)
        await peer.read_request()

    async with upstream_and_pool(script) as (_, pool):
        response = await get(pool)
        try:
            assert response.headers["transfer-encoding"] == "chunked"
            async with contextlib.aclosing(response.chunks()) as pieces:
                # The first event arrives while the upstream is still holding the rest back.
                first = await anext(pieces)
                client_got_first.set()
                rest = [piece async for piece in pieces]
        finally:
            response.finish()

    assert first == events[0]
    assert first + b"".join(rest) == b"".join(events)


@pytest.mark.asyncio
async def test_chunked_framing_split_mid_line_across_writes_is_reassembled() -> None:
    events = [b"data: %d %s\n\n" % (n, b"x" * n) for n in range(8)]
    encoded = b"".join(chunk(event) for event in events) + LAST_CHUNK

    async def script(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await peer.write(CHUNKED_HEAD)
            await peer.write_in_pieces(encoded, piece_size=7)

    async with upstream_and_pool(script) as (upstream, pool):
        assert await fetch(pool) == (200, b"".join(events))
        assert await fetch(pool) == (200, b"".join(events))
        assert upstream.connections == 1


@pytest.mark.asyncio
async def test_body_without_length_or_chunking_is_read_until_the_upstream_closes() -> None:
    parts = [b"first part, ", b"second part, ", b"last part"]

    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        for part in parts:
            await peer.write(part)
            await asyncio.sleep(0.01)
        peer.close()

    async with upstream_and_pool(script) as (upstream, pool):
        assert await fetch(pool) == (200, b"".join(parts))
        assert await fetch(pool) == (200, b"".join(parts))
        assert upstream.connections == 2


@pytest.mark.asyncio
async def test_204_without_a_body_is_parsed_and_the_connection_reused() -> None:
    script = answer_every_request(lambda request: b"HTTP/1.1 204 No Content\r\n\r\n")
    async with upstream_and_pool(script) as (upstream, pool):
        assert await fetch(pool) == (204, b"")
        assert await fetch(pool) == (204, b"")
        assert upstream.connections == 1


@pytest.mark.asyncio
async def test_empty_content_length_body_reads_as_empty() -> None:
    script = answer_every_request(lambda request: http_response(b""))
    async with upstream_and_pool(script) as (upstream, pool):
        assert await fetch(pool) == (200, b"")
        assert await fetch(pool) == (200, b"")
        assert upstream.connections == 1


@pytest.mark.asyncio
async def test_error_status_with_json_body_is_parsed_and_the_connection_reused() -> None:
    error = {"error": {"message": "overloaded", "type": "server_error"}}
    script = answer_every_request(
        lambda request: http_response(
            json.dumps(error).encode(),
            status="503 Service Unavailable",
            headers=[("Content-Type", "application/json"), ("Retry-After", "7")],
        )
    )
    async with upstream_and_pool(script) as (upstream, pool):
        response = await get(pool)
        try:
            assert response.status == 503
            assert response.headers["retry-after"] == "7"
            assert json.loads(await response.read()) == error
        finally:
            response.finish()
        assert (await fetch(pool))[0] == 503
        assert upstream.connections == 1


INTERIM_RESPONSES = [
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 103 Early Hints\r\nLink: </hint>; rel=preload\r\n\r\n",
]


@pytest.mark.asyncio
@pytest.mark.parametrize("separate_writes", [False, True], ids=["one-write", "separate-writes"])
async def test_interim_1xx_responses_are_skipped_for_the_final_response(
    separate_writes: bool,
) -> None:
    """RFC 9110 §15.2: a client must parse 1xx responses before the final one, asked for or not."""

    async def script(peer: Peer) -> None:
        while (request := await peer.read_request()) is not None:
            final = http_response(b"final " + request.body, headers=[("X-A", "1")])
            if not separate_writes:
                await peer.write(b"".join(INTERIM_RESPONSES) + final)
                continue
            for interim in INTERIM_RESPONSES:
                await peer.write(interim)
                await asyncio.sleep(0.01)
            await peer.write(final)

    async with upstream_and_pool(script) as (upstream, pool):
        response = await get(pool, b"one")
        try:
            assert response.status == 200
            assert response.headers["x-a"] == "1"
            assert "link" not in response.headers
            assert await response.read() == b"final one"
        finally:
            response.finish()
        assert await fetch(pool, b"two") == (200, b"final two")
        assert upstream.connections == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_large_body_read_slowly_arrives_complete_and_the_connection_stays_usable(
    chunked: bool,
) -> None:
    piece_size = 64 * 1024
    pieces = [bytes([n]) * piece_size for n in range(64)]  # 4 MiB, each piece distinct
    body = b"".join(pieces)

    async def script(peer: Peer) -> None:
        while await peer.read_request() is not None:
            if chunked:
                await peer.write(CHUNKED_HEAD)
                for piece in pieces:
                    await peer.write(chunk(piece))
                await peer.write(LAST_CHUNK)
            else:
                await peer.write(http_response(body))

    async with upstream_and_pool(script) as (upstream, pool):
        response = await get(pool)
        received = []
        try:
            async for piece in response.chunks():
                received.append(piece)
                await asyncio.sleep(0.001)  # a slow consumer: the upstream must wait for it
        finally:
            response.finish()

        assert len(b"".join(received)) == len(body)
        assert b"".join(received) == body
        assert await fetch(pool, b"after") == (200, body)
        assert upstream.connections == 1


# -- connections that go away -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_idle_connection_closed_by_the_upstream_is_replaced_on_the_next_request() -> None:
    async def script(peer: Peer) -> None:
        request = await peer.read_request()
        assert request is not None
        await peer.write(echo_body(request))
        peer.close()  # an upstream's idle timeout, with no `Connection: close` announced

    async with upstream_and_pool(script) as (upstream, pool):
        assert await fetch(pool, b"one") == (200, b"one")
        for _ in range(500):  # an idle timeout comes later than the answer: wait to see it
            if pool.idle_connections == 0:
                break
            await asyncio.sleep(0.01)
        assert await fetch(pool, b"two") == (200, b"two")
        assert upstream.connections == 2


@pytest.mark.asyncio
async def test_a_request_broken_on_a_reused_connection_is_never_sent_again() -> None:
    """The endpoint may have received it and started generating (and billing): the caller's
    fail-over decides, in the open, never a silent second send to the same endpoint."""

    async def script(peer: Peer) -> None:
        if peer.number == 1:
            first = await peer.read_request()
            assert first is not None
            await peer.write(echo_body(first))
            await peer.read_request()
            peer.close()  # read the request, then went away without a byte of answer
            return
        await answer_every_request(echo_body)(peer)

    async with upstream_and_pool(script) as (upstream, pool):
        assert await fetch(pool, b"one") == (200, b"one")
        with pytest.raises(ConnectionBroken) as raised:
            await get(pool, b"two")

        assert raised.value.before_response
        assert [request.body for request in upstream.requests] == [b"one", b"two"]
        assert upstream.connections == 1
        assert await fetch(pool, b"three") == (200, b"three")  # the next one opens a new one


@pytest.mark.asyncio
async def test_an_idle_connection_past_its_expiry_is_closed_not_reused() -> None:
    upstream = ScriptedUpstream(answer_every_request(echo_body))
    await upstream.start()
    pool = Http1Pool(upstream.url, connect_timeout_s=CONNECT_TIMEOUT_S, idle_expiry_s=0.0)
    try:
        assert await fetch(pool, b"one") == (200, b"one")
        assert await fetch(pool, b"two") == (200, b"two")
        assert upstream.connections == 2
    finally:
        await pool.close()
        await upstream.stop()


@pytest.mark.asyncio
async def test_fresh_connection_closed_without_an_answer_raises_broken_before_response() -> None:
    async def script(peer: Peer) -> None:
        await peer.read_request()
        peer.close()

    async with upstream_and_pool(script) as (upstream, pool):
        with pytest.raises(ConnectionBroken) as raised:
            await get(pool, b"lost")

        assert raised.value.before_response
        assert upstream.connections == 1
        assert len(upstream.requests) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "response_start",
    [
        http_response(b"x" * 100)[:-90],  # Content-Length: 100, then 10 bytes
        CHUNKED_HEAD + chunk(b"x" * 10) + b"5a\r\nxxx",  # a chunk cut inside its data
    ],
    ids=["content-length", "chunked"],
)
async def test_body_cut_short_raises_broken_after_the_response_started(
    response_start: bytes,
) -> None:
    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.write(response_start)
        peer.close()

    async with upstream_and_pool(script) as (_, pool):
        response = await get(pool)
        received = []
        try:
            assert response.status == 200
            with pytest.raises(ConnectionBroken) as raised:
                async for piece in response.chunks():
                    received.append(piece)
        finally:
            response.finish()

        assert not raised.value.before_response
        assert b"".join(received).startswith(b"x" * 10)


@pytest.mark.asyncio
async def test_body_cut_short_raises_broken_from_read_too() -> None:
    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.write(http_response(b"x" * 100)[:-90])
        peer.close()

    async with upstream_and_pool(script) as (_, pool):
        response = await get(pool)
        try:
            with pytest.raises(ConnectionBroken) as raised:
                await response.read()
        finally:
            response.finish()
        assert not raised.value.before_response


@pytest.mark.asyncio
async def test_garbage_instead_of_a_response_raises_connection_broken() -> None:
    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await peer.read_request()

    async with upstream_and_pool(script) as (upstream, pool):
        with pytest.raises(ConnectionBroken) as raised:
            await get(pool)

        assert not raised.value.before_response  # bytes came back: the request may have run
        assert upstream.connections == 1


@pytest.mark.asyncio
async def test_garbage_on_a_reused_connection_is_not_replayed() -> None:
    async def script(peer: Peer) -> None:
        first = await peer.read_request()
        assert first is not None
        await peer.write(echo_body(first))
        await peer.read_request()
        await peer.write(b"\x00\x01 not http at all\r\n\r\n")
        await peer.read_request()

    async with upstream_and_pool(script) as (upstream, pool):
        assert await fetch(pool, b"one") == (200, b"one")
        with pytest.raises(ConnectionBroken):
            await get(pool, b"two")

        assert upstream.connections == 1
        assert len(upstream.requests) == 2


@pytest.mark.asyncio
async def test_closing_the_pool_breaks_a_response_being_read() -> None:
    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.write(CHUNKED_HEAD + chunk(b"partial"))
        await peer.read_request()

    async with upstream_and_pool(script) as (_, pool):
        response = await get(pool)
        await pool.close()
        with pytest.raises(ConnectionBroken):
            await response.read()
        response.finish()


# -- timeouts ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_upstream_that_never_answers_raises_read_timeout() -> None:
    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.read_request()  # holds the connection open, never answering

    async with upstream_and_pool(script) as (_, pool):
        with pytest.raises(ReadTimeout):
            await get(pool, read_timeout_s=0.2)


@pytest.mark.asyncio
async def test_total_deadline_bounds_a_body_that_trickles_forever() -> None:
    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.write(CHUNKED_HEAD)
        while True:  # each piece comes well within the read timeout
            await peer.write(chunk(b"tick "))
            await asyncio.sleep(0.1)

    async with upstream_and_pool(script) as (_, pool):
        response = await get(pool, read_timeout_s=1.0, total_timeout_s=0.5)
        received = []
        try:
            # The guard turns a deadline that is not enforced into a failure instead of a hang.
            with pytest.raises(ReadTimeout):
                async with asyncio.timeout(HANG_GUARD_S):
                    async for piece in response.chunks():
                        received.append(piece)
        finally:
            response.finish()

        assert set(b"".join(received).split()) <= {b"tick"}


@pytest.mark.asyncio
async def test_timed_out_response_is_not_returned_to_the_pool() -> None:
    async def script(peer: Peer) -> None:
        if peer.number == 1:
            await peer.read_request()
            await peer.write(CHUNKED_HEAD + chunk(b"stalled"))
            await peer.read_request()
            return
        await answer_every_request(echo_body)(peer)

    async with upstream_and_pool(script) as (upstream, pool):
        response = await get(pool, read_timeout_s=0.2)
        try:
            with pytest.raises(ReadTimeout):
                await response.read()
        finally:
            response.finish()

        assert await fetch(pool, b"next") == (200, b"next")
        assert upstream.connections == 2


# -- what goes back to the pool ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_response_not_read_to_the_end_is_not_returned_to_the_pool() -> None:
    upstream_saw_close = asyncio.Event()

    async def script(peer: Peer) -> None:
        if peer.number == 1:
            await peer.read_request()
            await peer.write(CHUNKED_HEAD + chunk(b"first"))
            # The client leaves mid-stream; the upstream must see the connection end.
            assert await peer.read_request() is None
            upstream_saw_close.set()
            return
        await answer_every_request(echo_body)(peer)

    async with upstream_and_pool(script) as (upstream, pool):
        response = await get(pool)
        async with contextlib.aclosing(response.chunks()) as pieces:
            assert await anext(pieces) == b"first"
        response.finish()

        await asyncio.wait_for(upstream_saw_close.wait(), READ_TIMEOUT_S)
        assert await fetch(pool, b"next") == (200, b"next")
        assert upstream.connections == 2


@pytest.mark.asyncio
async def test_response_not_read_at_all_is_not_returned_to_the_pool() -> None:
    script = answer_every_request(lambda request: http_response(b"unread body"))
    async with upstream_and_pool(script) as (upstream, pool):
        response = await get(pool)
        response.finish()

        assert await fetch(pool) == (200, b"unread body")
        assert upstream.connections == 2


@pytest.mark.asyncio
async def test_connection_close_from_the_upstream_is_honoured_even_if_the_socket_stays_open() -> (
    None
):
    script = answer_every_request(
        lambda request: http_response(request.body, headers=[("Connection", "close")])
    )
    async with upstream_and_pool(script) as (upstream, pool):
        assert await fetch(pool, b"one") == (200, b"one")
        assert await fetch(pool, b"two") == (200, b"two")
        assert upstream.connections == 2


# -- connecting ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_connecting_to_a_port_nobody_listens_on_raises_connect_failed() -> None:
    # Bound but not listening: the port stays ours, and connecting to it is refused.
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        pool = Http1Pool(f"http://127.0.0.1:{port}", connect_timeout_s=CONNECT_TIMEOUT_S)
        try:
            with pytest.raises(ConnectFailed):
                await get(pool)
        finally:
            await pool.close()


@pytest.mark.asyncio
async def test_a_body_already_received_is_read_even_after_the_deadline() -> None:
    async with upstream_and_pool(answer_every_request(echo_body)) as (_, pool):
        response = await get(pool, body=b"all of it arrived", total_timeout_s=0.2)
        await asyncio.sleep(0.3)  # the deadline passes while the body sits in the buffer
        try:
            assert await response.read() == b"all of it arrived"
        finally:
            response.finish()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "headers",
    [
        [(f"x-h{i}", "v") for i in range(101)],  # more than 100 headers
        [("x-big", "v" * (61 * 1024))],  # more than 60 KiB
    ],
    ids=["count", "bytes"],
)
async def test_a_response_head_over_the_limits_is_refused_as_malformed(
    headers: list[tuple[str, str]],
) -> None:
    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.write(http_response(b"ok", headers=headers))

    async with upstream_and_pool(script) as (_, pool):
        with pytest.raises(ConnectionBroken) as raised:
            await get(pool)
        assert not raised.value.before_response


def test_a_header_value_with_a_line_break_is_never_written() -> None:
    pool = Http1Pool("http://upstream.test/v1", 1.0, headers={"Authorization": "sk-1\r\nX-Evil: 1"})
    with pytest.raises(ValueError, match="line break"):
        pool.request_head("POST", "/chat")
    pool = Http1Pool("http://upstream.test/v1", 1.0, headers={"Authorization": "Bearer sk-1"})
    assert pool.request_head("POST", "/chat").endswith(b"Authorization: Bearer sk-1\r\n")
