"""Spans recorded as values (`router.telemetry.spans`): the W3C `traceparent` read and written as
the recommendation says, sampling decided as the OpenTelemetry SDK decides it, parents, status
and exceptions as the SDK records them, and records made into the SDK's spans unchanged."""

from __future__ import annotations

import random

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.sampling import Decision, TraceIdRatioBased
from opentelemetry.trace import INVALID_SPAN, SpanKind, Status, StatusCode

from router.telemetry.span_records import readable_span
from router.telemetry.spans import (
    RecordedSpan,
    SpanRecord,
    Tracer,
    current_span,
    traceparent_of,
)

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
PARENT_ID = 0xB7AD6B7169203331


def _tracer(ratio: float = 1.0, seed: int = 3) -> tuple[Tracer, list[SpanRecord]]:
    records: list[SpanRecord] = []
    return Tracer(records.append, ratio, random.Random(seed)), records


def test_a_request_with_a_sampled_traceparent_continues_that_trace() -> None:
    tracer, records = _tracer(ratio=0.0)  # the parent's decision wins over the ratio
    span = tracer.request_span("chat m", PARENT)
    assert isinstance(span, RecordedSpan)
    assert (span.trace_id, span.parent_id, span.parent_remote) == (TRACE_ID, PARENT_ID, True)
    span.end()
    ((trace_id, span_id, parent_id, remote, name, kind, *_),) = records
    assert (trace_id, parent_id, remote, name) == (TRACE_ID, PARENT_ID, True, "chat m")
    assert span_id not in (0, PARENT_ID)
    assert kind == SpanKind.SERVER.value


def test_an_unsampled_traceparent_records_nothing_and_is_passed_on_as_it_came() -> None:
    tracer, records = _tracer()
    header = PARENT[:-2] + "00"
    span = tracer.request_span("chat m", header)
    assert not span.is_recording()
    with tracer.use(span):
        attempt = tracer.child("chat upstream", SpanKind.CLIENT)
        assert traceparent_of(attempt) == header
        attempt.end()
    assert records == []


@pytest.mark.parametrize(
    "header",
    [
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",  # no flags
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # zero parent id
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # the forbidden version
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",  # 00 has no more fields
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  # upper case
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" + "x" * 600,
    ],
)
def test_a_malformed_traceparent_starts_a_trace_of_its_own(header: str) -> None:
    tracer, _ = _tracer()
    span = tracer.request_span("chat m", header)
    assert isinstance(span, RecordedSpan)
    assert (span.parent_id, span.parent_remote) == (0, False)
    assert span.trace_id != TRACE_ID


def test_a_later_versions_traceparent_is_read_for_the_fields_version_00_has() -> None:
    tracer, _ = _tracer()
    span = tracer.request_span("chat m", "cc" + PARENT[2:] + "-what-comes-later")
    assert isinstance(span, RecordedSpan)
    assert (span.trace_id, span.parent_id) == (TRACE_ID, PARENT_ID)


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.5, 1.0])
def test_the_ratio_samples_the_same_traces_as_the_sdks_sampler(ratio: float) -> None:
    tracer, _ = _tracer(ratio, seed=11)
    reference = TraceIdRatioBased(ratio)
    ids = random.Random(11)  # the tracer's draws, replayed
    sampled = 0
    for _ in range(2_000):
        span = tracer.request_span("chat m", None)
        trace_id = ids.getrandbits(128) or 1
        expected = reference.should_sample(None, trace_id, "chat m").decision
        assert span.is_recording() == (expected is Decision.RECORD_AND_SAMPLE)
        if span.is_recording():
            assert isinstance(span, RecordedSpan) and span.trace_id == trace_id
            ids.getrandbits(64)  # its span id
            sampled += 1
    assert sampled == pytest.approx(2_000 * ratio, abs=100)


def test_children_nest_under_the_current_span_and_pass_their_own_id_upstream() -> None:
    tracer, records = _tracer()
    request = tracer.request_span("chat m", None)
    assert isinstance(request, RecordedSpan)
    with tracer.use(request):
        assert current_span.get() is request
        with tracer.use(tracer.child("stage forward", SpanKind.INTERNAL)) as stage:
            attempt = tracer.child("chat upstream", SpanKind.CLIENT)
        assert current_span.get() is request
    assert current_span.get() is None
    assert isinstance(stage, RecordedSpan) and isinstance(attempt, RecordedSpan)
    assert attempt.parent_id == stage.span_id and stage.parent_id == request.span_id
    assert {attempt.trace_id, stage.trace_id} == {request.trace_id}
    assert traceparent_of(attempt) == f"00-{request.trace_id:032x}-{attempt.span_id:016x}-01"
    attempt.end()
    assert [record[4] for record in records] == ["stage forward", "chat m", "chat upstream"]


def test_outside_any_span_a_child_is_the_invalid_span_and_sends_no_traceparent() -> None:
    tracer, records = _tracer()
    span = tracer.child("chat upstream", SpanKind.CLIENT)
    assert span is INVALID_SPAN and traceparent_of(span) is None
    assert records == []


def test_an_exception_leaving_a_span_is_its_error_and_an_event() -> None:
    tracer, records = _tracer()
    with pytest.raises(LookupError), tracer.use(tracer.request_span("chat m", None)):
        raise LookupError("no such model")
    ((*_, status_code, description, events),) = records
    assert status_code == StatusCode.ERROR.value
    assert description == "LookupError: no such model"
    ((name, _at, attributes),) = events
    assert name == "exception"
    assert attributes["exception.type"] == "LookupError"
    assert attributes["exception.message"] == "no such model"


def test_status_and_attributes_behave_as_the_sdks() -> None:
    tracer, records = _tracer()
    span = tracer.request_span("chat m", None)
    span.set_status(Status(StatusCode.ERROR, "upstream failed"))
    span.set_attributes({"router.attempts": 2, "router.stream": False})
    span.set_attribute("ignored.list", ["not", "kept"])  # not a value the records carry
    span.set_status(StatusCode.OK)
    span.set_status(StatusCode.ERROR, "after OK")  # OK is final
    span.end(end_time=span.start_ns + 5)  # type: ignore[attr-defined]
    span.end()  # a second end records nothing
    assert not span.is_recording()
    ((*_, start_ns, end_ns, attributes, status_code, description, _events),) = records
    assert end_ns - start_ns == 5
    assert attributes == {"router.attempts": 2, "router.stream": False}
    assert (status_code, description) == (StatusCode.OK.value, "")


def test_a_record_becomes_the_sdk_span_it_describes() -> None:
    tracer, records = _tracer()
    request = tracer.request_span("chat m", PARENT, {"gen_ai.request.model": "m"})
    assert isinstance(request, RecordedSpan)
    attempt = tracer.child_of(request, "chat upstream", SpanKind.CLIENT, request.start_ns + 10)
    attempt.set_status(StatusCode.ERROR, "upstream_status_500")
    attempt.end(request.start_ns + 20)
    request.end(request.start_ns + 30)
    resource = Resource.create({"service.name": "edge-router-test"})
    client, server = (readable_span(record, resource) for record in records)
    assert server.context.trace_id == client.context.trace_id == TRACE_ID
    assert server.context.span_id == request.span_id
    assert server.parent is not None and server.parent.span_id == PARENT_ID
    assert server.parent.is_remote
    assert client.parent is not None and client.parent.span_id == request.span_id
    assert not client.parent.is_remote
    assert client.kind is SpanKind.CLIENT and server.kind is SpanKind.SERVER
    assert client.status.status_code is StatusCode.ERROR
    assert client.status.description == "upstream_status_500"
    assert server.status.status_code is StatusCode.UNSET
    assert (server.start_time, server.end_time) == (request.start_ns, request.start_ns + 30)
    assert dict(server.attributes or {}) == {"gen_ai.request.model": "m"}
    assert server.resource.attributes["service.name"] == "edge-router-test"
    assert server.instrumentation_scope is not None
    assert server.instrumentation_scope.name == "edge-router"
