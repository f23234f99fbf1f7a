"""The per-request series: recorded from a request's context when it ends, exposed in the
Prometheus text format with bounded labels (made-up model names never become one)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from router.context import HEDGE_CANCELLED, Attempt, RequestContext
from router.telemetry import request_metrics
from router.telemetry.request_metrics import RequestMetrics
from router.telemetry.request_outcome import error_type_of
from router.wire.usage import Usage
from tests.request_context import chat_context

ALIASES = ("gpt-4o-mini", "local-small")


def _ctx(model: str = "gpt-4o-mini", *, routed: bool = True) -> RequestContext:
    ctx = chat_context(
        b'{"model": "%s", "messages": [{"role": "user", "content": "hi"}]}' % (model.encode())
    )
    if routed:
        ctx.decision.alias = model
        ctx.decision.served_by = "cloud"
    return ctx


def _samples(metrics: RequestMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = CollectorRegistry()
    registry.register(metrics)
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
           **labels: str) -> float:  # fmt: skip
    return samples[(name, frozenset(labels.items()))]


def test_a_served_request_counts_its_duration_tokens_and_the_routers_own_share() -> None:
    metrics = RequestMetrics(ALIASES)
    ctx = _ctx()
    ctx.usage = Usage(12, 30)
    ctx.decision.attempts.append(Attempt("us-east", "ok", 15.0))
    metrics.record(ctx, "", duration_s=0.0172, first_byte_s=None)
    samples = _samples(metrics)
    labels = {"operation": "chat", "alias": "gpt-4o-mini", "served_by": "cloud"}
    assert _value(samples, "router_requests_total", **labels, outcome="ok", error_type="") == 1
    model = {
        "gen_ai_operation_name": "chat",
        "gen_ai_request_model": "gpt-4o-mini",
        "router_served_by": "cloud",
    }
    duration = "gen_ai_client_operation_duration_seconds"
    assert _value(samples, f"{duration}_bucket", **model, error_type="", le="0.01") == 0
    assert _value(samples, f"{duration}_bucket", **model, error_type="", le="0.02") == 1
    assert _value(samples, f"{duration}_sum", **model, error_type="") == pytest.approx(0.0172)
    tokens = {"gen_ai_operation_name": "chat", "gen_ai_request_model": "gpt-4o-mini"}
    usage = "gen_ai_client_token_usage"
    assert _value(samples, f"{usage}_sum", **tokens, gen_ai_token_type="input") == 12
    assert _value(samples, f"{usage}_sum", **tokens, gen_ai_token_type="output") == 30
    # 17.2 ms in all, 15 ms of it upstream: the router added 2.2 ms.
    added = "router_added_latency_seconds"
    assert _value(samples, f"{added}_sum", operation="chat") == pytest.approx(0.0022)
    assert _value(samples, f"{added}_bucket", operation="chat", le="0.001") == 0
    assert _value(samples, f"{added}_bucket", operation="chat", le="0.0025") == 1
    # Not a stream: no time to first token.
    assert not [key for key in samples if key[0].startswith("gen_ai_server_time")]


def test_a_streams_first_byte_gives_its_ttft_and_time_per_output_token() -> None:
    metrics = RequestMetrics(ALIASES)
    ctx = _ctx()
    ctx.usage = Usage(5, 11)
    ctx.decision.attempts.append(Attempt("us-east", "ok", 950.0))
    metrics.record(ctx, "", duration_s=1.0, first_byte_s=0.1)
    samples = _samples(metrics)
    model = {
        "gen_ai_operation_name": "chat",
        "gen_ai_request_model": "gpt-4o-mini",
        "router_served_by": "cloud",
    }
    assert _value(samples, "gen_ai_server_time_to_first_token_seconds_sum", **model) == 0.1
    # 0.9 s after the first byte for the 10 tokens after the first.
    tpot = "gen_ai_server_time_per_output_token_seconds_sum"
    assert _value(samples, tpot, **model) == pytest.approx(0.09)


def test_a_made_up_model_name_is_counted_as_unrouted_never_as_a_label() -> None:
    metrics = RequestMetrics(ALIASES)
    metrics.record(_ctx("made-up-model-7f3a", routed=False), "model_not_found", 0.001, None)
    samples = _samples(metrics)
    labels = {"operation": "chat", "alias": "(unrouted)", "served_by": "none"}
    assert (
        _value(
            samples,
            "router_requests_total",
            **labels,
            outcome="error",
            error_type="model_not_found",
        )
        == 1
    )
    assert "made-up-model-7f3a" not in repr(samples)


def test_a_stream_broken_after_its_first_byte_is_an_error_and_a_client_leaving_is_not() -> None:
    metrics = RequestMetrics(ALIASES)
    broken = _ctx()
    broken.decision.attempts.append(Attempt("us-east", "upstream_connect_error_mid_stream", 40.0))
    metrics.record(broken, error_type_of(broken, ""), 0.05, 0.01)  # as the handler does
    left = _ctx()
    left.decision.attempts.append(Attempt("us-east", "client_disconnected", 40.0))
    metrics.record(left, error_type_of(left, ""), 0.05, 0.01)
    samples = _samples(metrics)
    labels = {"operation": "chat", "alias": "gpt-4o-mini", "served_by": "cloud"}
    requests = "router_requests_total"
    error_type = "upstream_connect_error_mid_stream"
    assert _value(samples, requests, **labels, outcome="error", error_type=error_type) == 1
    assert (
        _value(samples, requests, **labels, outcome="cancelled", error_type="client_disconnected")
        == 1
    )
    # A stream that broke has no time per output token.
    assert not [key for key in samples if "per_output_token_seconds_count" in key[0]]


def test_a_hedged_request_has_no_added_latency_sample() -> None:
    metrics = RequestMetrics(ALIASES)
    ctx = _ctx()
    ctx.decision.hedged_after_ms = 30.0
    ctx.decision.attempts += [Attempt("a", HEDGE_CANCELLED, 50.0), Attempt("b", "ok", 25.0)]
    metrics.record(ctx, "", 0.056, None)
    samples = _samples(metrics)
    assert not [key for key in samples if key[0].startswith("router_added_latency")]


def test_past_the_series_limit_new_label_sets_are_counted_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(request_metrics, "MAX_SERIES", 2)
    metrics = RequestMetrics(ALIASES)
    for error_type in ("a", "b", "c", "d"):
        metrics.record(_ctx(), error_type, 0.01, None)
    samples = _samples(metrics)
    requests = {labels for name, labels in samples if name == "router_requests_total"}
    assert len(requests) == 3
    other = frozenset(
        {
            ("operation", "(other)"),
            ("alias", "(other)"),
            ("served_by", "(other)"),
            ("outcome", "(other)"),
            ("error_type", "(other)"),
        }
    )
    assert samples[("router_requests_total", other)] == 2


@pytest.mark.parametrize(
    ("outcome", "result"),
    [
        ("ok", "ok"),
        ("upstream_status_503", "5xx"),
        ("upstream_status_429", "4xx"),
        ("upstream_connect_error", "upstream_connect_error"),
        ("upstream_timeout_mid_stream", "mid_stream"),
        (HEDGE_CANCELLED, HEDGE_CANCELLED),
        ("client_disconnected", "client_disconnected"),
        ("something_new", "other"),
    ],
)
def test_an_attempts_outcome_becomes_a_bounded_result(outcome: str, result: str) -> None:
    assert request_metrics.attempt_result(outcome) == result


def test_a_failover_a_hedge_and_the_serving_endpoints_tokens_are_counted() -> None:
    metrics = RequestMetrics(ALIASES)
    ctx = _ctx()
    ctx.decision.endpoint = "eu-west"
    ctx.decision.hedged_after_ms = 20.0
    ctx.decision.hedge_endpoint = "eu-west"
    ctx.decision.attempts += [
        Attempt("us-east", "upstream_status_503", 3.0),
        Attempt("ap-south", HEDGE_CANCELLED, 40.0),
        Attempt("eu-west", "ok", 30.0),
    ]
    ctx.usage = Usage(100, 50)
    metrics.record(ctx, "", 0.08, None)
    samples = _samples(metrics)
    assert _value(samples, "router_endpoint_attempts_total", endpoint="us-east", result="5xx") == 1
    assert _value(samples, "router_failovers_total", endpoint="us-east") == 1
    assert ("router_failovers_total", frozenset({("endpoint", "ap-south")})) not in samples
    assert _value(samples, "router_hedges_total", endpoint="eu-west", result="started") == 1
    assert _value(samples, "router_hedges_total", endpoint="eu-west", result="won") == 1
    tokens = {"alias": "gpt-4o-mini", "endpoint": "eu-west"}
    assert _value(samples, "router_tokens_total", **tokens, type="output") == 50
