"""The exporter process's OTLP encoding and sending: the bytes written from span records parse to
the very message the OpenTelemetry SDK's encoder builds for the same spans (the reference), and
the sender retries what the OTLP/HTTP specification calls transient, and only that."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from hypothesis import example, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource

from router.telemetry.otlp_encoding import OtlpTraceEncoder
from router.telemetry.otlp_sender import OtlpHttpSender, headers_from
from router.telemetry.span_records import SCOPE, readable_span
from router.telemetry.spans import SpanRecord
from tests.observability.otlp_receiver import otlp_receiver

RESOURCE = Resource.create({"service.name": "pop-lis", "deployment.environment": "test"})

_texts = st.text(max_size=30)
_values = st.one_of(
    _texts,
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
)
_attributes = st.dictionaries(_texts, _values, max_size=8)
_records = st.lists(
    st.tuples(
        st.integers(1, 2**128 - 1),
        st.integers(1, 2**64 - 1),
        st.one_of(st.just(0), st.integers(1, 2**64 - 1)),
        st.booleans(),
        _texts,
        st.integers(0, 4),
        st.integers(0, 2**63),
        st.integers(0, 2**63),
        _attributes,
        st.integers(0, 2),
        _texts,
        st.lists(st.tuples(_texts, st.integers(0, 2**63), _attributes), max_size=2).map(tuple),
    ),
    max_size=5,
)
NEGATIVE_AND_SURROGATE: SpanRecord = (
    2**128 - 1, 1, 2**64 - 1, True, "chat \U0001f600", 2, 0, 2**63,
    {"n": -1, "f": -0.0, "b": False, "s": ""}, 2, "upstream_status_503",
    (("exception", 5, {"exception.type": "TimeoutError"}),),
)  # fmt: skip


# The same key and value on a span and on its event: two different fields.
SAME_PAIR_TWICE: SpanRecord = (
    1, 1, 0, False, "", 0, 0, 0, {"model": "m"}, 0, "", (("e", 0, {"model": "m"}),),
)  # fmt: skip

# A key's int and float of the same encoded size (eight bytes) on two spans, an error status with
# its description, and a name repeated: the encoder's kept prefixes and names must not mix them.
SAME_KEY_INT_AND_FLOAT: list[SpanRecord] = [
    (1, 1, 0, False, "n", 0, 0, 0, {"x": 2**49}, 2, "boom", ()),
    (1, 2, 1, False, "n", 0, 0, 0, {"x": 1.5}, 1, "", ()),
]  # fmt: skip


def _reference(records: list[SpanRecord]) -> ExportTraceServiceRequest:
    return encode_spans([readable_span(record, RESOURCE) for record in records])


@settings(max_examples=200, deadline=None)
@example([NEGATIVE_AND_SURROGATE])
@example([SAME_PAIR_TWICE])
@example(SAME_KEY_INT_AND_FLOAT)
@example([])
@given(_records)
def test_the_encoding_is_the_sdks_message(records: list[SpanRecord]) -> None:
    resource = {k: v for k, v in RESOURCE.attributes.items() if isinstance(v, str)}
    encoder = OtlpTraceEncoder(resource, SCOPE.name)
    for _ in range(2):  # the second time from the encoder's kept pairs
        ours = ExportTraceServiceRequest.FromString(encoder.encode(records))
        if records:
            assert ours == _reference(records)
        else:  # the SDK sends nothing for no spans; ours is an empty scope under the resource
            assert [len(r.scope_spans[0].spans) for r in ours.resource_spans] == [0]


def test_headers_come_from_the_environment_as_for_the_sdks_exporters(
    caplog: pytest.LogCaptureFixture,
) -> None:
    environ = {
        "OTEL_EXPORTER_OTLP_HEADERS": "ignored=1",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-honeycomb-team=abc%3D%3D, x-dataset = edge ,"
        "x-api-key:sk-secret-9f8e",  # malformed: left out, and its text never logged
    }
    assert headers_from(environ) == {"x-honeycomb-team": "abc==", "x-dataset": "edge"}
    assert "pair 3" in caplog.text
    assert "sk-secret" not in caplog.text
    assert headers_from({"OTEL_EXPORTER_OTLP_HEADERS": "a=b"}) == {"a": "b"}
    assert headers_from({}) == {}


Reply = Callable[[int], web.Response]


@asynccontextmanager
async def _collector(reply: Reply) -> AsyncIterator[tuple[str, list[web.Request], list[bytes]]]:
    """A receiver answering its n-th request (from 0) with `reply(n)`."""
    requests: list[web.Request] = []
    bodies: list[bytes] = []

    async def traces(request: web.Request) -> web.Response:
        requests.append(request)
        bodies.append(await request.read())
        return reply(len(requests) - 1)

    async with otlp_receiver("/v1/traces", traces) as endpoint:
        yield endpoint, requests, bodies


@pytest.mark.asyncio
async def test_a_throttled_batch_is_sent_again_after_retry_after_gzipped_with_the_headers() -> None:
    def reply(n: int) -> web.Response:
        if n == 0:
            return web.Response(status=429, headers={"Retry-After": "0.05"})
        return web.Response(status=200)

    async with _collector(reply) as (endpoint, requests, bodies):
        sender = OtlpHttpSender(endpoint, 5.0, gzip_body=True, headers={"x-team": "edge"})
        assert await asyncio.to_thread(sender.send, b"spans")
    assert len(requests) == 2
    assert bodies == [b"spans", b"spans"]  # as aiohttp decompressed them
    assert requests[1].headers["Content-Encoding"] == "gzip"
    assert requests[1].headers["Content-Type"] == "application/x-protobuf"
    assert requests[1].headers["x-team"] == "edge"


@pytest.mark.asyncio
async def test_a_refused_batch_is_not_retried_and_an_unavailable_one_only_within_the_timeout() -> (
    None
):
    async with _collector(lambda n: web.Response(status=400)) as (endpoint, requests, _):
        assert not await asyncio.to_thread(OtlpHttpSender(endpoint, 5.0).send, b"spans")
    assert len(requests) == 1
    async with _collector(lambda n: web.Response(status=503)) as (endpoint, requests, _):
        # Back-off 0.8-1.2 s (within the 2 s timeout: the second attempt is made), then 1.6-2.4 s,
        # which ends past it whatever the jitter drew (0.8 + 1.6 > 2): the third is not. (With a
        # 2.5 s timeout a low draw of both let a third attempt in.)
        assert not await asyncio.to_thread(OtlpHttpSender(endpoint, 2.0).send, b"spans")
    assert len(requests) == 2
