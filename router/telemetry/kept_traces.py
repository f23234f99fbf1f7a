"""Traces of requests the sampling ratio left out, kept all the same because they failed or were
slow: written after the request ended, from what the router already knows of it, with the times
it happened.

At a ratio below 1 an unsampled request costs no span at all (non-recording ones), so an error or
a slow answer would go unseen in the traces, the ones an operator wants most. Here the request's
span and one child span per upstream attempt are made when it ends, with their true start and end
times; only those requests pay for spans. They carry `router.kept` (`error` or `slow`), and the
sampler lets any span that carries it through (`KeepOrRatio`). The upstream got no `traceparent`
for them (they were not sampled then), so such a trace is the router's side only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    Decision,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes

from router.context import RequestContext
from router.telemetry.request_outcome import ATTEMPT_NOT_FAILED, failed

KEPT = "router.kept"


class KeepOrRatio(Sampler):
    """The ratio's decision for a new trace, except that a span made with `router.kept` is
    always recorded and sampled."""

    def __init__(self, ratio: float) -> None:
        self._ratio = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        if attributes and KEPT in attributes:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, trace_state)
        return self._ratio.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"KeepOrRatio({self._ratio.rate})"


def why_kept(
    error_type: str,
    elapsed_s: float,
    first_byte_s: float | None,
    slower_than_s: float | None,
    keep_errors: bool,
) -> str | None:
    """`error`, `slow`, or None when the request is not worth a trace of its own."""
    if keep_errors and failed(error_type):
        return "error"
    if slower_than_s is not None:
        waited_s = first_byte_s if first_byte_s is not None else elapsed_s
        if waited_s > slower_than_s:
            return "slow"
    return None


def write_kept_trace(
    tracer: trace.Tracer,
    ctx: RequestContext,
    reason: str,
    attributes: dict[str, str | int | float | bool],
    error: str | None,
    elapsed_s: float,
    head_s: float,
) -> None:
    """The request's span, with `attributes`, and one per attempt, ending now."""
    end_ns = time.time_ns()
    start_ns = end_ns - int(elapsed_s * 1e9)
    parsed = ctx.parsed
    root = tracer.start_span(
        f"{parsed.operation.otel_name} {parsed.model[:64]}",
        context=Context(),  # a trace of its own, not a child of the unsampled request's span
        kind=SpanKind.SERVER,
        start_time=start_ns,
        attributes={KEPT: reason, **attributes},
    )
    if error is not None:
        root.set_status(Status(StatusCode.ERROR, error))
        root.set_attribute("error.type", error)
    parent = trace.set_span_in_context(root)
    pipeline_ns = start_ns + int(head_s * 1e9)
    for attempt in ctx.decision.attempts:
        attempt_start_ns = pipeline_ns + int(attempt.started_ms * 1e6)
        child = tracer.start_span(
            f"{parsed.operation.otel_name} {attempt.endpoint}",
            context=parent,
            kind=SpanKind.CLIENT,
            start_time=attempt_start_ns,
            attributes={
                "router.endpoint": attempt.endpoint,
                "router.attempt.outcome": attempt.outcome,
            },
        )
        if attempt.outcome not in ATTEMPT_NOT_FAILED:
            child.set_status(Status(StatusCode.ERROR, attempt.outcome))
            child.set_attribute("error.type", attempt.outcome)
        child.end(end_time=min(end_ns, attempt_start_ns + int(attempt.duration_ms * 1e6)))
    root.end(end_time=end_ns)
