"""A stream's start, read before the client is committed to it.

An upstream may answer 200 and then send an error in band, before any content: vLLM and
OpenAI-compatible servers do for quota and overload (OpenAI itself may send a role-only chunk
first), OpenAI's Responses API with an `error` event or `response.failed`, Anthropic's Messages
API with an `error` event (`overloaded_error` under load). Relayed, the client would get a stream
that fails at once while another endpoint could have answered: Bifrost never fails over on such
errors (its issue 5395). So the forwarding stage holds the stream until its first event with
content, and an error found before then is a failure before the first byte: the request fails
over.

What comes before content depends on the API the stream is in (`api`):
- chat: a chunk with only the assistant's role;
- responses: `response.created`, `response.queued`, `response.in_progress`,
  `response.output_item.added` of a `reasoning` item or of a `message` with no content yet, and
  `response.content_part.added` (or `response.reasoning_summary_part.added`) of an empty part;
- messages: `message_start`, `ping`, and `content_block_start` of a text block with no text yet
  (a `tool_use` or `thinking` block is content).
Any other event is content, or something this check does not know: the stream is relayed.

A chat stream's error is its own OpenAI error object. A native API's error is returned as the
one its translation to chat sends in band (`{"message", "type", "param", "code"}`, `code` the
HTTP status it stands for: `router.wire.upstream_responses.answer.openai_error`,
`router.wire.upstream_messages.answer.openai_error`), so that an endpoint's error is judged
alike whether the request was passed through or translated: typed `invalid_request_error` when
the request itself is refused (another endpoint would refuse it too), another type otherwise.

Holding costs nothing for a chat stream whose first event carries content (the usual case), and
is bounded otherwise: at most `PEEK_BYTES`, and two events for chat, six for the native APIs
(Responses opens with four events before its first delta, Messages with three). A native event
named by its `event:` line, as OpenAI and Anthropic send them, is decoded only when its name
leaves the verdict open (an item's or a block's start, an error): never the `response.created`
that echoes the whole request's settings.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import orjson

from router.wire.native import AnswerForm, NativeApi
from router.wire.upstream_messages.answer import openai_error as messages_error
from router.wire.upstream_responses.answer import openai_error as responses_error

# Past this many bytes without a verdict the stream is relayed as it is.
PEEK_BYTES: Final = 64 * 1024
# The events looked at: a role-only first chunk, then the one after it.
_EVENTS: Final = 2
# The events of a native stream looked at: its opening events, then the first with content.
_NATIVE_EVENTS: Final = 6
_NO_MESSAGE: Final = "The upstream failed before any content."

StartVerdict = Literal["relay", "read_more"] | dict[str, Any]
# What one native event says: None while it only opens the answer (read on).
_EventVerdict = Literal["relay"] | dict[str, Any] | None


def stream_start(head: bytes, api: AnswerForm = "chat") -> StartVerdict:
    """`relay` once the stream shows content (or anything but an error), `read_more` while its
    first events are not complete yet, or the upstream's in-band error object; `api` is the API
    the stream is in."""
    if api != "chat":
        return _native_start(head, api)
    position = 0
    for _ in range(_EVENTS):
        end, separator = _event_end(head, position)
        if end < 0:
            return "read_more" if len(head) < PEEK_BYTES else "relay"
        data = _data_of(head[position:end])
        position = end + separator
        if data is None:
            continue  # a comment or a keep-alive: nothing yet
        if b'"error"' in data:
            error = _error_in(data)
            if error is not None:
                return error
        if not _only_a_role(data):
            return "relay"
    return "relay"


def _native_start(head: bytes, api: NativeApi) -> StartVerdict:
    read_event = _responses_event if api == "responses" else _messages_event
    position = 0
    for _ in range(_NATIVE_EVENTS):
        end, separator = _event_end(head, position)
        if end < 0:
            return "read_more" if len(head) < PEEK_BYTES else "relay"
        name, data = _fields_of(head[position:end])
        position = end + separator
        if data is None:
            continue  # a comment or a keep-alive: nothing yet
        verdict = read_event(name or _type_of(data), data)
        if verdict is not None:
            return verdict
    return "relay"


def _responses_event(kind: str, data: bytes) -> _EventVerdict:
    if kind in ("response.created", "response.queued", "response.in_progress"):
        return None
    if kind == "response.output_item.added":
        item = _mapping(_object_of(data).get("item"))
        if item.get("type") == "reasoning" or (
            item.get("type") == "message" and not item.get("content")
        ):
            return None
        return "relay"
    if kind in ("response.content_part.added", "response.reasoning_summary_part.added"):
        part = _mapping(_object_of(data).get("part"))
        return None if not part.get("text") and not part.get("refusal") else "relay"
    if kind == "error":  # its fields at the top level, and as OpenAI sends them, under `error`
        return responses_error(_object_of(data), _NO_MESSAGE)
    if kind == "response.failed":
        response = _mapping(_object_of(data).get("response"))
        return responses_error(_mapping(response.get("error")), _NO_MESSAGE)
    return "relay"


def _messages_event(kind: str, data: bytes) -> _EventVerdict:
    if kind in ("message_start", "ping"):
        return None
    if kind == "content_block_start":
        block = _mapping(_object_of(data).get("content_block"))
        return None if block.get("type") == "text" and not block.get("text") else "relay"
    if kind == "error":
        error = _mapping(_object_of(data).get("error"))
        status, error_type = messages_error(error.get("type"), 500)
        message = error.get("message")
        said = message if isinstance(message, str) and message else _NO_MESSAGE
        return {"message": said, "type": error_type, "param": None, "code": status}
    return "relay"


def _event_end(head: bytes, position: int) -> tuple[int, int]:
    """Where the event at `position` ends and its blank line's length (-1: not in `head` yet);
    lines end with LF or CRLF."""
    lf, crlf = head.find(b"\n\n", position), head.find(b"\r\n\r\n", position)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, 4
    return lf, 2


def _data_of(event: bytes) -> bytes | None:
    lines = [
        line[6:] if line.startswith(b"data: ") else line[5:]
        for line in event.replace(b"\r\n", b"\n").split(b"\n")
        if line.startswith(b"data:")
    ]
    return b"\n".join(lines) if lines else None


def _error_in(data: bytes) -> dict[str, Any] | None:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    error = chunk.get("error") if isinstance(chunk, dict) else None
    return error if isinstance(error, dict) else None


def _only_a_role(data: bytes) -> bool:
    """A chunk that says only who speaks (`{"role": "assistant", "content": ""}`), as OpenAI's
    first chunk does: what follows it decides."""
    if b'"role"' not in data:
        return False
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
        return False
    delta = choices[0].get("delta")
    if not isinstance(delta, dict) or choices[0].get("finish_reason"):
        return False
    return all(not value for key, value in delta.items() if key != "role")


def _fields_of(event: bytes) -> tuple[str, bytes | None]:
    """An event's name (its `event:` line, "" without one) and its data (as `_data_of`)."""
    name = ""
    data: list[bytes] = []
    for line in event.replace(b"\r\n", b"\n").split(b"\n"):
        if line.startswith(b"data:"):
            data.append(line[6:] if line.startswith(b"data: ") else line[5:])
        elif line.startswith(b"event:"):
            value = line[7:] if line.startswith(b"event: ") else line[6:]
            name = value.decode("utf-8", "replace")
    return name, b"\n".join(data) if data else None


def _type_of(data: bytes) -> str:
    """The `type` of an event sent without an `event:` line, as its data says it."""
    kind = _object_of(data).get("type")
    return kind if isinstance(kind, str) else ""


def _object_of(data: bytes) -> dict[str, Any]:
    """An event's data as a JSON object ({} when it is not one)."""
    try:
        return _mapping(orjson.loads(data))
    except orjson.JSONDecodeError:
        return {}


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
