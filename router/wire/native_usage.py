"""Token usage of an answer in a native API, an OpenAI Responses `Response` or an Anthropic
Messages `Message`: whole (`usage_from_native_body`) or streamed (`NativeStreamUsageCounter`).

A usage object is read as the API's translation to Chat Completions reads it
(`router.wire.upstream_responses.answer.chat_usage`, `router.wire.upstream_messages.answer.
chat_usage`), so that an answer passed through is accounted as a translated one is: the input
counts the whole prompt, of which `cached_input_tokens` were read from the prompt cache.
Anthropic's own `input_tokens` leaves out the tokens read from and written to the cache; they
are added back.

A stream is relayed as it arrives, never re-framed, and its usage taken in passing, as
`router.wire.sse.StreamUsageCounter` takes a chat stream's: in memory bounded whatever the
stream's length (at most `2 * _TAIL_BYTES` of its end, and `_HEAD_BYTES` of its start for
Messages), and in work linear in it.
- Responses reports its usage once, in its final event (`response.completed`, or
  `response.incomplete` or `response.failed`), as the `usage` of the Response the event carries.
  That event holds the whole answer, so it is not kept whole: its usage object is the stream's
  last `"usage":{`, in the kept end (a Response's `usage` comes after its output, tools and
  settings; only `user` and `metadata`, whose values are strings, may follow it).
- Messages reports its input counts in `message_start` (the first event, in the kept start) and
  its cumulative counts in `message_delta` (the last but one, in the kept end); those of
  `message_delta` overwrite those of `message_start`, as Anthropic's client accumulates them.
Without a report the output is counted, one token a content delta (a Responses event's
`"delta":"`, a Messages `content_block_delta`), and the input estimated; a Messages stream cut
before its `message_delta` keeps the input its `message_start` reported.
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson

from router.wire.native import NativeApi
from router.wire.sse import StreamEnding
from router.wire.upstream_messages.answer import chat_usage as chat_usage_of_message
from router.wire.upstream_responses.answer import chat_usage as chat_usage_of_response
from router.wire.usage import Usage, usage_from_body

# The end of a stream kept: enough for a Response's `usage` and the `user` and `metadata` after
# it (16 pairs of at most 64 and 512 characters), or for a Message's last two events.
_TAIL_BYTES: Final = 16 * 1024
# The start of a Messages stream kept: its `message_start` (under 1 KB in practice).
_HEAD_BYTES: Final = 8 * 1024
# A usage object is well within this: its counts, and their details.
_USAGE_BYTES: Final = 2048
_USAGE_KEYS: Final = (b'"usage":{', b'"usage": {')
# What each content delta of a stream has once (in a JSON string, a quote is escaped: `\"`).
_DELTA_MARKERS: Final[dict[NativeApi, bytes]] = {
    "responses": b'"delta":"',
    "messages": b'"type":"content_block_delta"',
}
# The event that opens a stream, with the answer's model.
_OPENING_EVENTS: Final[dict[NativeApi, bytes]] = {
    "responses": b'"response.created"',
    "messages": b'"message_start"',
}
# The events that close a stream's answer: without one it is not whole.
_CLOSING_EVENTS: Final[dict[NativeApi, tuple[bytes, ...]]] = {
    "responses": (b'"response.completed"', b'"response.incomplete"', b'"response.failed"'),
    "messages": (b'"message_stop"',),
}
_DECODER: Final = json.JSONDecoder()


def usage_from_native_body(api: NativeApi, body: Any) -> Usage | None:
    """The usage a Response or a Message reports, if it reports its input."""
    return _usage_of(api, body.get("usage") if isinstance(body, dict) else None)


def native_response_model_in(api: NativeApi, head: bytes) -> str:
    """The model of a native stream, from its first bytes, found without decoding its opening
    event: the first `"model":"` after the event's type is its Response's or Message's `model`
    (before it come only their id, type, role and status, and a Response's `instructions`,
    which, being a string or input items, holds no such key unescaped)."""
    opening = head.find(_OPENING_EVENTS[api])
    start = head.find(b'"model":"', opening) if opening >= 0 else -1
    if start < 0:
        return ""
    start += len(b'"model":"')
    end = head.find(b'"', start)
    return head[start:end].decode("utf-8", "replace") if end > start else ""


class NativeStreamUsageCounter:
    """A native stream's usage: `feed` it every chunk, then ask for its `usage`."""

    __slots__ = ("_api", "_closed", "_deltas", "_head", "_marker", "_tail")

    def __init__(self, api: NativeApi) -> None:
        self._api = api
        self._marker = _DELTA_MARKERS[api]
        self._deltas = 0
        # Messages: the stream's first `_HEAD_BYTES`. Both: its last bytes, cut back to
        # `_TAIL_BYTES` when they pass twice that (a bytearray drops its start in place).
        self._head = bytearray()
        self._tail = bytearray()
        self._closed = False  # a closing event seen (whole in a chunk)

    def feed(self, chunk: bytes) -> None:
        if not self._closed:
            self._closed = any(closer in chunk for closer in _CLOSING_EVENTS[self._api])
        marker, tail = self._marker, self._tail
        # A marker cut between two chunks is counted when its last byte comes, from the end of
        # the ones before (shorter than a marker) and the start of this one.
        overlap = len(marker) - 1
        self._deltas += chunk.count(marker) + (tail[-overlap:] + chunk[:overlap]).count(marker)
        tail += chunk
        if len(tail) > 2 * _TAIL_BYTES:
            del tail[:-_TAIL_BYTES]
        if self._api == "messages" and len(self._head) < _HEAD_BYTES:
            self._head += chunk[: _HEAD_BYTES - len(self._head)]

    def ending(self) -> StreamEnding:
        """`whole` once its closing event came (`response.completed`, `.incomplete` or `.failed`;
        `message_stop`), else `cut`: an answer in these APIs is not whole without it."""
        closers = _CLOSING_EVENTS[self._api]
        closed = self._closed or any(closer in self._tail for closer in closers)
        return "whole" if closed else "cut"

    def usage(self, estimated_input_tokens: int) -> Usage:
        if self._api == "messages":
            return self._message_usage(estimated_input_tokens)
        reported = _usage_of("responses", _last_usage_object(self._tail))
        if reported is not None:
            return reported
        return Usage(estimated_input_tokens, self._deltas, counted=True)

    def _message_usage(self, estimated_input_tokens: int) -> Usage:
        message = _mapping(_event_at(self._head, "message_start").get("message"))
        started = _mapping(message.get("usage"))
        ended = _mapping(_event_at(self._tail, "message_delta").get("usage"))
        if ended:
            counts = {**started, **{name: n for name, n in ended.items() if n is not None}}
            reported = _usage_of("messages", counts)
            if reported is not None:
                return reported
        # Cut before its end: the input as reported, the output counted.
        opened = _usage_of("messages", started)
        if opened is not None:
            return Usage(opened.input_tokens, self._deltas, True, opened.cached_input_tokens)
        return Usage(estimated_input_tokens, self._deltas, counted=True)


def _usage_of(api: NativeApi, usage: object) -> Usage | None:
    """A native usage object as a `Usage`, when it reports the input."""
    if not isinstance(usage, dict) or type(usage.get("input_tokens")) is not int:
        return None
    chat_usage = chat_usage_of_response if api == "responses" else chat_usage_of_message
    return usage_from_body({"usage": chat_usage(usage)})


def _last_usage_object(tail: bytearray) -> object:
    """The object of the last `"usage":{` in `tail`, decoded from there on (the event around it
    may have begun before the tail)."""
    at = max(tail.rfind(key) for key in _USAGE_KEYS)
    if at < 0:
        return None
    start = tail.index(b"{", at)
    text = tail[start : start + _USAGE_BYTES].decode("utf-8", "replace")
    try:
        return _DECODER.raw_decode(text)[0]
    except (ValueError, RecursionError):
        return None


def _event_at(buffer: bytearray, event_type: str) -> dict[str, Any]:
    """The data of the last `event_type` event in `buffer`, decoded ({} when there is none or
    its data line is not all there; Anthropic sends each event's data on one line)."""
    at = buffer.rfind(b'"' + event_type.encode() + b'"')
    start = buffer.rfind(b"data:", 0, at) if at >= 0 else -1
    end = buffer.find(b"\n", at) if start >= 0 else -1
    if end < 0:
        return {}
    try:
        data = _mapping(orjson.loads(buffer[start + 5 : end]))
    except orjson.JSONDecodeError:
        return {}
    return data if data.get("type") == event_type else {}


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
