"""Metrics pushed over OTLP/HTTP, beside `/metrics` (`telemetry.metrics.otlp_endpoint`).

Two kinds of series leave this way, under their OpenTelemetry names:
- the OpenTelemetry instruments (the cache's, the limits', loop lag, GC pauses, privacy actions),
  through the SDK's own periodic reader (`Metrics`, given the exporter);
- the series kept as plain counts because instruments cost too much on the request path
  (`RequestMetrics`, `EndpointMetrics`), turned into OpenTelemetry metrics here every
  `otlp_interval_s`: a snapshot taken on the event loop (no structure is read while a request
  changes it), encoded and sent by the exporter in a worker thread.
Both are cumulative from the router's start. A failed export is logged by the exporter and the
next interval sends the totals again; nothing piles up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Protocol

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics.export import (
    Metric,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

SCOPE = InstrumentationScope("edge_router")


class OtlpSource(Protocol):
    def otlp_metrics(self, start_ns: int, now_ns: int) -> list[Metric]: ...


class OtlpMetricsPush:
    def __init__(
        self,
        exporter: OTLPMetricExporter,
        sources: Sequence[OtlpSource],
        interval_s: float,
        resource: Resource,
    ) -> None:
        self._exporter = exporter
        self._sources = tuple(sources)
        self._interval_s = interval_s
        self._resource = resource
        self._start_ns = time.time_ns()

    def snapshot(self) -> MetricsData:
        now_ns = time.time_ns()
        metrics = [
            m for source in self._sources for m in source.otlp_metrics(self._start_ns, now_ns)
        ]
        scope = ScopeMetrics(SCOPE, metrics, schema_url="")
        return MetricsData([ResourceMetrics(self._resource, [scope], schema_url="")])

    async def run(self) -> None:
        """Push every interval until cancelled, and once more then."""
        try:
            while True:
                await asyncio.sleep(self._interval_s)
                await asyncio.to_thread(self._exporter.export, self.snapshot())
        finally:
            await asyncio.to_thread(self._exporter.export, self.snapshot())


EXPORT_TIMEOUT_S = 5.0


def otlp_reader(endpoint: str, interval_s: float) -> MetricReader:
    """The SDK's periodic reader for the OpenTelemetry instruments, pushing to `endpoint`."""
    return PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=endpoint, timeout=EXPORT_TIMEOUT_S),
        export_interval_millis=interval_s * 1000.0,
    )


def otlp_push(
    endpoint: str, interval_s: float, service_name: str, sources: Sequence[OtlpSource]
) -> OtlpMetricsPush:
    """The push of the plain-count series to `endpoint`."""
    return OtlpMetricsPush(
        OTLPMetricExporter(endpoint=endpoint, timeout=EXPORT_TIMEOUT_S),
        sources,
        interval_s,
        Resource.create({"service.name": service_name}),
    )
