"""Per-request metrics: what was asked, where it was answered from, how long it took, what it used.

Recorded once per request when it ends (beside its access-log line) into plain integers and fixed
buckets, and turned into Prometheus families only when `/metrics` is scraped: an OpenTelemetry
`Histogram.record` or `Counter.add` costs 7.3-7.7 µs, a plain bucket 0.2 µs (100,000 calls each
on this machine), and a request records up to six.

Names follow the OpenTelemetry GenAI conventions where they apply, in their Prometheus form:
- `router_requests_total` {operation, alias, served_by, outcome, error_type}: outcome `ok`,
  `error`, or `cancelled` (the client left); a stream that broke after its first byte is an error
  of type `<code>_mid_stream`;
- `gen_ai_client_operation_duration_seconds` {gen_ai_operation_name, gen_ai_request_model,
  router_served_by, error_type}: the whole request, as the router's client saw it served;
- `gen_ai_server_time_to_first_token_seconds` {gen_ai_operation_name, gen_ai_request_model,
  router_served_by}: streams, from the request's arrival to its first byte written;
- `gen_ai_server_time_per_output_token_seconds` {same}: streams of two tokens or more, the time
  after the first byte over the tokens after the first;
- `gen_ai_client_token_usage` {gen_ai_operation_name, gen_ai_request_model, gen_ai_token_type}:
  tokens per request, `input` and `output`;
- `router_api_requests_total` {api}: requests by the API they arrived in (`chat_completions`,
  `completions`, `embeddings`, `responses`, `messages`, `messages_count_tokens`): every stage
  works on a Responses or Messages request's Chat Completions form, so the other series count it
  under `chat`;
- `router_added_latency_seconds` {operation}: what the router itself added, the request's time
  outside its upstream attempts (auth, limits, the PII scan, the cache, routing, writing), for
  requests that were not hedged (a hedge's attempts overlap);
- per endpoint, from the request's attempts: `router_endpoint_attempts_total` {endpoint, result}
  (`ok`, `4xx`, `5xx`, `upstream_connect_error`, `upstream_timeout`, `mid_stream`,
  `low_confidence`, `hedge_cancelled`, `client_disconnected`), `router_failovers_total`
  {endpoint} (attempts that failed and were followed by another), `router_hedges_total`
  {endpoint, result} (`started` towards it, `won` by it);
- `router_tokens_total` {alias, endpoint, type} and `router_spend_usd_total` {alias, endpoint}:
  what answered requests used, at the serving endpoint's prices (a cache hit is served by no
  endpoint and costs nothing).

With the node config's `telemetry.metrics.tenant_label`, the requests, tokens and spend series
also carry `tenant` (`node` for node keys): tenants are the policy files, so that multiplies
those series by their number (and `/metrics` then needs the admin token).

Every label is bounded: the operation is one of the router's, the alias one the node routes or
`(unrouted)` (a name a client makes up never becomes a label), served-by one of `cloud`, `edge`,
`cache` or `none`, the error type one of the router's error codes. As a guard, each family keeps
at most `MAX_SERIES` label sets; past that, new ones are counted under `(other)`.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    NumberDataPoint,
    Sum,
)
from opentelemetry.sdk.metrics.export import Metric as OtlpMetric
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from router.context import RequestContext
from router.pricing import served_cost_usd
from router.telemetry.request_outcome import (
    ATTEMPT_NOT_FAILED,
    MID_STREAM,
    added_s,
    outcome_of,
)

CUMULATIVE = AggregationTemporality.CUMULATIVE
MAX_SERIES = 2_000
# The API a request arrived in, by its path (only the handler's paths reach `record`).
_API_OF_PATH = {
    "/v1/chat/completions": "chat_completions",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
    "/v1/responses": "responses",
    "/v1/messages": "messages",
    "/v1/messages/count_tokens": "messages_count_tokens",
}
OTHER = "(other)"
UNROUTED = "(unrouted)"

# The GenAI conventions' advised bucket boundaries, in seconds (tokens for token usage).
DURATION_BUCKETS_S = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
TTFT_BUCKETS_S = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
TPOT_BUCKETS_S = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
# The router's own share is sub-millisecond when all is well: finer at the low end.
ADDED_BUCKETS_S = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip


class _Counter:
    __slots__ = ("_labels", "_name", "_otel", "_series", "_text")

    def __init__(self, name: str, text: str, labels: Sequence[str], otel: tuple[str, str]) -> None:
        """`name`: the Prometheus name; `otel`: the OpenTelemetry name and unit."""
        self._name, self._text, self._labels = name, text, tuple(labels)
        self._otel = otel
        self._series: dict[tuple[str, ...], float] = {}

    def add(self, key: tuple[str, ...], amount: float = 1) -> None:
        series = self._series
        if key not in series and len(series) >= MAX_SERIES:
            key = (OTHER,) * len(key)
        series[key] = series.get(key, 0) + amount

    def family(self) -> CounterMetricFamily:
        family = CounterMetricFamily(self._name, self._text, labels=self._labels)
        for key, count in self._series.items():
            family.add_metric(key, count)
        return family

    def otlp(self, start_ns: int, now_ns: int) -> OtlpMetric:
        points = [
            NumberDataPoint(_attributes(self._labels, key), start_ns, now_ns, count)
            for key, count in self._series.items()
        ]
        name, unit = self._otel
        return OtlpMetric(name, self._text, unit, Sum(points, CUMULATIVE, is_monotonic=True))


class _Histogram:
    __slots__ = ("_bounds", "_labels", "_name", "_otel", "_series", "_text")

    def __init__(
        self,
        name: str,
        text: str,
        labels: Sequence[str],
        bounds: Sequence[float],
        otel: tuple[str, str],
    ) -> None:
        self._name, self._text, self._labels = name, text, tuple(labels)
        self._bounds = tuple(bounds)
        self._otel = otel
        # Per label set: a count per bucket (the last one past every bound), then the sum, the
        # smallest and the largest value.
        self._series: dict[tuple[str, ...], list[float]] = {}

    def record(self, key: tuple[str, ...], value: float) -> None:
        series = self._series
        counts = series.get(key)
        if counts is None:
            if len(series) >= MAX_SERIES:
                key = (OTHER,) * len(key)
                counts = series.get(key)
            if counts is None:
                counts = series[key] = [0] * (len(self._bounds) + 2) + [math.inf, -math.inf]
        counts[bisect_left(self._bounds, value)] += 1
        counts[-3] += value
        if value < counts[-2]:
            counts[-2] = value
        if value > counts[-1]:
            counts[-1] = value

    def family(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self._name, self._text, labels=self._labels)
        for key, counts in self._series.items():
            cumulative, buckets = 0.0, []
            for bound, count in zip((*self._bounds, float("inf")), counts[:-3], strict=True):
                cumulative += count
                buckets.append((_bound_text(bound), cumulative))
            family.add_metric(key, buckets, sum_value=counts[-3])
        return family

    def otlp(self, start_ns: int, now_ns: int) -> OtlpMetric:
        points = [
            HistogramDataPoint(
                _attributes(self._labels, key),
                start_ns,
                now_ns,
                count=int(sum(counts[:-3])),
                sum=counts[-3],
                bucket_counts=[int(c) for c in counts[:-3]],
                explicit_bounds=list(self._bounds),
                min=counts[-2],
                max=counts[-1],
            )
            for key, counts in self._series.items()
        ]
        name, unit = self._otel
        return OtlpMetric(name, self._text, unit, Histogram(points, CUMULATIVE))


# Prometheus label -> OpenTelemetry attribute, where the conventions spell it with dots.
_OTEL_ATTRIBUTES = {
    "gen_ai_operation_name": "gen_ai.operation.name",
    "gen_ai_request_model": "gen_ai.request.model",
    "gen_ai_token_type": "gen_ai.token.type",
    "router_served_by": "router.served_by",
    "error_type": "error.type",
}


def _attributes(labels: tuple[str, ...], key: tuple[str, ...]) -> dict[str, str]:
    return {
        _OTEL_ATTRIBUTES.get(label, label): value for label, value in zip(labels, key, strict=True)
    }


def _bound_text(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


_MODEL = ("gen_ai_operation_name", "gen_ai_request_model", "router_served_by")
_STATUS = "upstream_status_"
_NAMED_RESULTS = frozenset({"upstream_connect_error", "upstream_timeout", "low_confidence"})


def attempt_result(outcome: str) -> str:
    """An attempt's outcome as a bounded result: its status class (`5xx`) rather than its status,
    `mid_stream` for a stream that broke after its first byte."""
    if outcome in ATTEMPT_NOT_FAILED or outcome in _NAMED_RESULTS:
        return outcome
    if outcome.endswith(MID_STREAM):
        return "mid_stream"
    if outcome.startswith(_STATUS) and outcome[len(_STATUS) :][:1].isdigit():
        return f"{outcome[len(_STATUS)]}xx"
    return "other"


class RequestMetrics(Collector):
    """The owner of the per-request series; a prometheus_client collector of them."""

    def __init__(self, aliases: Sequence[str], *, tenant_label: bool = False) -> None:
        """`tenant_label`: the node config's `telemetry.metrics.tenant_label`, a `tenant` label
        on the requests, tokens and spend series."""
        self._aliases = frozenset(aliases)
        self._tenant_label = tenant_label
        tenant: tuple[str, ...] = ("tenant",) if tenant_label else ()
        self.requests = _Counter(
            "router_requests",
            "Requests by operation, alias, where they were answered from (cloud, edge, cache, "
            "none), outcome (ok, error) and error type.",
            ("operation", "alias", "served_by", "outcome", "error_type", *tenant),
            ("router.requests", "{request}"),
        )
        self.duration = _Histogram(
            "gen_ai_client_operation_duration_seconds",
            "Whole request duration, from its arrival to its last byte.",
            (*_MODEL, "error_type"),
            DURATION_BUCKETS_S,
            ("gen_ai.client.operation.duration", "s"),
        )
        self.ttft = _Histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Streams: time from the request's arrival to its first byte written.",
            _MODEL,
            TTFT_BUCKETS_S,
            ("gen_ai.server.time_to_first_token", "s"),
        )
        self.tpot = _Histogram(
            "gen_ai_server_time_per_output_token_seconds",
            "Streams of two tokens or more: time after the first byte per output token after "
            "the first.",
            _MODEL,
            TPOT_BUCKETS_S,
            ("gen_ai.server.time_per_output_token", "s"),
        )
        self.tokens = _Histogram(
            "gen_ai_client_token_usage",
            "Tokens per request, by type (input, output).",
            ("gen_ai_operation_name", "gen_ai_request_model", "gen_ai_token_type"),
            TOKEN_BUCKETS,
            ("gen_ai.client.token.usage", "{token}"),
        )
        self.attempts = _Counter(
            "router_endpoint_attempts",
            "Upstream attempts by endpoint and result.",
            ("endpoint", "result"),
            ("router.endpoint.attempts", "{attempt}"),
        )
        self.failovers = _Counter(
            "router_failovers",
            "Attempts that failed and were followed by another, by the endpoint failed over from.",
            ("endpoint",),
            ("router.failovers", "{attempt}"),
        )
        self.hedges = _Counter(
            "router_hedges",
            "Hedged attempts by endpoint: started towards it, won by it.",
            ("endpoint", "result"),
            ("router.hedges", "{attempt}"),
        )
        self.used_tokens = _Counter(
            "router_tokens",
            "Tokens of answered requests by alias, serving endpoint and type (input, output).",
            ("alias", "endpoint", "type", *tenant),
            ("router.tokens", "{token}"),
        )
        self.spend = _Counter(
            "router_spend_usd",
            "What answered requests cost at the serving endpoint's prices, in USD.",
            ("alias", "endpoint", *tenant),
            ("router.spend", "USD"),
        )
        self.apis = _Counter(
            "router_api_requests",
            "Requests by the API they arrived in (Responses and Messages requests are "
            "translated to Chat Completions, and counted under `chat` elsewhere).",
            ("api",),
            ("router.api.requests", "{request}"),
        )
        self.added = _Histogram(
            "router_added_latency_seconds",
            "What the router itself added: the request's time outside its upstream attempts "
            "(requests that were not hedged).",
            ("operation",),
            ADDED_BUCKETS_S,
            ("router.added_latency", "s"),
        )

    def record(
        self,
        ctx: RequestContext,
        error_type: str,
        duration_s: float,
        first_byte_s: float | None,
    ) -> None:
        """One request that ended: `error_type` as `request_outcome.error_type_of` gives it ("" when
        it went well); `first_byte_s` the time from its arrival to its first byte written, for a
        stream that started."""
        decision, parsed = ctx.decision, ctx.parsed
        operation = parsed.operation.otel_name
        alias = decision.alias or parsed.model  # a cache hit is answered before routing
        alias = alias if alias in self._aliases else UNROUTED
        served_by = decision.served_by or "none"
        attempts = decision.attempts
        outcome = outcome_of(error_type)
        tenant = (ctx.tenant or "node",) if self._tenant_label else ()
        self.requests.add((operation, alias, served_by, outcome, error_type, *tenant))
        self.apis.add((_API_OF_PATH.get(ctx.request.path, "other"),))
        model = (operation, alias, served_by)
        self.duration.record((*model, error_type), duration_s)
        usage = ctx.usage
        if usage is not None:
            self.tokens.record((operation, alias, "input"), usage.input_tokens)
            self.tokens.record((operation, alias, "output"), usage.output_tokens)
        if first_byte_s is not None:
            self.ttft.record(model, first_byte_s)
            if usage is not None and usage.output_tokens > 1 and not error_type:
                self.tpot.record(model, (duration_s - first_byte_s) / (usage.output_tokens - 1))
        added = added_s(ctx, duration_s)
        if added is not None:
            self.added.record((operation,), added)
        if attempts:
            self._record_attempts(ctx, alias, tenant)

    def _record_attempts(self, ctx: RequestContext, alias: str, tenant: tuple[str, ...]) -> None:
        decision = ctx.decision
        attempts = decision.attempts
        last = len(attempts) - 1
        for index, attempt in enumerate(attempts):
            result = attempt_result(attempt.outcome)
            self.attempts.add((attempt.endpoint, result))
            if index < last and result not in ATTEMPT_NOT_FAILED:
                self.failovers.add((attempt.endpoint,))
        if decision.hedged_after_ms is not None and decision.hedge_endpoint:
            self.hedges.add((decision.hedge_endpoint, "started"))
            if decision.endpoint == decision.hedge_endpoint:
                self.hedges.add((decision.hedge_endpoint, "won"))
        usage, endpoint = ctx.usage, decision.endpoint
        if usage is not None and endpoint:
            self.used_tokens.add((alias, endpoint, "input", *tenant), usage.input_tokens)
            self.used_tokens.add((alias, endpoint, "output", *tenant), usage.output_tokens)
            self.spend.add((alias, endpoint, *tenant), served_cost_usd(ctx))

    def _families(self) -> tuple[_Counter | _Histogram, ...]:
        return (
            self.requests,
            self.apis,
            self.duration,
            self.ttft,
            self.tpot,
            self.tokens,
            self.added,
            self.attempts,
            self.failovers,
            self.hedges,
            self.used_tokens,
            self.spend,
        )

    def otlp_metrics(self, start_ns: int, now_ns: int) -> list[OtlpMetric]:
        """Every series as OpenTelemetry metrics (cumulative since `start_ns`), for OTLP."""
        return [family.otlp(start_ns, now_ns) for family in self._families()]

    def collect(self) -> Iterator[Metric]:
        yield self.requests.family()
        yield self.apis.family()
        yield self.duration.family()
        yield self.ttft.family()
        yield self.tpot.family()
        yield self.tokens.family()
        yield self.added.family()
        for counter in (self.attempts, self.failovers, self.hedges, self.used_tokens, self.spend):
            yield counter.family()
