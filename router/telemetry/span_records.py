"""`SpanRecord`s made into the OpenTelemetry SDK's spans, for its exporters and processors: in the
exporter process (`router.telemetry.span_export`), and in the router's own process when a span
processor is given (tests)."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from router.telemetry.spans import SpanFields, SpanRecord

SCOPE = InstrumentationScope("edge-router")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def readable_span(record: SpanRecord, resource: Resource) -> ReadableSpan:
    span = SpanFields(*record)
    trace_id = span.trace_id
    parent = (
        SpanContext(trace_id, span.parent_id, is_remote=span.parent_remote, trace_flags=_SAMPLED)
        if span.parent_id
        else None
    )
    code = StatusCode(span.status_code)
    description = span.status_description or None if code is StatusCode.ERROR else None
    return ReadableSpan(
        span.name,
        context=SpanContext(trace_id, span.span_id, is_remote=False, trace_flags=_SAMPLED),
        parent=parent,
        resource=resource,
        attributes=span.attributes,
        events=[Event(event, attrs, timestamp=at) for event, at, attrs in span.events],
        kind=SpanKind(span.kind),
        status=Status(code, description),
        start_time=span.start_ns,
        end_time=span.end_ns,
        instrumentation_scope=SCOPE,
    )


class ProcessorSink:
    """Records handed at once to an SDK span processor in this process (as its spans end)."""

    def __init__(self, processor: SpanProcessor, service_name: str) -> None:
        self._processor = processor
        self._resource = Resource.create({"service.name": service_name})

    def __call__(self, record: SpanRecord) -> None:
        self._processor.on_end(readable_span(record, self._resource))

    def shutdown(self) -> None:
        self._processor.shutdown()
