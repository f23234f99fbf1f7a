"""Traces of requests the sampling ratio left out, kept all the same because they failed or were
slow: written after the request ended, from what the router already knows of it, with the times
it happened.

At a ratio below 1 an unsampled request costs no span at all (non-recording ones), so an error or
a slow answer would go unseen in the traces, the ones an operator wants most. Here the request's
span and one child span per upstream attempt are made when it ends, with their true start and end
times; only those requests pay for spans. They carry `router.kept` (`error` or `slow`). The
upstream got no `traceparent` of ours for them (they were not sampled then), so such a trace is
the router's side only, and a trace of its own even when the client sent an unsampled one.
"""

from __future__ import annotations

import time

from opentelemetry.trace import SpanKind, StatusCode

from router.context import RequestContext
from router.telemetry.request_outcome import ATTEMPT_NOT_FAILED, failed
from router.telemetry.spans import AttributeValue, Tracer

KEPT = "router.kept"


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
    tracer: Tracer,
    ctx: RequestContext,
    reason: str,
    attributes: dict[str, AttributeValue],
    error: str | None,
    elapsed_s: float,
    head_s: float,
) -> None:
    """The request's span, with `attributes`, and one per attempt, ending now."""
    end_ns = time.time_ns()
    start_ns = end_ns - int(elapsed_s * 1e9)
    parsed = ctx.parsed
    root = tracer.root(
        f"{parsed.operation.otel_name} {parsed.model[:64]}",
        SpanKind.SERVER,
        start_ns,
        {KEPT: reason, **attributes},
    )
    if error is not None:
        root.set_status(StatusCode.ERROR, error)
        root.set_attribute("error.type", error)
    pipeline_ns = start_ns + int(head_s * 1e9)
    for attempt in ctx.decision.attempts:
        attempt_start_ns = pipeline_ns + int(attempt.started_ms * 1e6)
        child = tracer.child_of(
            root,
            f"{parsed.operation.otel_name} {attempt.endpoint}",
            SpanKind.CLIENT,
            attempt_start_ns,
            {"router.endpoint": attempt.endpoint, "router.attempt.outcome": attempt.outcome},
        )
        if attempt.outcome not in ATTEMPT_NOT_FAILED:
            child.set_status(StatusCode.ERROR, attempt.outcome)
            child.set_attribute("error.type", attempt.outcome)
        child.end(min(end_ns, attempt_start_ns + int(attempt.duration_ms * 1e6)))
    root.end(end_ns)
