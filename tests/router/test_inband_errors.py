"""An error an upstream sends in band, after its 200 and before any content, is a failure before
the first byte: the request fails over and the endpoint's health hears of it; a client error sent
that way reaches the client as the upstream's refusal. After content, it is relayed as before."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest
from aiohttp import web

from loadtest.mock_cloud.settings import RegionSettings
from router.wire.stream_start import PEEK_BYTES, stream_start
from tests.redis_server import free_port
from tests.stack import Handler, running_stack, scripted_upstream

ROLE = b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
CONTENT = b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
QUOTA = {"message": "You exceeded your current quota.", "type": "insufficient_quota", "code": None}
INVALID = {"message": "Invalid 'tools[0].name'.", "type": "invalid_request_error", "param": None}


def _error(error: dict[str, Any], crlf: bool = False) -> bytes:
    event = b"data: " + orjson.dumps({"error": error}) + b"\n\n"
    return event.replace(b"\n", b"\r\n") if crlf else event


@pytest.mark.parametrize(
    ("head", "verdict"),
    [
        (CONTENT, "relay"),
        (ROLE + CONTENT, "relay"),
        (_error(QUOTA), QUOTA),
        (ROLE + _error(QUOTA), QUOTA),
        (b": keep-alive\n\n" + _error(QUOTA), QUOTA),
        (_error(QUOTA, crlf=True), QUOTA),
        (CONTENT + _error(QUOTA), "relay"),  # after content: relayed, too late to fail over
        (ROLE, "read_more"),
        (_error(QUOTA)[:-1], "read_more"),
        (b"data: " + b"x" * PEEK_BYTES, "relay"),  # no verdict within the bound: relayed
        (b'data: {"error": "not an object"}\n\n', "relay"),
    ],
)
def test_the_start_of_a_stream_is_read_until_content_or_an_error(
    head: bytes, verdict: object
) -> None:
    assert stream_start(head) == verdict


def _answering(*events: bytes) -> Handler:
    async def chat(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in events:
            await response.write(event)
        await response.write_eof()
        return response

    return chat


def _nearest(port: int) -> dict[str, Any]:
    """An endpoint on loopback, nearer than every simulated region, serving gpt-4o-mini."""
    return {
        "name": "near",
        "base_url": f"http://127.0.0.1:{port}/v1",
        "region": "near",
        "models": [{"name": "gpt-4o-mini"}],
    }


LATENCY_FIRST = {"x-router-objective": "latency"}
REGIONS = (RegionSettings(name="us-east", rtt_ms=20.0),)


@pytest.mark.asyncio
async def test_an_error_in_band_before_content_fails_over_and_counts_against_the_endpoint() -> None:
    port = free_port()
    async with (
        scripted_upstream(port, _answering(ROLE, _error(QUOTA))),
        running_stack(regions=REGIONS, extra_endpoints=[_nearest(port)]) as stack,
    ):
        client = stack.client(default_headers=LATENCY_FIRST)
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = [chunk async for chunk in raw.parse()]
        assert raw.headers["x-router-endpoint"] == "us-east"
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        view = await stack.admin_endpoints()
        (near,) = [e for e in view["endpoints"] if e["name"] == "near"]
        assert near["health"]["consecutive_failures"] == 1


@pytest.mark.asyncio
async def test_a_client_error_in_band_is_the_upstreams_refusal_and_is_not_retried() -> None:
    port = free_port()
    async with (
        scripted_upstream(port, _answering(_error(INVALID))),
        running_stack(regions=REGIONS, extra_endpoints=[_nearest(port)]) as stack,
    ):
        client = stack.client(default_headers=LATENCY_FIRST)
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        assert refused.value.body == {**INVALID, "code": None}  # the upstream's, as relayed
        received = await stack.received("us-east")
        assert not [r for r in received if r["path"].endswith("/chat/completions")]


@pytest.mark.asyncio
async def test_an_error_after_content_is_relayed_as_the_upstream_sent_it() -> None:
    port = free_port()
    async with (
        scripted_upstream(port, _answering(CONTENT, _error(QUOTA))),
        running_stack(regions=REGIONS, extra_endpoints=[_nearest(port)]) as stack,
    ):
        client = stack.client(default_headers=LATENCY_FIRST)
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        with pytest.raises(openai.APIError, match="quota"):
            async for _chunk in stream:
                pass
