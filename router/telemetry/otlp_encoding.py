"""`SpanRecord`s encoded as an OTLP `ExportTraceServiceRequest` (protobuf), written directly.

The SDK's way (`ReadableSpan`s, then `encode_spans`, which builds a message object per span, per
attribute and per value) cost the exporter process about 115 us of CPU per request of two spans,
and building the generated message classes directly still about 80 us; writing the wire format
from the records costs about 11 us (docs/benchmarks.md, "What tracing costs"). The bytes
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

from router.telemetry.spans import AttributeValue, EventRecord, SpanRecord

# Span.flags: the parent's "is remote" is known (0x100), and true (0x200).
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_MAX_KEY_VALUES = 4096
_ERROR = 2  # StatusCode.ERROR, in the API and the protocol alike
_FIXED64 = struct.Struct("<Q")
_DOUBLE = struct.Struct("<d")
_FIXED32 = struct.Struct("<I")


def _varint(value: int) -> bytes:
    if 0 <= value < 0x80:
        return _SMALL[value]
    if value < 0:  # int64: ten bytes of two's complement
        value += 1 << 64
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = tuple(bytes((value,)) for value in range(0x80))


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
        self._pairs: dict[tuple[bytes, str, AttributeValue], bytes] = {}  # str and bool only
        # A number's field up to its value, by tag, key, type and the value's size (bounded).
        self._prefixes: dict[tuple[bytes, str, bool, int], bytes] = {}
        self._names: dict[str, bytes] = {}  # a span name's field (bounded)
        self._resource = _field(b"\x0a", self._attributes(b"\x0a", resource))
        self._scope = _field(b"\x0a", _field(b"\x0a", scope_name.encode()))

    def encode(self, records: Sequence[SpanRecord]) -> bytes:
        return self.request(self.spans(records))

    def spans(self, records: Sequence[SpanRecord]) -> bytes:
        """The records as the `spans` fields of a scope's spans; join several and pass them to
        `request` (encoding as spans arrive, sending a larger request now and then)."""
        out = bytearray()
        for record in records:
            span = self._span(record)
            out += b"\x12"
            out += _varint(len(span))
            out += span
        return bytes(out)

    def request(self, spans: bytes) -> bytes:
        """An export request holding `spans` under the resource and scope."""
        scope_spans = _field(b"\x12", self._scope + spans)
        return _field(b"\x0a", self._resource + scope_spans)

    def _attributes(self, tag: bytes, attributes: Mapping[str, AttributeValue]) -> bytes:
        """Each attribute as a `KeyValue` field with `tag`, joined. Records carry exactly `str`,
        `bool`, `int` or `float` (`spans._plain`), so the type is looked up, not tested."""
        pairs, prefixes = self._pairs, self._prefixes
        encoded = bytearray()
        for key, value in attributes.items():
            kind = type(value)
            if kind is str or kind is bool:
                pair = (tag, key, value)
                known = pairs.get(pair)
                if known is None:
                    known = _field(tag, _key_value(key, value))
                    if len(pairs) < _MAX_KEY_VALUES:
                        pairs[pair] = known
                encoded += known
                continue
            is_float = kind is float
            number = _DOUBLE.pack(value) if is_float else _varint(value)  # type: ignore[arg-type]
            prefix = prefixes.get((tag, key, is_float, len(number)))
            if prefix is None:
                prefix = self._number_prefix(tag, key, is_float, len(number))
            encoded += prefix
            encoded += number
        return bytes(encoded)

    def _number_prefix(self, tag: bytes, key: str, is_float: bool, size: int) -> bytes:
        """A number's `KeyValue` field up to its value's bytes (`size` of them), kept (bounded):
        its tag and length, the key, and the `AnyValue` up to the number."""
        key_field = _field(b"\x0a", key.encode("utf-8", "surrogatepass"))
        value_tag = b"\x21" if is_float else b"\x18"
        any_value = b"\x12" + _varint(size + 1) + value_tag
        prefix = tag + _varint(len(key_field) + len(any_value) + size) + key_field + any_value
        if len(self._prefixes) < _MAX_KEY_VALUES:
            self._prefixes[(tag, key, is_float, size)] = prefix
        return prefix

    def _event(self, event: EventRecord) -> bytes:
        name, at_ns, attributes = event
        return b"".join(
            (
                b"\x09" + _FIXED64.pack(at_ns),
                _field(b"\x12", name.encode("utf-8", "surrogatepass")),
                self._attributes(b"\x1a", attributes),
            )
        )

    def _span(self, record: SpanRecord) -> bytes:
        (
            trace_id, span_id, parent_id, parent_remote, name, kind, start_ns, end_ns,
            attributes, status_code, status_description, events,
        ) = record  # fmt: skip  # as `SpanFields`, unpacked: a named tuple costs here
        out = bytearray(b"\x0a\x10")
        out += trace_id.to_bytes(16, "big")
        out += b"\x12\x08"
        out += span_id.to_bytes(8, "big")
        if parent_id:
            out += b"\x22\x08"
            out += parent_id.to_bytes(8, "big")
        name_field = self._names.get(name)
        if name_field is None:
            name_field = _field(b"\x2a", name.encode("utf-8", "surrogatepass"))
            if len(self._names) < _MAX_KEY_VALUES:
                self._names[name] = name_field
        out += name_field
        out += _KINDS[kind]  # the API's INTERNAL is 0, the protocol's 1
        out += _TIMES.pack(0x39, start_ns, 0x41, end_ns)
        out += self._attributes(b"\x4a", attributes)
        for event in events:
            out += _field(b"\x5a", self._event(event))
        if status_code or status_description:
            status = b""
            if status_description and status_code == _ERROR:  # a description is an error's only
                status += _field(b"\x12", status_description.encode("utf-8", "surrogatepass"))
            if status_code:
                status += b"\x18" + _varint(status_code)
            out += _field(b"\x7a", status)
        else:
            out += b"\x7a\x00"
        out += _REMOTE_FLAGS if parent_id and parent_remote else _LOCAL_FLAGS
        return bytes(out)


# Span.kind (the API's value + 1), Span.flags.
_KINDS = tuple(b"\x30" + _varint(kind + 1) for kind in range(5))
_TIMES = struct.Struct("<BQBQ")  # start_time_unix_nano (9, fixed64), end_time_unix_nano (10)
_LOCAL_FLAGS = b"\x85\x01" + _FIXED32.pack(_HAS_IS_REMOTE)
_REMOTE_FLAGS = b"\x85\x01" + _FIXED32.pack(_HAS_IS_REMOTE | _IS_REMOTE)
