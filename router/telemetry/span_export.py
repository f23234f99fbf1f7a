"""The exporter process: reads finished spans from the router on its standard input and exports
them over OTLP/HTTP (or prints them with the SDK's console exporter, for debugging).

It runs beside the router (`router.telemetry.span_pipe` starts it), so encoding the spans and
sending them takes no time from the router's event loop nor its GIL. OTLP export requests are
written directly from the records (`otlp_encoding`) and sent by `otlp_sender`. Input is
frames of a 4-byte big-endian length and a `marshal`led list of `SpanRecord`s, written only by the
router that started it. It exits when its input ends (the router stopped, or died), after
exporting what it read.

    python -m router.telemetry.span_export --exporter otlp --endpoint URL --service-name NAME \
        [--timeout-s 10] [--gzip]
"""

from __future__ import annotations

import argparse
import logging
import marshal
import os
import select
import sys
import time
from collections.abc import Sequence
from typing import BinaryIO, Protocol

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter

from router.telemetry.otlp_encoding import OtlpTraceEncoder
from router.telemetry.otlp_sender import OtlpHttpSender, headers_from
from router.telemetry.span_records import SCOPE, readable_span
from router.telemetry.spans import SpanRecord

# A frame larger than this is not one the router writes (it flushes every 500 records).
MAX_FRAME_BYTES = 64 * 1024 * 1024
# Spans per export request, and how long a span may wait for others to go with it. The router
# hands spans over every 20 ms, so that encoding them here comes in short slices; each export
# request costs this process about a millisecond (the HTTP client), so few large requests cost
# least: at 512 spans a request (the SDK's default batch) this process took 35-40 us of CPU per
# request of two spans at 1,000 req/s, at 2,048 about 30 (docs/benchmarks.md, "What tracing
# costs"). A request is sent at `EXPORT_BYTES` whatever the count, well under the bodies
# collectors take (the OpenTelemetry Collector's default limit is 20 MiB): spans that carry a
# tenant's logged prompts are large.
EXPORT_BATCH = 2048
EXPORT_BYTES = 2 * 1024 * 1024
SEND_AFTER_S = 1.0

log = logging.getLogger("edge_router.span_export")


def frame(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def read_frame(stream: BinaryIO) -> bytes | None:
    """The next frame's body, or None at the end of the input."""
    head = _read_exactly(stream, 4)
    if head is None:
        return None
    size = int.from_bytes(head, "big")
    if size > MAX_FRAME_BYTES:
        raise ValueError(f"a frame of {size} bytes is not the router's")
    return _read_exactly(stream, size)


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    parts: list[bytes] = []
    left = size
    while left:
        part = stream.read(left)
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


class SpanSender(Protocol):
    def send(self, body: bytes) -> bool: ...

    def close(self) -> None: ...


class OtlpOut:
    """Records encoded directly (`router.telemetry.otlp_encoding`) as they arrive, sent over
    HTTP once `EXPORT_BATCH` spans or `EXPORT_BYTES` are waiting, or the first of them has waited
    `SEND_AFTER_S`."""

    def __init__(self, sender: SpanSender, encoder: OtlpTraceEncoder) -> None:
        self._sender = sender
        self._encoder = encoder
        self._pending: list[bytes] = []
        self._count = 0
        self._bytes = 0
        self._since = 0.0

    def add(self, records: Sequence[SpanRecord]) -> None:
        if not self._count:
            self._since = time.monotonic()
        spans = self._encoder.spans(records)
        self._pending.append(spans)
        self._count += len(records)
        self._bytes += len(spans)
        if self._count >= EXPORT_BATCH or self._bytes >= EXPORT_BYTES:
            self.send()

    def wait_s(self) -> float | None:
        """How long the spans waiting may wait still, or None when none wait."""
        if not self._count:
            return None
        return max(0.0, self._since + SEND_AFTER_S - time.monotonic())

    def send(self) -> None:
        if self._count:
            body = self._encoder.request(b"".join(self._pending))
            self._pending, self._count, self._bytes = [], 0, 0
            self._sender.send(body)

    def shutdown(self) -> None:
        self.send()
        self._sender.close()


class SdkOut:
    """Records made into the SDK's spans for one of its exporters (the console's), at once."""

    def __init__(self, exporter: SpanExporter, resource: Resource) -> None:
        self._exporter = exporter
        self._resource = resource

    def add(self, records: Sequence[SpanRecord]) -> None:
        self._exporter.export([readable_span(record, self._resource) for record in records])

    def wait_s(self) -> float | None:
        return None

    def send(self) -> None:
        return None

    def shutdown(self) -> None:
        self._exporter.shutdown()


def export_all(stream: BinaryIO, out: OtlpOut | SdkOut) -> int:
    """Export every span read from `stream` until it ends; returns how many. `stream` should be
    unbuffered: waiting for input looks at its file descriptor."""
    exported = 0
    while True:
        wait_s = out.wait_s()
        if wait_s is not None and not select.select([stream], [], [], wait_s)[0]:
            out.send()  # waited long enough: no more input for now
            continue
        body = read_frame(stream)
        if body is None:
            return exported
        records = marshal.loads(body)
        out.add(records)
        exported += len(records)


def _yield_to_the_router() -> None:
    """Serving requests comes first: on a core the router shares, this process runs only when
    the router waits (Linux's SCHED_IDLE: any ordinary task that wakes preempts it). Measured at
    1,000 req/s with the exporter on the router's core, a nice value of 10 still let it take
    slices of milliseconds from the router, and p99 grew by 4-8 ms (docs/benchmarks.md)."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux
        os.nice(19)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exporter", choices=("otlp", "console"), required=True)
    parser.add_argument("--endpoint", default="http://127.0.0.1:4318/v1/traces")
    parser.add_argument("--service-name", default="edge-router")
    parser.add_argument("--timeout-s", type=float, default=10.0)
    parser.add_argument("--gzip", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    _yield_to_the_router()
    resource = Resource.create({"service.name": args.service_name})
    out: OtlpOut | SdkOut
    if args.exporter == "console":
        out = SdkOut(ConsoleSpanExporter(), resource)
    else:
        sender = OtlpHttpSender(args.endpoint, args.timeout_s, args.gzip, headers_from(os.environ))
        attributes = {
            k: v for k, v in resource.attributes.items() if isinstance(v, str | bool | int | float)
        }
        out = OtlpOut(sender, OtlpTraceEncoder(attributes, SCOPE.name))
    try:
        # Unbuffered: `select` sees what the descriptor holds, never bytes a buffer took ahead.
        export_all(os.fdopen(sys.stdin.fileno(), "rb", buffering=0), out)
    finally:
        out.shutdown()


if __name__ == "__main__":
    main()
