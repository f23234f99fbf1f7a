"""Placeholders in an upstream's answer turned back into the values they stand for, before the
client sees the answer: a whole JSON answer (`restore_json_body`, `restore_json_answer`), or an
OpenAI SSE stream as its bytes arrive (`SseRestorer`).

Only placeholders the request's `Redactor` issued are restored; a user's own literal `<EMAIL_1>`
stays as it is. An answer with nothing to restore is handed back as it came, the same object or
the same bytes, after a cheap test where one is possible (nothing was redacted, or no `<` at all).

A call's arguments (a tool call's `function.arguments`, a `function_call`'s) are JSON source: the
model wrote each placeholder inside a string literal, so its value goes in JSON-escaped
(`Redactor.restore_in_json`), and the client's `json.loads` reads the value back. Every other text
is restored raw. `restore_texts` is `map_texts` told where JSON source is, which it cannot tell.

In a stream a placeholder may be split between two events, and an event between two reads of the
socket. `SseRestorer` cuts the bytes into whole events, and restores each text field of each choice
through its own `StreamRestorer` (one per field: the content, the refusal, each tool call's
arguments, these in JSON), which holds back a tail that may still become a placeholder. What a
choice still holds goes out with its `finish_reason`, or, for a stream that ends without one, as an
extra chunk before `data: [DONE]`, before an error event, or at `flush()`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any, Final

import orjson

from router.privacy.json_texts import MAX_DEPTH, NestedTooDeeply
from router.privacy.redaction import Redactor, StreamRestorer

# Log probabilities list the tokens as generated: a placeholder there is split across tokens,
# and their `bytes` would no longer match a restored token.
_NOT_ANSWER_TEXT: Final = ("logprobs",)
# Upstreams written in Go (encoding/json) send `<` as `\u003c`.
_OPENING_MARKS: Final = (b"<", b"\\u003c", b"\\u003C")
# What a synthetic chunk copies from the stream's chunks (the same in every chunk of a stream).
_HEAD_KEYS: Final = ("id", "object", "created", "model")

# A text field of a choice: ("content" | "refusal" | "function_call" | "text", 0), or
# ("tool_call", the tool call's `index`).
_Field = tuple[str, int]
# The fields holding a call's arguments: JSON source.
_JSON_FIELDS: Final = ("function_call", "tool_call")
# The objects of a chat answer whose `arguments` are JSON source, by the key they are under.
_CALLS: Final = ("function", "function_call")

# Which key of an object holds JSON source, given the object and the key it is under ("" for a
# list's item and the top), or None.
JsonSource = Callable[[dict[str, Any], str], str | None]


def restore_json_body(body: bytes, redactor: Redactor) -> bytes:
    """A JSON answer's bytes with the placeholders in its choices restored; `body` itself when
    there is nothing to restore (or it is not JSON: rejecting it is not this function's job)."""
    if not redactor.value_of or not may_contain_placeholder(body):
        return body
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    try:
        restored = restore_json_answer(answer, redactor)
    except NestedTooDeeply:  # no answer is; the client gets it as the upstream wrote it
        return body
    return body if restored is answer else orjson.dumps(restored)


def restore_json_answer(answer: Any, redactor: Redactor) -> Any:
    """A parsed `chat.completion` or `text_completion` with every string under `choices` restored
    (message content, refusal, tool call and function call arguments, these in JSON, completion
    text, and any field an OpenAI-compatible server adds); `answer` itself when nothing changed.
    Never mutates `answer`."""
    if not redactor.value_of or not isinstance(answer, dict):
        return answer
    choices = answer.get("choices")
    restored = restore_texts(choices, redactor, _NOT_ANSWER_TEXT, _call_arguments)
    return answer if restored is choices else {**answer, "choices": restored}


def _call_arguments(item: dict[str, Any], under: str) -> str | None:
    return "arguments" if under in _CALLS else None


def restore_texts(
    value: Any,
    redactor: Redactor,
    kept_keys: Collection[str],
    json_source: JsonSource,
    under: str = "",
    depth: int = 0,
) -> Any:
    """`value` with every string restored but the values of `kept_keys`: in JSON where
    `json_source` names a key, raw everywhere else; `value` itself when nothing changed. Nested
    deeper than `MAX_DEPTH`, refused (`NestedTooDeeply`), as `map_texts` refuses it."""
    if isinstance(value, str):
        return _restored(value, redactor.restore)
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        raise NestedTooDeeply(f"nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, list):
        items = [restore_texts(i, redactor, kept_keys, json_source, "", depth + 1) for i in value]
        return value if all(new is old for new, old in zip(items, value, strict=True)) else items
    if not isinstance(value, dict):
        return value
    source = json_source(value, under)
    changed: dict[str, Any] = {}
    for key, item in value.items():
        if key in kept_keys:
            continue
        if key == source and isinstance(item, str):
            new = _restored(item, redactor.restore_in_json)
        else:
            new = restore_texts(item, redactor, kept_keys, json_source, key, depth + 1)
        if new is not item:
            changed[key] = new
    return {**value, **changed} if changed else value


def _restored(text: str, restore: Callable[[str], str]) -> str:
    restored = restore(text)
    return text if restored == text else restored


def may_contain_placeholder(data: bytes) -> bool:
    return any(mark in data for mark in _OPENING_MARKS)


class SseRestorer:
    """Restores the placeholders in an OpenAI SSE stream (`chat.completion.chunk`s or
    `text_completion` chunks), fed the upstream's bytes as they arrive, cut anywhere.

    `feed` returns the bytes to send now: the events completed so far. An event with nothing to
    restore, while no field holds anything back, goes out byte for byte; so do comments and
    events that are not chunks. A changed event is sent re-encoded, its other lines kept.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._pending = b""  # bytes after the last complete line
        self._event_lines: list[bytes] = []  # complete lines of the event being read
        self._choices: dict[int, dict[_Field, StreamRestorer]] = {}
        self._head: dict[str, Any] = {}
        self._line_end = b"\n"

    def feed(self, chunk: bytes) -> bytes:
        if not self._redactor.value_of and not self._pending and not self._event_lines:
            return chunk  # nothing was redacted, so there is nothing to restore or hold
        data = self._pending + chunk
        out: list[bytes] = []
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            line = data[start : end + 1]
            start = end + 1
            if line not in (b"\n", b"\r\n"):
                self._event_lines.append(line)
            elif self._event_lines:
                self._line_end = line
                out.append(self._event(self._event_lines, line))
                self._event_lines = []
            else:
                out.append(line)  # a blank line between events
        self._pending = data[start:]
        return b"".join(out)

    def flush(self) -> bytes:
        """At the end of the stream: what the fields still hold, as chunks. An incomplete last
        event is dropped, as an SSE client would drop it."""
        self._pending = b""
        self._event_lines = []
        return self._release_all()

    def _event(self, lines: list[bytes], blank: bytes) -> bytes:
        raw = b"".join(lines) + blank
        if not may_contain_placeholder(raw) and not self._holding():
            return raw
        data = event_data(lines)
        if data is None:
            return raw
        if data == b"[DONE]":
            return self._release_all() + raw
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return raw
        if not isinstance(chunk, dict):
            return raw
        if "error" in chunk:
            return self._release_all() + raw
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            return raw
        self._head = {key: chunk[key] for key in _HEAD_KEYS if key in chunk}
        if not self._restore_choices(choices):
            return raw
        return with_event_data(lines, orjson.dumps(chunk), blank)

    def _holding(self) -> bool:
        return any(s.holding for fields in self._choices.values() for s in fields.values())

    def _restore_choices(self, choices: list[Any]) -> bool:
        """Restores the chunk's choices in place; whether anything changed."""
        changed = False
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            index = _index_of(choice, 0)
            fields = self._choices.setdefault(index, {})
            for field, container, name in _text_fields(choice):
                stream = fields.get(field)
                if stream is None:
                    in_json = field[0] in _JSON_FIELDS
                    stream = fields[field] = StreamRestorer(self._redactor, in_json=in_json)
                restored = stream.feed(container[name])
                if restored != container[name]:
                    container[name] = restored
                    changed = True
            if choice.get("finish_reason") is not None:
                tails = _tails(self._choices.pop(index))
                changed = changed or bool(tails)
                _append(choice, tails)
        return changed

    def _release_all(self) -> bytes:
        """What every choice still holds, one chunk per choice; every field starts afresh."""
        events: list[bytes] = []
        for index, fields in sorted(self._choices.items()):
            tails = _tails(fields)
            if not tails:
                continue
            completion = any(field[0] == "text" for field in tails)
            choice: dict[str, Any] = (
                {"text": "", "index": index, "logprobs": None, "finish_reason": None}
                if completion
                else {"index": index, "delta": {}, "logprobs": None, "finish_reason": None}
            )
            _append(choice, tails)
            chunk = {**self._head, "choices": [choice]}
            end = self._line_end
            events.append(b"data: " + orjson.dumps(chunk) + end + end)
        self._choices.clear()
        return b"".join(events)


def _tails(fields: dict[_Field, StreamRestorer]) -> dict[_Field, str]:
    flushed = {field: stream.flush() for field, stream in fields.items()}
    return {field: tail for field, tail in flushed.items() if tail}


def _append(choice: dict[str, Any], tails: dict[_Field, str]) -> None:
    """Appends each field's held text to the choice, creating the field where it is absent."""
    for field, tail in tails.items():
        container, name = _field_slot(choice, field)
        container[name] = (container.get(name) or "") + tail


def _text_fields(choice: dict[str, Any]) -> Iterator[tuple[_Field, dict[str, Any], str]]:
    """The text fields a chunk's choice carries: (field, the dict holding it, its key there)."""
    if isinstance(choice.get("text"), str):
        yield ("text", 0), choice, "text"
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        return
    for name in ("content", "refusal"):
        if isinstance(delta.get(name), str):
            yield (name, 0), delta, name
    function_call = delta.get("function_call")
    if isinstance(function_call, dict) and isinstance(function_call.get("arguments"), str):
        yield ("function_call", 0), function_call, "arguments"
    tool_calls = delta.get("tool_calls")
    if isinstance(tool_calls, list):
        for position, call in enumerate(tool_calls):
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                yield ("tool_call", _index_of(call, position)), function, "arguments"


def _field_slot(choice: dict[str, Any], field: _Field) -> tuple[dict[str, Any], str]:
    """Where `field` lives in the choice, made where it is missing."""
    kind, tool_index = field
    if kind == "text":
        return choice, "text"
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        delta = choice["delta"] = {}
    if kind in ("content", "refusal"):
        return delta, kind
    if kind == "function_call":
        return _dict_at(delta, "function_call"), "arguments"
    tool_calls = delta.get("tool_calls")
    if not isinstance(tool_calls, list):
        tool_calls = delta["tool_calls"] = []
    call = next(
        (
            c
            for position, c in enumerate(tool_calls)
            if isinstance(c, dict) and _index_of(c, position) == tool_index
        ),
        None,
    )
    if call is None:
        call = {"index": tool_index}
        tool_calls.append(call)
    return _dict_at(call, "function"), "arguments"


def _dict_at(parent: dict[str, Any], key: str) -> dict[str, Any]:
    child = parent.get(key)
    if not isinstance(child, dict):
        child = parent[key] = {}
    return child


def _index_of(item: dict[str, Any], default: int) -> int:
    index = item.get("index")
    return index if isinstance(index, int) else default


def event_data(lines: list[bytes]) -> bytes | None:
    """The event's data (its `data:` lines joined, as SSE defines), or None if it has none."""
    values = [_field_value(line) for line in lines if line.startswith(b"data:")]
    return b"\n".join(values) if values else None


def _field_value(line: bytes) -> bytes:
    value = line[len(b"data:") :].rstrip(b"\r\n")
    return value[1:] if value.startswith(b" ") else value


def with_event_data(lines: list[bytes], data: bytes, blank: bytes) -> bytes:
    """The event with its data lines replaced by one line carrying `data`."""
    out: list[bytes] = []
    written = False
    for line in lines:
        if not line.startswith(b"data:"):
            out.append(line)
        elif not written:
            out.append(b"data: " + data + (b"\r\n" if line.endswith(b"\r\n") else b"\n"))
            written = True
    return b"".join(out) + blank
