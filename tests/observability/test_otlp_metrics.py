"""Metrics pushed over OTLP/HTTP (`telemetry.metrics.otlp_endpoint`), as a collector receives
them: the per-request series under their GenAI names, the endpoints' gauges, and the
OpenTelemetry instruments, decoded from the protobuf a real OTLP exporter sent to a loopback
sink."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from tests.observability.otlp_receiver import otlp_receiver
from tests.stack import running_stack

CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Name a river in Portugal."}],
}


@asynccontextmanager
async def _sink() -> AsyncIterator[tuple[str, list[ExportMetricsServiceRequest], asyncio.Event]]:
    """A collector's OTLP/HTTP metrics endpoint: what it received, and an event set on each."""
    received: list[ExportMetricsServiceRequest] = []
    arrived = asyncio.Event()

    async def metrics(request: web.Request) -> web.Response:
        received.append(ExportMetricsServiceRequest.FromString(await request.read()))
        arrived.set()
        return web.Response(status=200)

    async with otlp_receiver("/v1/metrics", metrics) as endpoint:
        yield endpoint, received, arrived


def _metrics(received: list[ExportMetricsServiceRequest]) -> dict[str, Any]:
    """The latest of each metric received, by name."""
    latest: dict[str, Any] = {}
    for request in received:
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    latest[metric.name] = metric
    return latest


def _requests_counted(received: list[ExportMetricsServiceRequest]) -> float:
    requests = _metrics(received).get("router.requests")
    if requests is None:
        return 0
    return sum(p.as_int or p.as_double for p in requests.sum.data_points)


def _attributes(point: Any) -> dict[str, str]:
    return {a.key: a.value.string_value for a in point.attributes}


@pytest.mark.asyncio
async def test_the_series_reach_an_otlp_collector_under_their_opentelemetry_names() -> None:
    async with _sink() as (url, received, arrived):
        overrides = {"telemetry": {"metrics": {"otlp_endpoint": url, "otlp_interval_s": 0.2}}}
        async with running_stack(overrides=overrides) as stack:
            client = stack.client()
            await client.chat.completions.create(**CHAT)
            stream = await client.chat.completions.create(**CHAT, stream=True)
            async for _ in stream:
                pass
            while _requests_counted(received) < 2:
                arrived.clear()
                await asyncio.wait_for(arrived.wait(), timeout=10)
    metrics = _metrics(received)
    requests = metrics["router.requests"]
    assert requests.sum.is_monotonic
    (ok,) = [p for p in requests.sum.data_points if _attributes(p)["outcome"] == "ok"]
    assert (ok.as_double or ok.as_int) == 2
    assert _attributes(ok)["error.type"] == ""
    duration = metrics["gen_ai.client.operation.duration"]
    assert duration.unit == "s"
    (point,) = duration.histogram.data_points
    assert _attributes(point)["gen_ai.request.model"] == "gpt-4o-mini"
    assert point.count == 2 and sum(point.bucket_counts) == 2
    assert 0 < point.min <= point.max < 10
    ttft = metrics["gen_ai.server.time_to_first_token"]
    assert ttft.histogram.data_points[0].count == 1  # the stream
    states = metrics["router.endpoint.state"].gauge.data_points
    assert {_attributes(p)["endpoint"] for p in states} == {"us-east", "eu-west", "ap-south"}
    # An OpenTelemetry instrument, through the SDK's own reader.
    assert "router.event_loop.lag" in metrics
