"""Tracing with the OTLP exporter delivers the spans to a real OTLP/HTTP receiver."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from loadtest.otlp_sink import sink_app
from tests.stack import running_stack


@pytest.mark.asyncio
async def test_otlp_exporter_delivers_spans_when_the_router_stops() -> None:
    sink = web.AppRunner(sink_app(), access_log=None)
    await sink.setup()
    await web.TCPSite(sink, "127.0.0.1", 0).start()
    host, port = sink.addresses[0][:2]
    try:
        tracing = {"exporter": "otlp", "otlp_endpoint": f"http://{host}:{port}/v1/traces"}
        async with running_stack(overrides={"telemetry": {"tracing": tracing}}) as stack:
            await stack.client().chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        # Leaving the stack stopped the router, which flushes the batch span processor.
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://{host}:{port}/stats") as response,
        ):
            stats = await response.json()
        assert stats["exports"] >= 1
        assert stats["bytes"] > 100
    finally:
        await sink.cleanup()
