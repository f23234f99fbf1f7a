"""The forwarding contract: the same behaviours, through `Transport`, on both upstream clients.

Every test runs once with the lean client (`http1.py`) and once with the reference one on aiohttp
(`aiohttp_client.py`), against a scripted loopback upstream (`scripted_upstream.py`). Most go
through `Transport`, which maps the clients' exceptions to the router's errors; the few about
`ConnectionBroken.before_response` or idle expiry call the client itself, since the transport
maps that detail away. Where one piece of a stream must arrive before the next, the upstream
waits for the test to signal it got it (lockstep), not for a clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from router.config.loader import Secrets
from router.config.model import NodeConfig
from router.endpoints.aiohttp_client import AiohttpClient
from router.endpoints.http1 import Http1Pool
from router.endpoints.registry import Endpoint
from router.endpoints.transport import Transport
from router.endpoints.upstream_client import ConnectionBroken, UpstreamClient
from router.errors import (
    UpstreamConnectError,
    UpstreamRejected,
    UpstreamStatusError,
    UpstreamTimeout,
)
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
from tests.fake_clock import FakeClock

CLIENTS = {"lean": Http1Pool, "aiohttp": AiohttpClient}
PATH = "/chat/completions"
KEY = "sk-east-1"
# Generous, so that only the tests about timeouts ever wait for one.
REMAINING_S = 10.0
HANG_GUARD_S = 5.0


@pytest.fixture(params=["lean", "aiohttp"])
def client_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Forwarding:
    """A `Transport` to one endpoint (`east`, at a scripted upstream's `/v1`)."""

    def __init__(
        self, upstream: ScriptedUpstream, transport: Transport, endpoint: Endpoint
    ) -> None:
        self.upstream = upstream
        self.transport = transport
        self.endpoint = endpoint

    async def post(
        self,
        body: bytes = b"{}",
        extra_headers: dict[str, str] | None = None,
        first_byte_timeout_s: float | None = None,
    ) -> bytes:
        """One forwarded request: its whole body, with the connection given back."""
        async with self.transport.post(
            self.endpoint, PATH, body, REMAINING_S, extra_headers, first_byte_timeout_s
        ) as response:
            return await Transport.read_body(response, "east")


def _config(url: str, client_kind: str, routing: dict[str, Any]) -> NodeConfig:
    return NodeConfig.model_validate(
        {
            "auth": {"api_keys": ["sk-test"]},
            "routing": {"upstream_client": client_kind, **routing},
            "endpoints": [
                {
                    "name": "east",
                    "base_url": f"{url}/v1",
                    "region": "us-east",
                    "models": [{"name": "m"}],
                }
            ],
        }
    )


@contextlib.asynccontextmanager
async def forwarding(
    script: Script,
    client_kind: str,
    url: str | None = None,
    host: str = "127.0.0.1",
    **routing: Any,
) -> AsyncIterator[Forwarding]:
    """The endpoint is at `url` when given, else at the upstream's port on `host`."""
    upstream = ScriptedUpstream(script)
    await upstream.start()
    config = _config(url or f"http://{host}:{upstream.port}", client_kind, routing)
    endpoint = Endpoint(config.endpoints[0], config, FakeClock())
    transport = Transport({"east": endpoint}, Secrets(endpoint_keys={"east": KEY}), config.routing)
    await transport.start()
    try:
        yield Forwarding(upstream, transport, endpoint)
    finally:
        await transport.close()
        await upstream.stop()


@contextlib.asynccontextmanager
async def client_to(
    script: Script, client_kind: str, idle_expiry_s: float = 30.0
) -> AsyncIterator[tuple[ScriptedUpstream, UpstreamClient]]:
    upstream = ScriptedUpstream(script)
    await upstream.start()
    client = CLIENTS[client_kind](upstream.url, 2.0, idle_expiry_s, headers={"X-Key": KEY})
    try:
        yield upstream, client
    finally:
        await client.close()
        await upstream.stop()


async def exchange(client: UpstreamClient, body: bytes = b"{}") -> bytes:
    response = await client.exchange("POST", PATH, None, body, 2.0, 4.0)
    try:
        return await response.read()
    finally:
        response.finish()


def _closed_port() -> socket.socket:
    """Bound but not listening: the port stays ours, and connecting to it is refused."""
    bound = socket.socket()
    bound.bind(("127.0.0.1", 0))
    return bound


# -- answers ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_json_answer_is_forwarded_with_the_endpoints_key_and_read_whole(
    client_kind: str,
) -> None:
    answer = b'{"id": "cmpl-1", "choices": []}'
    script = answer_every_request(
        lambda request: http_response(answer, headers=[("Content-Type", "application/json")])
    )
    async with forwarding(script, client_kind) as f:
        async with f.transport.post(
            f.endpoint, PATH, b'{"model": "m"}', REMAINING_S, {"X-Request-Id": "req-7"}
        ) as response:
            assert response.status == 200
            assert response.headers["content-type"] == "application/json"
            assert await Transport.read_body(response, "east") == answer

        [request] = f.upstream.requests
        assert request.request_line == "POST /v1/chat/completions HTTP/1.1"
        assert request.headers["host"] == f"127.0.0.1:{f.upstream.port}"
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["accept-encoding"] == "identity"
        assert request.headers["x-request-id"] == "req-7"
        assert request.headers["content-length"] == str(len(b'{"model": "m"}'))
        assert request.body == b'{"model": "m"}'


@pytest.mark.asyncio
async def test_streamed_answer_arrives_in_pieces_that_join_to_the_whole(client_kind: str) -> None:
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

    async with (
        forwarding(script, client_kind) as f,
        f.transport.post(f.endpoint, PATH, b"{}", REMAINING_S) as response,
    ):
        assert response.headers["content-type"] == "text/event-stream"
        chunks = f.transport.chunks(response, "east")
        async with contextlib.aclosing(chunks):
            # The first event arrives while the upstream is still holding the rest back.
            first = await anext(chunks)
            client_got_first.set()
            rest = [piece async for piece in chunks]

    assert first == events[0]
    assert first + b"".join(rest) == b"".join(events)


@pytest.mark.asyncio
async def test_a_compressed_answer_is_passed_on_as_the_endpoint_sent_it(client_kind: str) -> None:
    compressed = gzip.compress(b'{"id": "cmpl-1"}')
    script = answer_every_request(
        lambda request: http_response(compressed, headers=[("Content-Encoding", "gzip")])
    )
    async with forwarding(script, client_kind) as f:
        assert await f.post() == compressed


@pytest.mark.asyncio
async def test_a_redirect_is_not_followed(client_kind: str) -> None:
    redirect = http_response(status="307 Temporary Redirect", headers=[("Location", "/elsewhere")])
    async with forwarding(answer_every_request(lambda request: redirect), client_kind) as f:
        with pytest.raises(UpstreamRejected) as raised:
            await f.post()

        assert raised.value.upstream_status == 307
        assert [r.request_line for r in f.upstream.requests] == [
            "POST /v1/chat/completions HTTP/1.1"
        ]


@pytest.mark.asyncio
async def test_cookies_set_by_the_endpoint_are_not_sent_back(client_kind: str) -> None:
    script = answer_every_request(
        lambda request: http_response(b"{}", headers=[("Set-Cookie", "session=abc; Path=/")])
    )
    # A host name, not an IP address: aiohttp's cookie jar keeps cookies only for host names.
    async with forwarding(script, client_kind, host="localhost") as f:
        for _ in range(2):
            assert await f.post() == b"{}"

        assert len(f.upstream.requests) == 2
        assert all("cookie" not in r.headers for r in f.upstream.requests)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        ("503 Service Unavailable", True),
        ("429 Too Many Requests", True),
        ("400 Bad Request", False),
    ],
    ids=["503", "429", "400"],
)
async def test_an_error_status_is_mapped_and_the_connection_kept(
    client_kind: str, status: str, retryable: bool
) -> None:
    error = b'{"error": {"message": "no", "type": "invalid_request_error"}}'
    script = answer_every_request(
        lambda request: http_response(error, status=status, headers=[("Retry-After", "7")])
    )
    async with forwarding(script, client_kind) as f:
        for _ in range(2):
            with pytest.raises((UpstreamStatusError, UpstreamRejected)) as raised:
                await f.post()
            assert raised.value.retryable is retryable
            assert raised.value.upstream_status == int(status[:3])

        if retryable:
            assert isinstance(raised.value, UpstreamStatusError)
            assert raised.value.retry_after == "7"
        else:
            assert isinstance(raised.value, UpstreamRejected)
            assert raised.value.body == error  # the client needs the upstream's own message
        assert f.upstream.connections == 1


# -- failures before the answer ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_connecting_to_a_port_nobody_listens_on_is_a_connect_error(client_kind: str) -> None:
    with _closed_port() as bound:
        url = f"http://127.0.0.1:{bound.getsockname()[1]}"
        async with forwarding(answer_every_request(echo_body), client_kind, url=url) as f:
            with pytest.raises(UpstreamConnectError, match="could not connect"):
                await f.post()
            assert f.upstream.connections == 0


@pytest.mark.asyncio
async def test_an_upstream_that_never_answers_times_out_at_the_first_byte_timeout(
    client_kind: str,
) -> None:
    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.read_request()  # holds the connection open, never answering

    async with forwarding(script, client_kind) as f:
        with pytest.raises(UpstreamTimeout):
            async with asyncio.timeout(HANG_GUARD_S):
                await f.post(first_byte_timeout_s=0.2)


@pytest.mark.asyncio
async def test_the_requests_deadline_bounds_a_body_that_trickles_forever(client_kind: str) -> None:
    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.write(CHUNKED_HEAD)
        while True:  # each piece comes well within the read and idle timeouts
            await peer.write(chunk(b"tick "))
            await asyncio.sleep(0.05)

    async with forwarding(script, client_kind) as f:
        received = []
        with pytest.raises(UpstreamTimeout):
            async with asyncio.timeout(HANG_GUARD_S):
                async with f.transport.post(f.endpoint, PATH, b"{}", 0.5) as response:
                    async for piece in f.transport.chunks(response, "east"):
                        received.append(piece)

        assert set(b"".join(received).split()) == {b"tick"}


@pytest.mark.asyncio
async def test_a_request_broken_on_a_reused_connection_before_the_answer_is_never_sent_again(
    client_kind: str,
) -> None:
    async def script(peer: Peer) -> None:
        if peer.number == 1:
            first = await peer.read_request()
            assert first is not None
            await peer.write(echo_body(first))
            await peer.read_request()
            peer.close()  # read the request, then went away without a byte of answer
            return
        await answer_every_request(echo_body)(peer)

    async with forwarding(script, client_kind) as f:
        assert await f.post(b"one") == b"one"
        with pytest.raises(UpstreamConnectError, match="broke the connection"):
            await f.post(b"two")

        assert [request.body for request in f.upstream.requests] == [b"one", b"two"]
        assert f.upstream.connections == 1
        assert await f.post(b"three") == b"three"  # the next one opens a new connection


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("sent", "before_response"),
    [(b"", True), (b"HTTP/1.1 200 OK\r\nContent-Ty", False)],
    ids=["nothing", "part-of-a-head"],
)
async def test_a_connection_closed_before_the_answer_says_whether_any_of_it_came(
    client_kind: str, sent: bytes, before_response: bool
) -> None:
    async def script(peer: Peer) -> None:
        await peer.read_request()
        if sent:
            await peer.write(sent)
        peer.close()

    async with client_to(script, client_kind) as (upstream, client):
        with pytest.raises(ConnectionBroken) as raised:
            await exchange(client, b"lost")

        assert raised.value.before_response is before_response
        assert [request.body for request in upstream.requests] == [b"lost"]
        assert upstream.connections == 1


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "headers",
    [
        [(f"x-h{i}", "v") for i in range(101)],  # more than 100 headers
        [("x-big", "v" * (61 * 1024))],  # one header over 60 KiB
        [(f"x-h{i}", "v" * 4096) for i in range(20)],  # 80 KiB in all, each header small
    ],
    ids=["count", "one-header-bytes", "all-headers-bytes"],
)
async def test_a_response_head_over_the_limits_is_refused(
    client_kind: str, headers: list[tuple[str, str]]
) -> None:
    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.write(http_response(b"ok", headers=headers))
        await peer.read_request()

    async with forwarding(script, client_kind) as f:
        with pytest.raises(UpstreamConnectError, match="broke the connection"):
            await f.post()


@pytest.mark.asyncio
async def test_a_key_holding_a_line_break_is_refused_before_anything_is_sent(
    client_kind: str,
) -> None:
    upstream = ScriptedUpstream(answer_every_request(echo_body))
    await upstream.start()
    client = CLIENTS[client_kind](upstream.url, 2.0, headers={"Authorization": "k\r\nX-Evil: 1"})
    try:
        with pytest.raises(ValueError, match="line break"):
            await exchange(client)
    finally:
        await client.close()
        await upstream.stop()
    assert upstream.connections == 0


@pytest.mark.asyncio
async def test_an_extra_header_holding_a_line_break_is_never_written(client_kind: str) -> None:
    async with forwarding(answer_every_request(echo_body), client_kind) as f:
        with pytest.raises(ValueError):
            await f.post(extra_headers={"X-Request-Id": "r\r\nX-Evil: 1"})
        assert f.upstream.requests == []
        assert await f.post(b"after") == b"after"


# -- failures during the answer ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_stream_that_stalls_after_it_started_is_cut_at_the_idle_timeout(
    client_kind: str,
) -> None:
    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.write(CHUNKED_HEAD + chunk(b"data: 1\n\n"))
        await peer.read_request()  # then nothing, the connection held open

    # Only the idle timeout can end it before the guard: the first-byte one and the deadline
    # are far longer.
    async with forwarding(script, client_kind, stream_idle_timeout_s=0.3) as f:
        received = []
        with pytest.raises(UpstreamTimeout):
            async with asyncio.timeout(HANG_GUARD_S):
                async with f.transport.post(
                    f.endpoint, PATH, b"{}", 60.0, first_byte_timeout_s=30.0
                ) as response:
                    async for piece in f.transport.chunks(response, "east"):
                        received.append(piece)

        assert received == [b"data: 1\n\n"]


@pytest.mark.asyncio
async def test_a_gap_longer_than_the_first_byte_timeout_but_within_the_idle_one_is_waited_for(
    client_kind: str,
) -> None:
    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.write(CHUNKED_HEAD + chunk(b"data: 1\n\n"))
        await asyncio.sleep(0.6)  # twice the first-byte timeout, a tenth of the idle one
        await peer.write(chunk(b"data: 2\n\n") + LAST_CHUNK)
        await peer.read_request()

    async with (
        forwarding(script, client_kind, stream_idle_timeout_s=HANG_GUARD_S) as f,
        f.transport.post(
            f.endpoint, PATH, b"{}", REMAINING_S, first_byte_timeout_s=0.3
        ) as response,
    ):
        received = [piece async for piece in f.transport.chunks(response, "east")]

    assert b"".join(received) == b"data: 1\n\ndata: 2\n\n"


@pytest.mark.asyncio
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_connection_closed_mid_body_is_broken_after_the_response_started(
    client_kind: str, chunked: bool
) -> None:
    client_got_first = asyncio.Event()

    async def script(peer: Peer) -> None:
        await peer.read_request()
        if chunked:
            await peer.write(CHUNKED_HEAD + chunk(b"x" * 10))
        else:
            await peer.write(http_response(b"x" * 100)[:-90])  # Content-Length: 100, 10 sent
        await client_got_first.wait()
        peer.close()

    async with client_to(script, client_kind) as (_, client):
        response = await client.exchange("POST", PATH, None, b"{}", 2.0, 4.0)
        received = []
        try:
            assert response.status == 200
            with pytest.raises(ConnectionBroken) as raised:
                async for piece in response.chunks():
                    received.append(piece)
                    client_got_first.set()
        finally:
            response.finish()

    assert not raised.value.before_response
    assert b"".join(received) == b"x" * 10


@pytest.mark.asyncio
async def test_a_connection_closed_mid_stream_is_a_connect_error_through_the_transport(
    client_kind: str,
) -> None:
    client_got_first = asyncio.Event()

    async def script(peer: Peer) -> None:
        await peer.read_request()
        await peer.write(CHUNKED_HEAD + chunk(b"data: 1\n\n"))
        await client_got_first.wait()
        peer.close()

    async with forwarding(script, client_kind) as f:
        received = []
        with pytest.raises(UpstreamConnectError, match="broke the connection"):
            async with f.transport.post(f.endpoint, PATH, b"{}", REMAINING_S) as response:
                async for piece in f.transport.chunks(response, "east"):
                    received.append(piece)
                    client_got_first.set()

        assert received == [b"data: 1\n\n"]


# -- what goes back to the pool ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sequential_requests_reuse_one_connection(client_kind: str) -> None:
    async with forwarding(answer_every_request(echo_body), client_kind) as f:
        for n in range(3):
            assert await f.post(b"request %d" % n) == b"request %d" % n

        assert f.upstream.connections == 1
        assert len(f.upstream.requests) == 3


@pytest.mark.asyncio
async def test_a_response_not_read_to_the_end_is_not_returned_to_the_pool(
    client_kind: str,
) -> None:
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

    async with forwarding(script, client_kind) as f:
        async with f.transport.post(f.endpoint, PATH, b"{}", REMAINING_S) as response:
            chunks = f.transport.chunks(response, "east")
            async with contextlib.aclosing(chunks):
                assert await anext(chunks) == b"first"

        await asyncio.wait_for(upstream_saw_close.wait(), HANG_GUARD_S)
        assert await f.post(b"next") == b"next"
        assert f.upstream.connections == 2


@pytest.mark.asyncio
async def test_an_idle_connection_past_its_expiry_is_closed_not_reused(client_kind: str) -> None:
    async with client_to(answer_every_request(echo_body), client_kind, idle_expiry_s=0.0) as (
        upstream,
        client,
    ):
        assert await exchange(client, b"one") == b"one"
        assert await exchange(client, b"two") == b"two"
        assert upstream.connections == 2
