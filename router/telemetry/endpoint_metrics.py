"""Each endpoint's state at `/metrics`, read from the registry when scraped (nothing on the request
path): requests in flight, the probed round-trip time, the time-to-first-token estimate per
model, the health state, ejections, and the requests and failures its estimators counted.

- `router_endpoint_in_flight` {endpoint}: attempts open on it now;
- `router_endpoint_rtt_seconds` {endpoint}: the probes' round-trip time (EWMA); absent until a
  probe answered;
- `router_endpoint_ttft_estimate_seconds` {endpoint, model}: the peak-EWMA time to first token the
  router ranks it by; absent until a first sample;
- `router_endpoint_state` {endpoint, state}: 1 for its current state (`healthy`, `ejected`,
  `half_open`), 0 for the others;
- `router_endpoint_ejections_total` {endpoint}: ejections since the router started;
- `router_endpoint_requests_total`, `router_endpoint_failures_total` {endpoint, model}: attempts
  started on it, and those that failed.

Endpoints and models are the node config's, so the label sets are as many as its endpoints.
"""

from __future__ import annotations

from collections.abc import Iterator

from opentelemetry.sdk.metrics.export import AggregationTemporality, Gauge, NumberDataPoint, Sum
from opentelemetry.sdk.metrics.export import Metric as OtlpMetric
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from router.endpoints.health import HealthState
from router.endpoints.registry import Registry

# Prometheus family -> OpenTelemetry name and unit, for OTLP.
_OTEL = {
    "router_endpoint_in_flight": ("router.endpoint.in_flight", "{attempt}"),
    "router_endpoint_rtt_seconds": ("router.endpoint.rtt", "s"),
    "router_endpoint_ttft_estimate_seconds": ("router.endpoint.ttft_estimate", "s"),
    "router_endpoint_state": ("router.endpoint.state", "1"),
    "router_endpoint_ejections": ("router.endpoint.ejections", "{ejection}"),
    "router_endpoint_requests": ("router.endpoint.requests", "{attempt}"),
    "router_endpoint_failures": ("router.endpoint.failures", "{attempt}"),
}


class EndpointMetrics(Collector):
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def otlp_metrics(self, start_ns: int, now_ns: int) -> list[OtlpMetric]:
        """The same families as OpenTelemetry gauges and cumulative sums, for OTLP."""
        metrics = []
        for family in self.collect():
            name, unit = _OTEL[family.name]
            points = [
                NumberDataPoint(dict(sample.labels), start_ns, now_ns, sample.value)
                for sample in family.samples
            ]
            data: Gauge | Sum = (
                Sum(points, AggregationTemporality.CUMULATIVE, is_monotonic=True)
                if family.type == "counter"
                else Gauge(points)
            )
            metrics.append(OtlpMetric(name, family.documentation, unit, data))
        return metrics

    def collect(self) -> Iterator[Metric]:
        endpoints = self._registry.endpoints
        health = self._registry.health
        in_flight = GaugeMetricFamily(
            "router_endpoint_in_flight", "Attempts open on the endpoint now.", labels=["endpoint"]
        )
        rtt = GaugeMetricFamily(
            "router_endpoint_rtt_seconds",
            "The endpoint's probed round-trip time (EWMA).",
            labels=["endpoint"],
        )
        ttft = GaugeMetricFamily(
            "router_endpoint_ttft_estimate_seconds",
            "The time to first token the router ranks the endpoint by, per model (peak EWMA).",
            labels=["endpoint", "model"],
        )
        state = GaugeMetricFamily(
            "router_endpoint_state",
            "1 for the endpoint's health state now: healthy, ejected, half_open.",
            labels=["endpoint", "state"],
        )
        ejections = CounterMetricFamily(
            "router_endpoint_ejections",
            "Ejections of the endpoint since the router started.",
            labels=["endpoint"],
        )
        requests = CounterMetricFamily(
            "router_endpoint_requests",
            "Attempts started on the endpoint, per model.",
            labels=["endpoint", "model"],
        )
        failures = CounterMetricFamily(
            "router_endpoint_failures",
            "Attempts on the endpoint that failed, per model.",
            labels=["endpoint", "model"],
        )
        for name, endpoint in endpoints.items():
            in_flight.add_metric([name], endpoint.in_flight)
            if endpoint.rtt.value_ms is not None:
                rtt.add_metric([name], endpoint.rtt.value_ms / 1000.0)
            board = health.get(name)
            now = board.state
            for each in HealthState:
                state.add_metric([name, each.value], 1.0 if each is now else 0.0)
            ejections.add_metric([name], board.ejections)
            for model, stats in endpoint.model_stats.items():
                if stats.ttft.cost_ms is not None:
                    ttft.add_metric([name, model], stats.ttft.cost_ms / 1000.0)
                requests.add_metric([name, model], stats.requests)
                failures.add_metric([name, model], stats.failures)
        yield from (in_flight, rtt, ttft, state, ejections, requests, failures)
