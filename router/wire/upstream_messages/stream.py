"""An Anthropic Messages stream translated, as it arrives, into a Chat Completions stream.

Anthropic's events (`event: <type>` and `data: <json>`) arrive split at any byte; out come chat
chunks (`data: {chat.completion.chunk}`) and `data: [DONE]`, as an OpenAI upstream streams them:
a first chunk with the assistant's role on `message_start`; a content delta for each text delta;
for each `tool_use` block a tool call delta with its index, id and name, then one for each piece
of its input JSON; the finish reason on `message_delta`; on `message_stop` the usage chunk
(`choices: []`, when the client asked for it) and `[DONE]`. Thinking blocks and `ping` events
are dropped (Chat Completions has no field for the one, and clients need no keep-alive event).

An `error` event becomes OpenAI's in-band error, `data: {"error": {...}}`, which ends the stream;
its `code` is the HTTP status the Anthropic error type stands for, as vLLM sends it. Before any
content, the router's stream-start check (`router.wire.stream_start`) reads it as a failure of
the attempt and fails over.

The work is linear in the stream's size: the stream is read by `EventReader`, which keeps only
the unfinished line, and each event is translated as it completes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from router.wire.event_reader import EventReader, ServerSentEvent
from router.wire.upstream_messages.answer import (
    chat_usage,
    finish_reason_from_stop,
    openai_error,
    tool_arguments,
)

_DONE = b"data: [DONE]\n\n"
# The usage fields a stream reports, `message_delta`'s counts overwriting `message_start`'s
# (they are cumulative).
_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens_details",
)


@dataclass(slots=True)
class _ToolCall:
    index: int  # the chat tool call's index
    start_input: object  # the `input` of `content_block_start`
    pieces_sent: bool = False  # whether any of its input JSON was sent


class ChatChunksFromMessages:
    """One stream's translation: `feed` it the Anthropic stream's bytes, then `finish`."""

    def __init__(self, *, chat_id: str, created: int, model: str, include_usage: bool) -> None:
        self._chat_id = chat_id
        self._created = created
        self._model = model
        self._include_usage = include_usage
        self._reader = EventReader()
        self._started = False
        self._finished = False  # `finish` was called: no more input
        self._ended = False  # `[DONE]` or an error was sent: no more output
        self._finish_sent = False
        self._stop_reason: object = None
        self._calls = 0  # tool calls started so far
        self._open_calls: dict[int | None, _ToolCall] = {}  # by Anthropic's block index
        self._usage: dict[str, Any] = {}

    def feed(self, chunk: bytes) -> bytes:
        if self._finished:
            return b""
        out: list[bytes] = []
        for event in self._reader.feed(chunk):
            if self._ended:
                break
            self._read_event(event, out)
        return b"".join(out)

    def finish(self, complete: bool) -> bytes:
        """The stream ended. Ended normally without `message_stop`, it completes the answer;
        broken (or the client gone), it sends nothing: the writer reports the break."""
        self._finished = True
        self._reader.clear()
        if not complete or self._ended:
            return b""
        out: list[bytes] = []
        self._complete(out)
        return b"".join(out)

    def _read_event(self, event: ServerSentEvent, out: list[bytes]) -> None:
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            not_json = "The upstream sent a stream event that is not a JSON object."
            self._fail(502, "server_error", not_json, out)
            return
        kind = event.name or data.get("type")
        if kind == "message_start":
            self._add_usage(_mapping(data.get("message")).get("usage"))
            self._start(out)
        elif kind == "content_block_start":
            self._block_start(_index(data), _mapping(data.get("content_block")), out)
        elif kind == "content_block_delta":
            self._block_delta(_index(data), _mapping(data.get("delta")), out)
        elif kind == "content_block_stop":
            call = self._open_calls.pop(_index(data), None)
            if call is not None:
                self._end_call(call, out)
        elif kind == "message_delta":
            self._add_usage(data.get("usage"))
            self._start(out)
            stop_reason = _mapping(data.get("delta")).get("stop_reason")
            if isinstance(stop_reason, str):
                self._stop_reason = stop_reason
                self._send_finish(out)
        elif kind == "message_stop":
            self._complete(out)
        elif kind == "error":
            self._read_error(_mapping(data.get("error")), out)
        # `ping` and event types Anthropic may add later mean nothing here.

    def _start(self, out: list[bytes]) -> None:
        if not self._started:
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))

    def _block_start(self, index: int | None, block: dict[str, Any], out: list[bytes]) -> None:
        self._start(out)
        kind = block.get("type")
        if kind == "text":
            self._text(block.get("text"), out)
        elif kind == "tool_use":
            call = self._open_calls[index] = _ToolCall(self._calls, block.get("input"))
            self._calls += 1
            call_id, name = block.get("id"), block.get("name")
            tool_call = {
                "index": call.index,
                "id": call_id if isinstance(call_id, str) and call_id else self._call_id(call),
                "type": "function",
                "function": {"name": name if isinstance(name, str) else "", "arguments": ""},
            }
            out.append(self._chunk({"tool_calls": [tool_call]}))
        # Thinking, redacted thinking and server tool blocks have no chat form.

    def _block_delta(self, index: int | None, delta: dict[str, Any], out: list[bytes]) -> None:
        kind = delta.get("type")
        if kind == "text_delta":
            self._start(out)
            self._text(delta.get("text"), out)
        elif kind == "input_json_delta":
            call = self._open_calls.get(index)
            piece = delta.get("partial_json")
            if call is not None and isinstance(piece, str) and piece:
                call.pieces_sent = True
                out.append(self._arguments(call, piece))
        # Thinking, signature and citation deltas have no chat form.

    def _text(self, text: object, out: list[bytes]) -> None:
        if isinstance(text, str) and text:
            out.append(self._chunk({"content": text}))

    def _end_call(self, call: _ToolCall, out: list[bytes]) -> None:
        """A tool block stopped. One whose input came with no JSON pieces (a tool without
        parameters streams none, or only empty ones) gets its start input, `{}`, as its whole
        arguments: chat clients parse the arguments as JSON."""
        if not call.pieces_sent:
            out.append(self._arguments(call, tool_arguments(call.start_input)))

    def _send_finish(self, out: list[bytes]) -> None:
        if self._finish_sent:
            return
        self._finish_sent = True
        finish_reason = finish_reason_from_stop(self._stop_reason)
        if finish_reason == "tool_calls" and not self._calls:
            finish_reason = "stop"  # as in the JSON answer: `tool_calls` promises calls
        out.append(self._chunk({}, finish_reason))

    def _complete(self, out: list[bytes]) -> None:
        self._start(out)
        self._ended = True
        for call in self._open_calls.values():
            self._end_call(call, out)
        self._open_calls.clear()
        self._send_finish(out)
        if self._include_usage:
            usage = {**self._envelope(), "choices": [], "usage": chat_usage(self._usage)}
            out.append(b"data: " + orjson.dumps(usage) + b"\n\n")
        out.append(_DONE)

    def _read_error(self, error: dict[str, Any], out: list[bytes]) -> None:
        status, error_type = openai_error(error.get("type"), 500)
        message = error.get("message")
        if not isinstance(message, str) or not message:
            message = "The upstream failed mid-stream."
        self._fail(status, error_type, message, out)

    def _fail(self, status: int, error_type: str, message: str, out: list[bytes]) -> None:
        self._ended = True
        error = {"message": message, "type": error_type, "param": None, "code": status}
        out.append(b"data: " + orjson.dumps({"error": error}) + b"\n\n")

    def _add_usage(self, usage: object) -> None:
        usage = _mapping(usage)
        for name in _USAGE_FIELDS:
            if usage.get(name) is not None:
                self._usage[name] = usage[name]

    def _call_id(self, call: _ToolCall) -> str:
        return f"call_{self._chat_id}_{call.index}"

    def _arguments(self, call: _ToolCall, piece: str) -> bytes:
        tool_call = {"index": call.index, "function": {"arguments": piece}}
        return self._chunk({"tool_calls": [tool_call]})

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return b"data: " + orjson.dumps({**self._envelope(), "choices": [choice]}) + b"\n\n"

    def _envelope(self) -> dict[str, Any]:
        return {
            "id": self._chat_id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
        }


def _index(event: dict[str, Any]) -> int | None:
    index = event.get("index")
    return index if type(index) is int else None


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
