"""`SpanRecord`s encoded as an OTLP `ExportTraceServiceRequest` (protobuf), written directly.

The SDK's way (`ReadableSpan`s, then `encode_spans`, which builds a message object per span, per
attribute and per value) cost the exporter process about 115 us of CPU per request of two spans,
and building the generated message classes directly still about 80 us; writing the wire format
from the records costs a fraction of that (docs/benchmarks.md, "What tracing costs"). The bytes
parse to the message the SDK's encoder builds for the same spans
(`tests/observability/test_otlp_encoding.py` checks it against `encode_spans`).

A key with its string or boolean value is encoded once and kept (bounded): the names of models,
endpoints, regions and operations repeat from span to span.

Wire format: https://protobuf.dev/programming-guides/encoding/, messages of
opentelemetry-proto's `trace/v1/trace.proto` and `common/v1/common.proto`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

from router.telemetry.spans import AttributeValue, EventRecord, SpanFields, SpanRecord

# Span.flags: the parent's "is remote" is known (0x100), and true (0x200).
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_MAX_KEY_VALUES = 4096
_ERROR = 2  # StatusCode.ERROR, in the API and the protocol alike
_FIXED64 = struct.Struct("<Q")
_DOUBLE = struct.Struct("<d")
_FIXED32 = struct.Struct("<I")


def _varint(value: int) -> bytes:
    if value < 0:  # int64: ten bytes of two's complement
        value += 1 << 64
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag, its length, its bytes."""
    return tag + _varint(len(payload)) + payload


def _any_value(value: AttributeValue) -> bytes:
    if isinstance(value, bool):  # before int: a bool is an int
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + _varint(value)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE.pack(value)
    return _field(b"\x0a", value.encode("utf-8", "surrogatepass"))


def _key_value(key: str, value: AttributeValue) -> bytes:
    return _field(b"\x0a", key.encode("utf-8", "surrogatepass")) + _field(
        b"\x12", _any_value(value)
    )


class OtlpTraceEncoder:
    """Encodes records as one export request under a fixed resource and scope."""

    def __init__(self, resource: Mapping[str, AttributeValue], scope_name: str) -> None:
        # A field of a key with a string or boolean value, encoded once (bounded).
        self._pairs: dict[tuple[bytes, str, str | bool], bytes] = {}
        self._keys: dict[str, bytes] = {}  # a key's field, for numbers (bounded)
        self._resource = _field(b"\x0a", b"".join(self._attributes(b"\x0a", resource)))
        self._scope = _field(b"\x0a", _field(b"\x0a", scope_name.encode()))

    def encode(self, records: Sequence[SpanRecord]) -> bytes:
        return self.request(self.spans(records))

    def spans(self, records: Sequence[SpanRecord]) -> bytes:
        """The records as the `spans` fields of a scope's spans; join several and pass them to
        `request` (encoding as spans arrive, sending a larger request now and then)."""
        return b"".join(_field(b"\x12", self._span(record)) for record in records)

    def request(self, spans: bytes) -> bytes:
        """An export request holding `spans` under the resource and scope."""
        scope_spans = _field(b"\x12", self._scope + spans)
        return _field(b"\x0a", self._resource + scope_spans)

    def _attributes(self, tag: bytes, attributes: Mapping[str, AttributeValue]) -> list[bytes]:
        """Each attribute as a `KeyValue` field with `tag`."""
        pairs, keys = self._pairs, self._keys
        encoded: list[bytes] = []
        for key, value in attributes.items():
            if isinstance(value, str | bool):
                pair = (tag, key, value)
                known = pairs.get(pair)
                if known is None:
                    known = _field(tag, _key_value(key, value))
                    if len(pairs) < _MAX_KEY_VALUES:
                        pairs[pair] = known
                encoded.append(known)
                continue
            key_field = keys.get(key)
            if key_field is None:
                key_field = _field(b"\x0a", key.encode("utf-8", "surrogatepass"))
                if len(keys) < _MAX_KEY_VALUES:
                    keys[key] = key_field
            if isinstance(value, float):
                key_value = key_field + b"\x12\x09\x21" + _DOUBLE.pack(value)
            else:
                number = _varint(value)
                key_value = key_field + b"\x12" + bytes((len(number) + 1,)) + b"\x18" + number
            encoded.append(tag + _varint(len(key_value)) + key_value)
        return encoded

    def _event(self, event: EventRecord) -> bytes:
        name, at_ns, attributes = event
        return b"".join(
            (
                b"\x09" + _FIXED64.pack(at_ns),
                _field(b"\x12", name.encode("utf-8", "surrogatepass")),
                *self._attributes(b"\x1a", attributes),
            )
        )

    def _span(self, record: SpanRecord) -> bytes:
        span = SpanFields(*record)
        status_code, status_description = span.status_code, span.status_description
        status = b""
        if status_description and status_code == _ERROR:  # a description is an error's only
            status += _field(b"\x12", status_description.encode("utf-8", "surrogatepass"))
        if status_code:
            status += b"\x18" + _varint(status_code)
        parent_id = span.parent_id
        parts = [
            b"\x0a\x10" + span.trace_id.to_bytes(16, "big"),
            b"\x12\x08" + span.span_id.to_bytes(8, "big"),
        ]
        if parent_id:
            parts.append(b"\x22\x08" + parent_id.to_bytes(8, "big"))
        parts += (
            _field(b"\x2a", span.name.encode("utf-8", "surrogatepass")),
            b"\x30" + _varint(span.kind + 1),  # the API's INTERNAL is 0, the protocol's 1
            b"\x39" + _FIXED64.pack(span.start_ns),
            b"\x41" + _FIXED64.pack(span.end_ns),
            *self._attributes(b"\x4a", span.attributes),
            *(_field(b"\x5a", self._event(event)) for event in span.events),
            _field(b"\x7a", status),
            b"\x85\x01"
            + _FIXED32.pack(
                _HAS_IS_REMOTE | (_IS_REMOTE if parent_id and span.parent_remote else 0)
            ),
        )
        return b"".join(parts)
