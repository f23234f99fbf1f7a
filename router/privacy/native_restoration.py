"""Placeholders restored in answers an upstream wrote in the client's own API, the Responses API
or Anthropic's Messages API (native passthrough): a `Response` or a `Message` whole
(`restore_native_body`), or their SSE streams as they pass (`NativeSseRestorer`).
`NativeRestoringFilter` is the privacy stage's response half for them, as `RestoringFilter` is
for Chat Completions answers.

As in `answer_restoration`, only placeholders the request's `Redactor` issued are restored, and
an answer with nothing to restore goes out as it came. Some values are never touched: the
`signature` of a thinking block, the `encrypted_content` of a reasoning item and the `data` of a
redacted_thinking block go back to the upstream and must stay byte for byte what it signed or
encrypted; `logprobs` list the tokens as generated. A call's arguments are JSON source, restored
JSON-escaped (`Redactor.restore_in_json`): the `arguments` of a Responses `function_call`,
`mcp_call` or `mcp_approval_request` item, `response.function_call_arguments.delta`'s and
`response.mcp_call_arguments.delta`'s `delta` and their `.done`'s `arguments`, a Messages
`input_json_delta`'s `partial_json`. A Messages `tool_use` block's `input` is already decoded: its
strings are restored raw, as every other text is.

In a stream, each text that arrives in pieces has its own `StreamRestorer`, keyed by where the
text is: a Responses message's text or refusal (output and content index), a call's arguments
(output index), reasoning (output and summary or content index); a Messages block's text,
input JSON or thinking (block index). What one holds back (a tail that may still become a
placeholder) goes out as a delta event of the field's own shape, its last delta copied with the
tail as its text, just before the event that ends the field: its `.done`, its content part's or
output item's `.done`, `content_block_stop`, the block's `signature_delta` (a thinking block's
text is whole before its signature), or the end of the response (`response.completed`,
`.incomplete`, `.failed`, `message_delta`, `message_stop`, `error`); or at `flush()`. Every other
event is restored whole: `.done` events carry the whole text, `response.completed` the response.

A delta event whose whole piece is held back is still sent, with an empty text: one event goes
out per upstream event, and both official clients append an empty piece as they do any other
(Anthropic itself opens each tool_use block with an empty `input_json_delta`).

Responses events carry a `sequence_number`, and the official client compares them (`starting_after`)
and expects them to rise. An event added for a held tail takes the number after the last event
sent, and every event after it goes out renumbered by the count of events added so far (parsed
and re-encoded): a stream numbered 0..n stays numbered without gap. The other way, putting the
tail into the `.done` event that follows, would keep the upstream's numbers but leave the deltas
short of the text, which clients build from the deltas. Events are added rarely: only a text
that ends on the start of a placeholder (a response cut at `max_output_tokens` mid-placeholder,
or a text ending with a literal `<`) leaves a tail held when its field ends.

The work is linear in the stream's size: only the unfinished line is kept between feeds, as a
list of pieces joined once, and each event is read once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, Protocol

import orjson

from router.privacy.answer_restoration import (
    event_data,
    may_contain_placeholder,
    restore_texts,
    with_event_data,
)
from router.privacy.json_texts import NestedTooDeeply
from router.privacy.redaction import Redactor, StreamRestorer
from router.wire.native import NativeApi

# Values restoring must not touch: signed, encrypted, opaque, or tokens as generated.
_KEPT_KEYS: Final = ("signature", "encrypted_content", "data", "logprobs")

# Responses events carrying a piece of a text in `delta` (`<family>.delta`, then `<family>.done`
# with the whole text), each family with the field naming its part in the output item, if any.
_RESPONSES_TEXTS: Final[dict[str, str | None]] = {
    "response.output_text": "content_index",
    "response.refusal": "content_index",
    "response.reasoning_text": "content_index",
    "response.reasoning_summary_text": "summary_index",
    "response.function_call_arguments": None,
    "response.custom_tool_call_input": None,
    "response.mcp_call_arguments": None,
}
# The `.done` of a part ends the texts of that part: the field naming the part, and the families
# whose texts are parts so named.
_RESPONSES_PART_DONE: Final = {
    "response.content_part.done": (
        "content_index",
        frozenset(("response.output_text", "response.refusal", "response.reasoning_text")),
    ),
    "response.reasoning_summary_part.done": (
        "summary_index",
        frozenset(("response.reasoning_summary_text",)),
    ),
}
_RESPONSES_ENDS: Final = frozenset(
    ("response.completed", "response.incomplete", "response.failed", "error")
)
# Messages delta types carrying a piece of a text, and the field holding it.
_MESSAGES_TEXTS: Final = {
    "text_delta": "text",
    "input_json_delta": "partial_json",
    "thinking_delta": "thinking",
}
_MESSAGES_ENDS: Final = frozenset(("message_delta", "message_stop", "error"))
# JSON source, where the model writes placeholders inside string literals: the `arguments` of
# objects of these types, the `delta` of the family's delta events, a Messages delta's field.
_RESPONSES_CALLS: Final = (
    "function_call",
    "mcp_call",
    "mcp_approval_request",
    "response.function_call_arguments.done",
    "response.mcp_call_arguments.done",
)
_RESPONSES_JSON_FAMILIES: Final = frozenset(
    ("response.function_call_arguments", "response.mcp_call_arguments")
)
_MESSAGES_JSON_FIELD: Final = "partial_json"

# Where a streamed text is: ("response.output_text", output_index, content_index), or a
# Messages block's (index,).
_Key = tuple[object, ...]
# Which of the held texts an event ends.
_Ends = Callable[[_Key], bool]


def restore_native_body(body: bytes, redactor: Redactor, api: NativeApi) -> bytes:
    """A Responses `Response` or a Messages `Message` with every text restored but the kept
    values; `body` itself when there is nothing to restore (or it is not JSON: rejecting it is
    not this function's job)."""
    if not redactor.value_of or not may_contain_placeholder(body):
        return body
    try:
        answer = orjson.loads(body)
        restored = restore_texts(answer, redactor, _KEPT_KEYS, _shape_of(api).json_source)
    except (orjson.JSONDecodeError, NestedTooDeeply):
        return body
    return body if restored is answer else orjson.dumps(restored)


class _Slot(NamedTuple):
    key: _Key
    name: str  # the field of the delta event's text, in the event or in its `delta`
    piece: str
    in_json: bool  # whether the text is JSON source


class _Shape(Protocol):
    """What one API's stream events look like to the restorer."""

    numbered: bool  # whether its events carry a `sequence_number`

    def slot(self, event: dict[str, Any]) -> _Slot | None:
        """Where the text piece of a delta event is; None for any other event."""
        ...

    def ends(self, event: dict[str, Any]) -> _Ends | None:
        """Which held texts the event ends; None when it ends none."""
        ...

    def with_piece(self, event: dict[str, Any], name: str, piece: str) -> dict[str, Any]:
        """A copy of the delta event carrying `piece` as its text."""
        ...

    def json_source(self, item: dict[str, Any], under: str) -> str | None:
        """Which key of an object in a whole event or body holds JSON source, if one does."""
        ...


def _everything(key: _Key) -> bool:
    return True


class _ResponsesShape:
    numbered = True

    def slot(self, event: dict[str, Any]) -> _Slot | None:
        family = _family(event, ".delta")
        piece = event.get("delta")
        if family is None or not isinstance(piece, str):
            return None
        in_json = family in _RESPONSES_JSON_FAMILIES
        return _Slot(_responses_key(family, event), "delta", piece, in_json)

    def ends(self, event: dict[str, Any]) -> _Ends | None:
        kind = event.get("type")
        if kind in _RESPONSES_ENDS:
            return _everything
        output_index = event.get("output_index")
        if kind == "response.output_item.done":
            return lambda key: key[1] == output_index
        if isinstance(kind, str) and kind in _RESPONSES_PART_DONE:
            part_field, families = _RESPONSES_PART_DONE[kind]
            part = (output_index, event.get(part_field))
            return lambda key: key[0] in families and key[1:] == part
        family = _family(event, ".done")
        if family is None:
            return None
        done = _responses_key(family, event)
        return lambda key: key == done

    def with_piece(self, event: dict[str, Any], name: str, piece: str) -> dict[str, Any]:
        copy = {**event, name: piece}
        if "logprobs" in copy:  # the tokens were the last delta's
            copy["logprobs"] = []
        return copy

    def json_source(self, item: dict[str, Any], under: str) -> str | None:
        return "arguments" if item.get("type") in _RESPONSES_CALLS else None


def _family(event: dict[str, Any], suffix: str) -> str | None:
    """The text family of a Responses `<family>.delta` or `.done` event, if it is one."""
    kind = event.get("type")
    if not isinstance(kind, str) or not kind.endswith(suffix):
        return None
    family = kind.removesuffix(suffix)
    return family if family in _RESPONSES_TEXTS else None


def _responses_key(family: str, event: dict[str, Any]) -> _Key:
    part_field = _RESPONSES_TEXTS[family]
    part = None if part_field is None else event.get(part_field)
    return (family, event.get("output_index"), part)


class _MessagesShape:
    numbered = False

    def slot(self, event: dict[str, Any]) -> _Slot | None:
        delta = event.get("delta")
        if event.get("type") != "content_block_delta" or not isinstance(delta, dict):
            return None
        delta_type = delta.get("type")
        name = _MESSAGES_TEXTS.get(delta_type) if isinstance(delta_type, str) else None
        piece = None if name is None else delta.get(name)
        if name is None or not isinstance(piece, str):
            return None
        return _Slot((event.get("index"),), name, piece, name == _MESSAGES_JSON_FIELD)

    def ends(self, event: dict[str, Any]) -> _Ends | None:
        kind = event.get("type")
        if kind in _MESSAGES_ENDS:
            return _everything
        block = (event.get("index"),)
        delta = event.get("delta")
        signature = isinstance(delta, dict) and delta.get("type") == "signature_delta"
        if kind == "content_block_stop" or (kind == "content_block_delta" and signature):
            return lambda key: key == block
        return None

    def with_piece(self, event: dict[str, Any], name: str, piece: str) -> dict[str, Any]:
        return {**event, "delta": {**event["delta"], name: piece}}

    def json_source(self, item: dict[str, Any], under: str) -> str | None:
        return None  # a tool_use block's `input` is decoded already


def _shape_of(api: NativeApi) -> _Shape:
    return _ResponsesShape() if api == "responses" else _MessagesShape()


@dataclass(slots=True)
class _Held:
    """A streamed text holding a tail back, and its last delta event (as sent)."""

    stream: StreamRestorer
    event: dict[str, Any]
    name: str


class NativeSseRestorer:
    """Restores the placeholders in a Responses or Messages SSE stream, fed the upstream's
    bytes as they arrive, cut anywhere. `feed` returns the bytes to send now: the events
    completed so far. An event with nothing to restore, while nothing is held back or
    renumbered, goes out byte for byte; so do comments and events that are not JSON. A changed
    event is sent re-encoded, its other lines (`event:`) and its line endings kept."""

    def __init__(self, redactor: Redactor, api: NativeApi) -> None:
        self._redactor = redactor
        self._shape = _shape_of(api)
        self._line: list[bytes] = []  # the pieces of the line not yet ended
        self._lines: list[bytes] = []  # the complete lines of the event being read
        self._line_end = b"\n"  # the stream's, for the events added
        self._held: dict[_Key, _Held] = {}
        self._added = 0  # events added for held tails: what later sequence numbers shift by
        self._last_number: int | None = None  # the last sequence number sent, while it matters

    def feed(self, chunk: bytes) -> bytes:
        if self._passes_whole(chunk):
            return chunk
        out: list[bytes] = []
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            line = chunk[start : end + 1]
            start = end + 1
            if self._line:
                self._line.append(line)
                line = b"".join(self._line)
                self._line.clear()
            if line not in (b"\n", b"\r\n"):
                self._lines.append(line)
            elif self._lines:
                out.append(self._event(self._lines, line))
                self._lines = []
            else:
                out.append(line)  # a blank line between events
        if start < len(chunk):
            self._line.append(chunk[start:])
        return b"".join(out)

    def flush(self) -> bytes:
        """At the end of the stream: what the texts still hold, as delta events. An incomplete
        last event is dropped, as an SSE client would drop it."""
        self._line.clear()
        self._lines = []
        return self._release(_everything)

    def _passes_whole(self, chunk: bytes) -> bool:
        """Whether `chunk` goes out as it came, unread: nothing was redacted, or it is whole
        events with no placeholder in them while nothing is held back or renumbered."""
        if self._line or self._lines:
            return False
        if not self._redactor.value_of:
            return True
        return (
            not self._held
            and not self._added
            and chunk.endswith((b"\n\n", b"\n\r\n"))
            and not may_contain_placeholder(chunk)
        )

    def _event(self, lines: list[bytes], blank: bytes) -> bytes:
        self._line_end = blank
        raw = b"".join(lines) + blank
        if not self._held and not self._added and not may_contain_placeholder(raw):
            return raw
        data = event_data(lines)
        if data is None:
            return raw
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return raw
        if not isinstance(event, dict):
            return raw
        released = b""
        if self._held and (ends := self._shape.ends(event)) is not None:
            released = self._release(ends)
        restored = self._renumbered(self._restored(event))
        if restored is event:
            return released + raw
        return released + with_event_data(lines, orjson.dumps(restored), blank)

    def _restored(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event with its text piece, or else all its texts, restored (`event` itself when
        nothing changed)."""
        slot = self._shape.slot(event)
        if slot is None:
            try:
                restored: dict[str, Any] = restore_texts(
                    event, self._redactor, _KEPT_KEYS, self._shape.json_source
                )
            except NestedTooDeeply:  # no event is; the client gets it as the upstream wrote it
                return event
            return restored
        held = self._held.pop(slot.key, None)
        if held is None:
            stream = StreamRestorer(self._redactor, in_json=slot.in_json)
        else:
            stream = held.stream
        sendable = stream.feed(slot.piece)
        if sendable != slot.piece:
            event = self._shape.with_piece(event, slot.name, sendable)
        if stream.holding:
            self._held[slot.key] = _Held(stream, event, slot.name)
        return event

    def _renumbered(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event with its sequence number shifted past the events added before it."""
        number = event.get("sequence_number")
        if not self._shape.numbered or type(number) is not int:
            return event
        self._last_number = number + self._added
        return {**event, "sequence_number": self._last_number} if self._added else event

    def _release(self, ends: _Ends) -> bytes:
        """The held tails of the texts `ends` names, each as a delta event of its text."""
        keys = [key for key in self._held if ends(key)]
        return b"".join(self._tail_event(self._held.pop(key)) for key in keys)

    def _tail_event(self, held: _Held) -> bytes:
        event = self._shape.with_piece(held.event, held.name, held.stream.flush())
        if self._last_number is not None and "sequence_number" in event:
            self._last_number += 1
            self._added += 1
            event["sequence_number"] = self._last_number
        end = self._line_end
        name = str(event.get("type")).encode()
        return b"event: " + name + end + b"data: " + orjson.dumps(event) + end + end


class NativeRestoringFilter:
    """The privacy stage's response half for an answer in the Responses or Messages API."""

    __slots__ = ("_api", "_redactor", "_stream")

    def __init__(self, redactor: Redactor, api: NativeApi) -> None:
        self._redactor = redactor
        self._api: NativeApi = api
        self._stream: NativeSseRestorer | None = None

    def body(self, body: bytes) -> bytes:
        return restore_native_body(body, self._redactor, self._api)

    def feed(self, chunk: bytes) -> bytes:
        if self._stream is None:
            self._stream = NativeSseRestorer(self._redactor, self._api)
        return self._stream.feed(chunk)

    def finish(self, complete: bool) -> bytes:
        return b"" if self._stream is None else self._stream.flush()
