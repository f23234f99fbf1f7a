"""The exporter process: reads finished spans from the router on its standard input and exports
them with the OpenTelemetry SDK's exporter (OTLP/HTTP, or the console for debugging).

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
import sys
from collections.abc import Sequence
from typing import BinaryIO

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter

from router.telemetry.otlp_encoding import OtlpTraceEncoder
from router.telemetry.otlp_sender import OtlpHttpSender, headers_from
from router.telemetry.span_records import SCOPE, readable_span
from router.telemetry.spans import SpanRecord

# A frame larger than this is not one the router writes (it flushes every 500 records).
MAX_FRAME_BYTES = 64 * 1024 * 1024
# Spans per export request: collectors refuse requests over a few MB.
EXPORT_BATCH = 512

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


class _OtlpOut:
    """Records encoded directly (`router.telemetry.otlp_encoding`) and sent over HTTP."""

    def __init__(self, sender: OtlpHttpSender, encoder: OtlpTraceEncoder) -> None:
        self._sender = sender
        self._encoder = encoder

    def export(self, records: Sequence[SpanRecord]) -> None:
        self._sender.send(self._encoder.encode(records))

    def shutdown(self) -> None:
        self._sender.close()


class _SdkOut:
    """Records made into the SDK's spans for one of its exporters (the console's)."""

    def __init__(self, exporter: SpanExporter, resource: Resource) -> None:
        self._exporter = exporter
        self._resource = resource

    def export(self, records: Sequence[SpanRecord]) -> None:
        self._exporter.export([readable_span(record, self._resource) for record in records])

    def shutdown(self) -> None:
        self._exporter.shutdown()


def export_all(stream: BinaryIO, out: _OtlpOut | _SdkOut) -> int:
    """Export every span read from `stream` until it ends; returns how many."""
    exported = 0
    while (body := read_frame(stream)) is not None:
        records = marshal.loads(body)
        for start in range(0, len(records), EXPORT_BATCH):
            out.export(records[start : start + EXPORT_BATCH])
        exported += len(records)
    return exported


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
    out: _OtlpOut | _SdkOut
    if args.exporter == "console":
        out = _SdkOut(ConsoleSpanExporter(), resource)
    else:
        sender = OtlpHttpSender(args.endpoint, args.timeout_s, args.gzip, headers_from(os.environ))
        attributes = {
            k: v for k, v in resource.attributes.items() if isinstance(v, str | bool | int | float)
        }
        out = _OtlpOut(sender, OtlpTraceEncoder(attributes, SCOPE.name))
    try:
        export_all(sys.stdin.buffer, out)
    finally:
        out.shutdown()


if __name__ == "__main__":
    main()
