"""Spans exported by the exporter process (`router.telemetry.span_pipe`, `span_export`), as a
collector receives them: decoded from the protobuf the SDK's OTLP exporter sent to a loopback
receiver, continuing the client's trace, the upstream told its parent; the exporter started again
when it dies, and spans dropped and counted, never queued without bound, when it falls behind."""

from __future__ import annotations

import asyncio
import contextlib
import marshal
import os
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from router.config.model import TracingSettings
from router.telemetry.otlp_encoding import OtlpTraceEncoder
from router.telemetry.span_export import (
    EXPORT_BATCH,
    EXPORT_BYTES,
    SEND_AFTER_S,
    OtlpOut,
    export_all,
    frame,
)
from router.telemetry.span_pipe import MAX_BUFFERED_BYTES, SpanPipe
from router.telemetry.spans import SpanRecord
from tests.observability.otlp_receiver import otlp_receiver
from tests.stack import running_stack

CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Which river runs through Porto?"}],
}
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


@asynccontextmanager
async def _collector() -> AsyncIterator[tuple[str, list[tuple[dict[str, Any], ProtoSpan]]]]:
    """An OTLP/HTTP trace receiver: every span received, with its resource's attributes."""
    received: list[tuple[dict[str, Any], ProtoSpan]] = []

    async def traces(request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest.FromString(await request.read())
        for resource_spans in export.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                received.extend((resource, span) for span in scope.spans)
        return web.Response(status=200, content_type="application/x-protobuf")

    async with otlp_receiver("/v1/traces", traces) as endpoint:
        yield endpoint, received


async def _until(check: Callable[[], Awaitable[bool] | bool], timeout_s: float = 15.0) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            outcome = check()
            if outcome if isinstance(outcome, bool) else await outcome:
                return
            await asyncio.sleep(0.05)


def _attributes(span: ProtoSpan) -> dict[str, Any]:
    return {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in span.attributes}


@pytest.mark.asyncio
async def test_a_collector_gets_the_requests_trace_continuing_the_clients() -> None:
    async with _collector() as (endpoint, received):
        tracing = {"exporter": "otlp", "otlp_endpoint": endpoint, "service_name": "pop-lis"}
        async with running_stack(overrides={"telemetry": {"tracing": tracing}}) as stack:
            client = stack.client(
                default_headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"}
            )
            await client.chat.completions.create(**CHAT)
            # Sent within a flush interval, while the router runs.
            await _until(lambda: len(received) >= 2)
            upstream = [
                r
                for region in ("us-east", "eu-west", "ap-south")
                for r in await stack.received(region)
                if r["path"].endswith("/chat/completions")
            ]
            async with stack.http.get(f"{stack.url}/metrics") as response:
                metrics = await response.text()
    by_kind = {span.kind: (resource, span) for resource, span in received}
    resource, server = by_kind[ProtoSpan.SPAN_KIND_SERVER]
    _, attempt = by_kind[ProtoSpan.SPAN_KIND_CLIENT]
    assert resource["service.name"] == "pop-lis"
    assert server.trace_id.hex() == attempt.trace_id.hex() == CLIENT_TRACE
    assert server.parent_span_id.hex() == CLIENT_SPAN
    assert attempt.parent_span_id == server.span_id
    assert server.name == "chat gpt-4o-mini"
    assert _attributes(server)["gen_ai.usage.output_tokens"] > 0
    assert _attributes(attempt)["router.endpoint"] == _attributes(server)["router.endpoint"]
    assert attempt.start_time_unix_nano >= server.start_time_unix_nano
    assert attempt.end_time_unix_nano <= server.end_time_unix_nano
    # The upstream was told the attempt's span is its parent, in the client's trace.
    (sent,) = upstream
    assert sent["headers"]["traceparent"] == f"00-{CLIENT_TRACE}-{attempt.span_id.hex()}-01"
    assert 'router_trace_spans_total{outcome="sent"} 2.0' in metrics


@pytest.mark.asyncio
async def test_spans_of_the_last_requests_are_exported_when_the_router_stops() -> None:
    async with _collector() as (endpoint, received):
        tracing = {"exporter": "otlp", "otlp_endpoint": endpoint}
        async with running_stack(overrides={"telemetry": {"tracing": tracing}}) as stack:
            client = stack.client()
            for _ in range(3):
                await client.chat.completions.create(**CHAT)
        # No waiting: stopping the router handed the exporter what was left and let it finish.
        kinds = [span.kind for _, span in received]
    assert kinds.count(ProtoSpan.SPAN_KIND_SERVER) == 3
    assert kinds.count(ProtoSpan.SPAN_KIND_CLIENT) == 3


def _record(number: int, padding: str = "") -> SpanRecord:
    """A span record; its attribute is a string of its own (marshal writes a string it has seen
    in the same frame as a reference)."""
    return (
        number + 1, number + 1, 0, False, f"span {number}", 1, 1_000, 2_000,
        {"padding": f"{number}{padding}"}, 0, "", (),
    )  # fmt: skip


@asynccontextmanager
async def _running(pipe: SpanPipe) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(pipe.run())
    try:
        await _until(lambda: pipe.process is not None and pipe.connected)
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.asyncio
async def test_the_exporter_is_started_again_when_it_dies_and_spans_meanwhile_are_dropped() -> None:
    async with _collector() as (endpoint, received):
        pipe = SpanPipe(TracingSettings(exporter="otlp", otlp_endpoint=endpoint))
        async with _running(pipe):
            pipe(_record(0))
            await _until(lambda: len(received) == 1)
            first = pipe.process
            assert first is not None
            first.kill()
            await _until(lambda: first.returncode is not None and not pipe.connected)
            pipe(_record(1))
            pipe.flush()  # nothing to write to until it is back
            assert pipe.dropped == 1
            await _until(lambda: pipe.starts == 2 and pipe.connected)
            pipe(_record(2))
            await _until(lambda: len(received) == 2)
    assert [span.name for _, span in received] == ["span 0", "span 2"]
    assert pipe.sent == 2


@pytest.mark.asyncio
async def test_a_stalled_exporter_makes_spans_dropped_not_memory() -> None:
    async with _collector() as (endpoint, _received):
        pipe = SpanPipe(TracingSettings(exporter="otlp", otlp_endpoint=endpoint))
        async with _running(pipe):
            process = pipe.process
            assert process is not None and pipe.connected
            os.kill(process.pid, signal.SIGSTOP)  # reads nothing more
            try:
                padding = "x" * 4096
                for number in range(6_000):  # about 25 MB of spans, three times the bound
                    pipe(_record(number, padding))
                    if number % 500 == 0:
                        await asyncio.sleep(0)  # let the loop write what the pipe takes
                pipe.flush()
                buffered = pipe.buffered_bytes()
            finally:
                process.kill()  # what it holds is of no interest
                os.kill(process.pid, signal.SIGCONT)
    assert pipe.dropped > 0
    assert pipe.sent + pipe.dropped == 6_000
    assert buffered <= MAX_BUFFERED_BYTES + 500 * 4200  # the bound and at most one more flush


def test_the_exporter_process_is_told_the_configured_timeout_and_compression() -> None:
    settings = TracingSettings(
        exporter="otlp", otlp_endpoint="http://collector:4318/v1/traces", otlp_timeout_s=3.5
    )
    command = SpanPipe(settings).command()
    assert command[command.index("--endpoint") + 1] == "http://collector:4318/v1/traces"
    assert command[command.index("--timeout-s") + 1] == "3.5"
    assert "--gzip" not in command
    gzipped = settings.model_copy(update={"otlp_compression": "gzip"})
    assert "--gzip" in SpanPipe(gzipped).command()


def test_the_console_exporter_prints_each_span_it_reads_and_exits_at_the_end_of_its_input() -> None:
    pipe = SpanPipe(TracingSettings(exporter="console", service_name="pop-lis"))
    frames = frame(marshal.dumps([_record(0), _record(1)])) + frame(marshal.dumps([_record(2)]))
    done = subprocess.run(pipe.command(), input=frames, capture_output=True, timeout=60, check=True)
    printed = done.stdout.decode()
    assert [f'"span {n}"' in printed for n in range(3)] == [True, True, True]
    assert '"service.name": "pop-lis"' in printed


@pytest.mark.asyncio
async def test_a_record_that_cannot_be_sent_is_dropped_and_counted_not_raised() -> None:
    async with _collector() as (endpoint, received):
        pipe = SpanPipe(TracingSettings(exporter="otlp", otlp_endpoint=endpoint))
        async with _running(pipe):
            number, span_id, *rest = _record(0)
            unsendable: Any = (number, span_id, *rest[:6], {"x": object()}, *rest[7:])
            pipe(unsendable)
            pipe.flush()
            pipe(_record(1))
            await _until(lambda: len(received) == 1)
    assert (pipe.dropped, pipe.sent) == (1, 1)
    assert [span.name for _, span in received] == ["span 1"]


class _Sent:
    """A sender that keeps what it was given."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []

    def send(self, body: bytes) -> bool:
        self.requests.append(ExportTraceServiceRequest.FromString(body))
        return True

    def close(self) -> None:
        pass


def _names(request: ExportTraceServiceRequest) -> list[str]:
    return [span.name for r in request.resource_spans for s in r.scope_spans for span in s.spans]


def test_the_exporter_encodes_spans_as_they_come_and_sends_them_together() -> None:
    sent = _Sent()
    out = OtlpOut(sent, OtlpTraceEncoder({"service.name": "pop-lis"}, "edge-router"))
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "rb", buffering=0) as stream:
        exporting = threading.Thread(target=export_all, args=(stream, out))
        exporting.start()
        with os.fdopen(write_fd, "wb", buffering=0) as pipe:
            for number in range(3):  # three hand-overs, one request
                pipe.write(frame(marshal.dumps([_record(number)])))
            # Nothing more comes: the spans are sent when the first has waited SEND_AFTER_S.
            deadline = time.monotonic() + SEND_AFTER_S + 10.0
            while not sent.requests and time.monotonic() < deadline:
                time.sleep(0.02)
            assert [_names(r) for r in sent.requests] == [["span 0", "span 1", "span 2"]]
            pipe.write(frame(marshal.dumps([_record(3)])))
        exporting.join(10.0)  # the input ended; shutting down sends what is left
    out.shutdown()
    assert not exporting.is_alive()
    assert [_names(r) for r in sent.requests] == [["span 0", "span 1", "span 2"], ["span 3"]]


def test_a_request_is_sent_at_the_batch_size_or_at_the_byte_bound_whichever_comes_first() -> None:
    sent = _Sent()
    out = OtlpOut(sent, OtlpTraceEncoder({"service.name": "pop-lis"}, "edge-router"))
    out.add([_record(number) for number in range(EXPORT_BATCH - 1)])
    assert not sent.requests
    out.add([_record(EXPORT_BATCH - 1)])
    assert [len(_names(r)) for r in sent.requests] == [EXPORT_BATCH]
    # Large spans (a tenant's logged prompts): sent at the byte bound, long before the count.
    large = [_record(number, "x" * (EXPORT_BYTES // 4)) for number in range(4)]
    for record in large[:3]:
        out.add([record])
    assert len(sent.requests) == 1
    out.add([large[3]])
    assert [len(_names(r)) for r in sent.requests] == [EXPORT_BATCH, 4]
    out.shutdown()
    assert len(sent.requests) == 2  # nothing was left waiting
