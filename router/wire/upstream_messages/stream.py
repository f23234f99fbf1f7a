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

The stream is read and the chunks are written by the base shared with the Responses translation
(`router.wire.chat_from_native`), in time linear in the stream's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from router.wire.chat_from_native import ChatChunksFromNative
from router.wire.upstream_messages.answer import (
    chat_usage,
    finish_reason_from_stop,
    openai_error,
    tool_arguments,
)

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


class ChatChunksFromMessages(ChatChunksFromNative):
    """One stream's translation: `feed` it the Anthropic stream's bytes, then `finish` (which,
    for a stream that ended normally without `message_stop`, completes the answer)."""

    def __init__(self, *, chat_id: str, created: int, model: str, include_usage: bool) -> None:
        super().__init__(chat_id=chat_id, created=created, model=model, include_usage=include_usage)
        self._finish_sent = False
        self._stop_reason: object = None
        self._open_calls: dict[int | None, _ToolCall] = {}  # by Anthropic's block index
        self._usage: dict[str, Any] = {}

    def _read_event(self, kind: object, data: dict[str, Any], out: list[bytes]) -> None:
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

    def _block_start(self, index: int | None, block: dict[str, Any], out: list[bytes]) -> None:
        self._start(out)
        kind = block.get("type")
        if kind == "text":
            self._text(block.get("text"), out)
        elif kind == "tool_use":
            call_index = self._start_call(block.get("id"), block.get("name"), out)
            self._open_calls[index] = _ToolCall(call_index, block.get("input"))
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
                out.append(self._arguments(call.index, piece))
        # Thinking, signature and citation deltas have no chat form.

    def _text(self, text: object, out: list[bytes]) -> None:
        if isinstance(text, str) and text:
            out.append(self._chunk({"content": text}))

    def _end_call(self, call: _ToolCall, out: list[bytes]) -> None:
        """A tool block stopped. One whose input came with no JSON pieces (a tool without
        parameters streams none, or only empty ones) gets its start input, `{}`, as its whole
        arguments: chat clients parse the arguments as JSON."""
        if not call.pieces_sent:
            out.append(self._arguments(call.index, tool_arguments(call.start_input)))

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
        for call in self._open_calls.values():
            self._end_call(call, out)
        self._open_calls.clear()
        self._send_finish(out)
        self._end(out)

    def _chat_usage(self) -> dict[str, Any]:
        return chat_usage(self._usage)

    def _read_error(self, error: dict[str, Any], out: list[bytes]) -> None:
        status, error_type = openai_error(error.get("type"), 500)
        message = error.get("message")
        if not isinstance(message, str) or not message:
            message = "The upstream failed mid-stream."
        chat_error = {"message": message, "type": error_type, "param": None, "code": status}
        self._send_error(chat_error, out)

    def _add_usage(self, usage: object) -> None:
        usage = _mapping(usage)
        for name in _USAGE_FIELDS:
            if usage.get(name) is not None:
                self._usage[name] = usage[name]


def _index(event: dict[str, Any]) -> int | None:
    index = event.get("index")
    return index if type(index) is int else None


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
