"""A stream that stalls after it started is cut after `routing.stream_idle_timeout_s` with an
error event, and counts as its endpoint's failure: before, it hung for the 60 s first-byte
timeout and counted as a success, so a stalling endpoint kept its traffic."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from loadtest.mock_cloud.settings import RegionSettings
from tests.redis_server import free_port
from tests.stack import Handler, running_stack, scripted_upstream

FIRST = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}\n\n'  # noqa: E501


def _stalling(release: asyncio.Event) -> Handler:
    """Answers a chat stream's first chunk, then sends nothing until `release` is set."""

    async def chat(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(FIRST)
        await release.wait()
        return response

    return chat


@pytest.mark.asyncio
async def test_a_stalled_stream_is_cut_with_an_error_event_and_counts_as_a_failure() -> None:
    port = free_port()
    stalling = {
        "name": "stalling",
        "base_url": f"http://127.0.0.1:{port}/v1",
        "region": "r",
        "models": [{"name": "stall-model"}],
    }
    overrides = {"routing": {"stream_idle_timeout_s": 0.3, "first_byte_timeout_s": 30}}
    release = asyncio.Event()
    async with (
        scripted_upstream(port, _stalling(release)),
        running_stack(
            regions=(RegionSettings("us-east"),), overrides=overrides, extra_endpoints=[stalling]
        ) as stack,
    ):
        body = {"model": "stall-model", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"Authorization": "Bearer sk-test-router"}
        async with stack.http.post(
            f"{stack.url}/v1/chat/completions", json={**body, "stream": True}, headers=headers
        ) as response:
            streamed = await asyncio.wait_for(response.read(), 20)
        assert streamed.startswith(FIRST)
        assert b'"type":"timeout"' in streamed or b"timed out" in streamed, streamed[-300:]
        view = await stack.admin_endpoints()
        (health,) = [e["health"] for e in view["endpoints"] if e["name"] == "stalling"]
        assert health["consecutive_failures"] == 1
