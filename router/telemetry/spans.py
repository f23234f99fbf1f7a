"""Spans recorded as plain values on the request's path; made into OpenTelemetry spans elsewhere.

The OpenTelemetry SDK's spans cost the request's process too much at full sampling: with two
spans a request, their attributes, a batch span processor and the OTLP exporter, 150-340 us of
CPU per request, and p99 spikes of 12-75 ms at 1,000 req/s while the exporter's thread encoded a
batch holding the GIL (docs/benchmarks.md, "What tracing costs"). Here a span is a small object
that keeps its names, times and attributes in a dict; when it ends it becomes a `SpanRecord`, a
tuple of plain values, handed to a sink: the exporter process (`router.telemetry.span_pipe`),
which builds the SDK's spans and exports them, or an SDK span processor in this process (tests).

The API is OpenTelemetry's (`trace.Span`), so the stages annotate spans as they would the SDK's.
Which span is current is a context variable of its own (`current_span`), set by `Tracer.use`.

Sampling follows the SDK's default, `ParentBased(TraceIdRatioBased(ratio))`: a request that
comes with a W3C `traceparent` continues that trace and keeps its sampled flag; others start a
trace, sampled when the trace id's low 64 bits fall under the ratio, as the SDK decides. An
unsampled request with a `traceparent` passes it on to the upstream unchanged.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import Final, NamedTuple

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util import types

AttributeValue = str | bool | int | float
# (name, time in ns, attributes)
EventRecord = tuple[str, int, dict[str, AttributeValue]]
# A finished span as plain values (what `marshal` can send to the exporter process):
# (trace id, span id, parent span id or 0, parent is remote, name, kind, start ns, end ns,
#  attributes, status code, status description, events)
SpanRecord = tuple[
    int,
    int,
    int,
    bool,
    str,
    int,
    int,
    int,
    dict[str, AttributeValue],
    int,
    str,
    tuple[EventRecord, ...],
]
SpanSink = Callable[[SpanRecord], None]


class SpanFields(NamedTuple):
    """A `SpanRecord`'s fields by name, for those that read records (`SpanFields(*record)`)."""

    trace_id: int
    span_id: int
    parent_id: int  # 0: none
    parent_remote: bool
    name: str
    kind: int  # `SpanKind.value`
    start_ns: int
    end_ns: int
    attributes: dict[str, AttributeValue]
    status_code: int  # `StatusCode.value`
    status_description: str
    events: tuple[EventRecord, ...]


_SAMPLED: Final = trace.TraceFlags(trace.TraceFlags.SAMPLED)
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_LOW_64 = (1 << 64) - 1


class RecordedSpan(trace.Span):
    """A sampled span: kept as values, handed to the sink as a `SpanRecord` when it ends."""

    __slots__ = (
        "_sink",
        "attributes",
        "end_ns",
        "events",
        "kind",
        "name",
        "parent_id",
        "parent_remote",
        "span_id",
        "start_ns",
        "status_code",
        "status_description",
        "trace_id",
    )

    def __init__(
        self,
        sink: SpanSink,
        name: str,
        kind: SpanKind,
        ids: tuple[int, int, int, bool],
        start_ns: int,
        attributes: dict[str, AttributeValue] | None = None,
    ) -> None:
        """`ids`: trace id, span id, parent span id (0 for none), whether the parent is remote."""
        self._sink = sink
        self.name = name
        self.kind = kind
        self.trace_id, self.span_id, self.parent_id, self.parent_remote = ids
        self.start_ns = start_ns
        self.end_ns = 0
        self.attributes: dict[str, AttributeValue] = {}
        if attributes:
            self.set_attributes(attributes)
        self.status_code = StatusCode.UNSET
        self.status_description = ""
        self.events: list[EventRecord] = []

    def traceparent(self) -> str:
        """The W3C `traceparent` naming this span as the parent (sampled)."""
        return f"00-{self.trace_id:032x}-{self.span_id:016x}-01"

    def get_span_context(self) -> SpanContext:
        return SpanContext(self.trace_id, self.span_id, is_remote=False, trace_flags=_SAMPLED)

    def is_recording(self) -> bool:
        return self.end_ns == 0

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        plain = _plain(value)
        if plain is not None:
            self.attributes[key] = plain

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        kept = self.attributes
        for key, value in attributes.items():
            if type(value) in _PLAIN:
                kept[key] = value  # type: ignore[assignment]  # checked: one of the four
            else:
                plain = _plain(value)
                if plain is not None:
                    kept[key] = plain

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if isinstance(status, Status):
            code, description = status.status_code, status.description
        else:
            code = status
        if self.status_code is StatusCode.OK:  # final, as in the SDK
            return
        self.status_code = code
        self.status_description = (description or "") if code is StatusCode.ERROR else ""

    def add_event(
        self,
        name: str,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
    ) -> None:
        kept = {
            k: v for k, v in (attributes or {}).items() if isinstance(v, str | bool | int | float)
        }
        self.events.append((name, timestamp or time.time_ns(), kept))

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """The exception's type and message (no stack trace: it would cost on the request's path,
        and the router's errors say what happened in their code)."""
        event: dict[str, types.AttributeValue] = {
            "exception.type": type(exception).__qualname__,
            "exception.message": str(exception),
            "exception.escaped": escaped,
        }
        event.update(attributes or {})
        self.add_event("exception", event, timestamp)

    def update_name(self, name: str) -> None:
        self.name = name

    def end(self, end_time: int | None = None) -> None:
        if self.end_ns:
            return
        self.end_ns = end_time or time.time_ns()
        self._sink(
            (
                self.trace_id,
                self.span_id,
                self.parent_id,
                self.parent_remote,
                self.name,
                self.kind.value,
                self.start_ns,
                self.end_ns,
                self.attributes,
                self.status_code.value,
                self.status_description,
                tuple(self.events),
            )
        )


_PLAIN: Final = frozenset({str, bool, int, float})


def _plain(value: object) -> AttributeValue | None:
    """The value as one of the four types a record carries (a `StrEnum`'s as its `str`: `marshal`
    takes exact types only), or None for what the records do not carry (sequences)."""
    if type(value) in _PLAIN:
        return value  # type: ignore[return-value]  # checked: one of the four
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):  # an IntEnum (a bool is exactly bool)
        return int(value)
    if isinstance(value, float):
        return float(value)
    return None


# The span the current task works in: a `RecordedSpan`, a `NonRecordingSpan` carrying a client's
# unsampled trace, or None.
current_span: ContextVar[trace.Span | None] = ContextVar("edge_router_span", default=None)


class _InSpan:
    """`with tracer.use(span)`: the span is current inside; an exception that leaves it is
    recorded as the span's error; the span ends on the way out."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def __enter__(self) -> trace.Span:
        self._token = current_span.set(self._span)
        return self._span

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        current_span.reset(self._token)
        span = self._span
        if error is not None and span.is_recording():
            span.record_exception(error, escaped=True)
            span.set_status(StatusCode.ERROR, f"{type(error).__name__}: {error}")
        span.end()


class Tracer:
    """Starts spans: a request's (continuing the client's trace when it sent one), and children
    of the current span."""

    def __init__(
        self, sink: SpanSink, sample_ratio: float, ids: random.Random | None = None
    ) -> None:
        self.sink = sink
        # As the SDK's TraceIdRatioBased: sampled when the id's low 64 bits are under the bound.
        self._bound = round(sample_ratio * (1 << 64))
        self._ids = ids or random.Random()

    def new_id(self, bits: int) -> int:
        return self._ids.getrandbits(bits) or 1

    def request_span(
        self,
        name: str,
        traceparent: str | None,
        attributes: dict[str, AttributeValue] | None = None,
    ) -> trace.Span:
        """The span of a request that arrived with this `traceparent` header (or none)."""
        parent = _parse_traceparent(traceparent) if traceparent else None
        if parent is None:
            trace_id = self.new_id(128)
            if (trace_id & _LOW_64) >= self._bound:
                return trace.INVALID_SPAN
            ids = (trace_id, self.new_id(64), 0, False)
        else:
            trace_id, parent_id, sampled = parent
            if not sampled:  # the client's decision; its context is passed on as it came
                return NonRecordingSpan(
                    SpanContext(
                        trace_id, parent_id, is_remote=True, trace_flags=trace.TraceFlags(0)
                    )
                )
            ids = (trace_id, self.new_id(64), parent_id, True)
        return RecordedSpan(self.sink, name, SpanKind.SERVER, ids, time.time_ns(), attributes)

    def child(self, name: str, kind: SpanKind) -> trace.Span:
        """A span under the current one (not made current itself); the current one when that is
        not recording (so an unsampled request's context still reaches the upstream)."""
        parent = current_span.get()
        if not isinstance(parent, RecordedSpan):
            return parent if parent is not None else trace.INVALID_SPAN
        return self.child_of(parent, name, kind, time.time_ns())

    def child_of(
        self,
        parent: RecordedSpan,
        name: str,
        kind: SpanKind,
        start_ns: int,
        attributes: dict[str, AttributeValue] | None = None,
    ) -> RecordedSpan:
        ids = (parent.trace_id, self.new_id(64), parent.span_id, False)
        return RecordedSpan(self.sink, name, kind, ids, start_ns, attributes)

    def root(
        self, name: str, kind: SpanKind, start_ns: int, attributes: dict[str, AttributeValue]
    ) -> RecordedSpan:
        """A span that starts a trace of its own, whatever the ratio (a kept trace's)."""
        ids = (self.new_id(128), self.new_id(64), 0, False)
        return RecordedSpan(self.sink, name, kind, ids, start_ns, attributes)

    @staticmethod
    def use(span: trace.Span) -> _InSpan:
        return _InSpan(span)


def traceparent_of(span: trace.Span) -> str | None:
    """The `traceparent` to send upstream from within `span`: itself as the parent when it is
    recorded, the client's own header when the client's trace was not sampled, else None."""
    if isinstance(span, RecordedSpan):
        return span.traceparent()
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def _parse_traceparent(header: str) -> tuple[int, int, bool] | None:
    """(trace id, parent span id, sampled) of a W3C `traceparent`, or None when it is not one
    (then the request starts a trace of its own, as the recommendation says). A later version's
    header is read for the fields version 00 has, as the recommendation asks."""
    match = _TRACEPARENT.fullmatch(header.strip()) if len(header) <= 512 else None
    if match is None or match[1] == "ff" or (match[1] == "00" and match[5] is not None):
        return None
    trace_id, span_id = int(match[2], 16), int(match[3], 16)
    if not trace_id or not span_id:
        return None
    return trace_id, span_id, bool(int(match[4], 16) & 1)
