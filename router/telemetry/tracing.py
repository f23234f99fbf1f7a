"""Tracing: one span per request, one child span per upstream attempt (and, when asked, one per
pipeline stage), with the W3C `traceparent` passed on to the upstream.

Spans are recorded as plain values on the request's path (`router.telemetry.spans`) and exported
by a process of their own (`router.telemetry.span_pipe`, `span_export`), so that exporting every
span costs the router's process little CPU and holds its event loop for no encoding or sending
(docs/benchmarks.md, "What tracing costs", has what it costs, the exporter process included).
With the exporter `none` nothing is made at all: no span object, no context variable.
Attribute names follow the GenAI semantic conventions (`gen_ai.operation.name`,
`gen_ai.request.model`, `gen_ai.usage.*`, `server.address`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.trace import SpanProcessor

from router.config.model import TracingSettings
from router.telemetry.kept_traces import why_kept
from router.telemetry.metrics import Metrics
from router.telemetry.span_pipe import SpanPipe
from router.telemetry.span_records import ProcessorSink
from router.telemetry.spans import SpanRecord, SpanSink, Tracer


@dataclass
class Tracing:
    tracer: Tracer | None
    # The exporter process's feed, when spans are exported (`run` it while the router runs).
    pipe: SpanPipe | None = None
    processor: ProcessorSink | None = None
    # Requests the ratio left out, traced after they ended all the same (router.telemetry.
    # kept_traces): those that failed, those slower than this.
    keep_errors: bool = False
    keep_slower_than_s: float | None = None

    def why_kept(self, error_type: str, elapsed_s: float, first_byte_s: float | None) -> str | None:
        """`error` or `slow` for an unsampled request worth a trace of its own, else None."""
        if self.tracer is None:
            return None
        return why_kept(
            error_type, elapsed_s, first_byte_s, self.keep_slower_than_s, self.keep_errors
        )

    def request_span(
        self, name: str, traceparent: str | None
    ) -> AbstractContextManager[trace.Span]:
        """The request's span, current inside; the shared non-recording one when tracing is off
        (even the API's no-op tracer costs context-manager and context-variable work)."""
        if self.tracer is None:
            return nullcontext(trace.INVALID_SPAN)
        return Tracer.use(self.tracer.request_span(name, traceparent))

    def stage_span(self, stage: str) -> AbstractContextManager[trace.Span]:
        """The current span of one pipeline stage's request half (`stage auth`)."""
        if self.tracer is None:
            return nullcontext(trace.INVALID_SPAN)
        return Tracer.use(self.tracer.child(f"stage {stage}", trace.SpanKind.INTERNAL))

    def start_span(self, name: str, kind: trace.SpanKind) -> trace.Span:
        """A child of the current span, not made current (end it with `end()`): for work that
        ends in another task than the one it began in, such as an upstream stream relayed after
        a hedge's race."""
        if self.tracer is None:
            return trace.INVALID_SPAN
        return self.tracer.child(name, kind)

    def shutdown(self) -> None:
        if self.processor is not None:
            self.processor.shutdown()


def build_tracing(
    settings: TracingSettings, extra_processor: SpanProcessor | None = None
) -> Tracing:
    """Tracing for the configured exporter; `extra_processor` gets every span in this process
    as well (tests collect spans with it)."""
    pipe = SpanPipe(settings) if settings.exporter != "none" else None
    processor = (
        ProcessorSink(extra_processor, settings.service_name)
        if extra_processor is not None
        else None
    )
    sinks: list[SpanSink] = [sink for sink in (pipe, processor) if sink is not None]
    if not sinks:
        return Tracing(None)
    slower_than_ms = settings.keep_slower_than_ms
    return Tracing(
        Tracer(sinks[0] if len(sinks) == 1 else _every(sinks), settings.sample_ratio),
        pipe,
        processor,
        keep_errors=settings.keep_errors,
        keep_slower_than_s=None if slower_than_ms is None else slower_than_ms / 1000.0,
    )


def _every(sinks: list[SpanSink]) -> Callable[[SpanRecord], None]:
    def record(span: SpanRecord) -> None:
        for sink in sinks:
            sink(span)

    return record


def tracing_instruments(metrics: Metrics, tracing: Tracing) -> None:
    """`router_trace_spans_total` {outcome}: spans handed to the exporter process (`sent`) and
    dropped because it was not running or fell behind (`dropped`)."""
    pipe = tracing.pipe
    if pipe is None:
        return

    def observe(_options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(pipe.sent, {"outcome": "sent"})
        yield Observation(pipe.dropped, {"outcome": "dropped"})

    metrics.meter.create_observable_counter(
        "router.trace.spans",
        callbacks=[observe],
        description="Finished spans handed to the exporter process, or dropped because it was "
        "not running or fell behind.",
    )
