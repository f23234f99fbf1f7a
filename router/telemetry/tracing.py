"""OpenTelemetry tracing: one span per request, one child span per upstream attempt (and, when
asked, one per pipeline stage).

The exporter is chosen in the node config. With `none` the router uses the API's no-op tracer, so
spans cost a few hundred nanoseconds and no attributes are built (code checks `is_recording()`
before annotating). Attribute names follow the GenAI semantic conventions
(`gen_ai.operation.name`, `gen_ai.request.model`, `gen_ai.usage.*`, `server.address`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ParentBased

from router.config.model import TracingSettings
from router.telemetry.kept_traces import KeepOrRatio, why_kept

TRACER_NAME = "edge-router"


@dataclass
class Tracing:
    tracer: trace.Tracer
    provider: TracerProvider | None
    # Requests the ratio left out, traced after they ended all the same (router.telemetry.
    # kept_traces): those that failed, those slower than this.
    keep_errors: bool = False
    keep_slower_than_s: float | None = None

    def why_kept(self, error_type: str, elapsed_s: float, first_byte_s: float | None) -> str | None:
        """`error` or `slow` for an unsampled request worth a trace of its own, else None."""
        if self.provider is None:
            return None
        return why_kept(
            error_type, elapsed_s, first_byte_s, self.keep_slower_than_s, self.keep_errors
        )

    def span(self, name: str, kind: trace.SpanKind) -> AbstractContextManager[trace.Span]:
        """A current span, or the shared non-recording one when tracing is off: even the API's
        no-op tracer costs context-manager and context-variable work on every request."""
        if self.provider is None:
            return nullcontext(trace.INVALID_SPAN)
        return self.tracer.start_as_current_span(name, kind=kind)

    def stage_span(self, stage: str) -> AbstractContextManager[trace.Span]:
        """The current span of one pipeline stage's request half (`stage auth`)."""
        return self.span(f"stage {stage}", trace.SpanKind.INTERNAL)

    def start_span(self, name: str, kind: trace.SpanKind) -> trace.Span:
        """A span that is not made current (end it with `end()`): for work that ends in another
        task than the one it began in, such as an upstream stream relayed after a hedge's race."""
        if self.provider is None:
            return trace.INVALID_SPAN
        return self.tracer.start_span(name, kind=kind)

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


def build_tracing(
    settings: TracingSettings, extra_processor: SpanProcessor | None = None
) -> Tracing:
    """A tracer for the configured exporter; `extra_processor` lets tests collect spans."""
    if settings.exporter == "none" and extra_processor is None:
        return Tracing(trace.NoOpTracer(), None)
    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.service_name}),
        sampler=ParentBased(KeepOrRatio(settings.sample_ratio)),
    )
    exporter = _exporter(settings)
    if exporter is not None:
        # Console output is for debugging: flush each span at once. OTLP batches off the path.
        processor: SpanProcessor = (
            SimpleSpanProcessor(exporter)
            if settings.exporter == "console"
            else BatchSpanProcessor(exporter)
        )
        provider.add_span_processor(processor)
    if extra_processor is not None:
        provider.add_span_processor(extra_processor)
    # Not set as the global provider: the app owns its tracer, so tests can run several apps.
    slower_than_ms = settings.keep_slower_than_ms
    return Tracing(
        provider.get_tracer(TRACER_NAME),
        provider,
        keep_errors=settings.keep_errors,
        keep_slower_than_s=None if slower_than_ms is None else slower_than_ms / 1000.0,
    )


def _exporter(settings: TracingSettings) -> SpanExporter | None:
    if settings.exporter == "console":
        return ConsoleSpanExporter()
    if settings.exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=settings.otlp_endpoint)
    return None
