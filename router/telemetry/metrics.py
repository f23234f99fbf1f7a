"""Metrics: OpenTelemetry instruments, exposed for Prometheus at `GET /metrics`.

Each app owns its meter provider and its Prometheus registry (never the global ones), so several
routers in one process (the tests) keep their numbers apart. Labels never carry tenant names or
keys: `/metrics` is scraped without a tenant's key, so it must not show one tenant's traffic to
anyone. Per-tenant numbers are at `GET /admin/tenants/{id}/usage`, behind the admin token.
"""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import Meter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

PROMETHEUS_CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self, otlp: MetricReader | None = None) -> None:
        """`otlp`: a second reader that pushes the instruments over OTLP (`router.telemetry.
        otlp_metrics`)."""
        self._registry = CollectorRegistry(auto_describe=True)
        self._reader = PrometheusMetricReader(
            disable_target_info=True, scope_info_enabled=False, registry=self._registry
        )
        readers: list[MetricReader] = [self._reader]
        if otlp is not None:
            readers.append(otlp)
        self._provider = MeterProvider(metric_readers=readers)
        self.meter: Meter = self._provider.get_meter("edge_router")
        self._before_exposition: list[Callable[[], None]] = []

    def before_exposition(self, hook: Callable[[], None]) -> None:
        """Call `hook` before each exposition (to record what was buffered)."""
        self._before_exposition.append(hook)

    def add_collector(self, collector: Collector) -> None:
        """Series kept outside OpenTelemetry (plain counts where its instruments cost too much on
        the request path), exposed with the others."""
        self._registry.register(collector)

    def exposition(self) -> bytes:
        """The Prometheus text format of every instrument's current value."""
        for hook in self._before_exposition:
            hook()
        return generate_latest(self._registry)

    def shutdown(self) -> None:
        self._provider.shutdown()
