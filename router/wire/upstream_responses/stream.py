"""An OpenAI Responses stream translated, as it arrives, into a Chat Completions stream.

The Responses API's typed events (`event: <type>` and `data: <json>`) arrive split at any byte;
out come chat chunks (`data: {chat.completion.chunk}`) and `data: [DONE]`, as an OpenAI upstream
streams them: a first chunk with the assistant's role on `response.created`; a content delta for
each `response.output_text.delta` and a refusal delta for each `response.refusal.delta`; for
each `function_call` item a tool call delta with its index, call id and name when the item is
added, then one for each piece of its arguments; on `response.completed` (or
`response.incomplete`) the finish reason, the usage chunk (`choices: []`, when the client asked
for it) and `[DONE]`. The other events (`response.in_progress`, the `.done` events, content parts,
reasoning, keep-alives) say nothing a chat stream has not said already, or nothing it has a
field for.

`response.failed` and an `error` event become OpenAI's in-band error, `data: {"error": {...}}`,
which ends the stream; its `code` is the HTTP status the Responses error stands for, as vLLM
sends it. Before any content, the router's stream-start check (`router.wire.stream_start`) reads
it as a failure of the attempt and fails over.

The stream is read and the chunks are written by the base shared with the Messages translation
(`router.wire.chat_from_native`), in time linear in the stream's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from router.wire.chat_from_native import ChatChunksFromNative
from router.wire.upstream_responses.answer import (
    chat_usage,
    finish_reason_from_status,
    openai_error,
)

_TEXT_DELTAS = {"response.output_text.delta": "content", "response.refusal.delta": "refusal"}


@dataclass(slots=True)
class _ToolCall:
    index: int  # the chat tool call's index
    pieces_sent: bool = False  # whether any of its arguments were sent


class ChatChunksFromResponses(ChatChunksFromNative):
    """One stream's translation: `feed` it the Responses stream's bytes, then `finish` (which,
    for a stream that ended normally without `response.completed`, completes the answer)."""

    def __init__(self, *, chat_id: str, created: int, model: str, include_usage: bool) -> None:
        super().__init__(chat_id=chat_id, created=created, model=model, include_usage=include_usage)
        self._open_calls: dict[int | None, _ToolCall] = {}  # by the item's `output_index`
        self._final: dict[str, Any] = {}  # the Response of `response.completed` or `.incomplete`

    def _read_event(self, kind: object, data: dict[str, Any], out: list[bytes]) -> None:
        if kind == "response.created":
            self._start(out)
        elif isinstance(kind, str) and kind in _TEXT_DELTAS:
            self._start(out)
            delta = data.get("delta")
            if isinstance(delta, str) and delta:
                out.append(self._chunk({_TEXT_DELTAS[kind]: delta}))
        elif kind == "response.output_item.added":
            self._item_added(_index(data), _mapping(data.get("item")), out)
        elif kind == "response.function_call_arguments.delta":
            call = self._open_calls.get(_index(data))
            piece = data.get("delta")
            if call is not None and isinstance(piece, str) and piece:
                call.pieces_sent = True
                out.append(self._arguments(call.index, piece))
        elif kind == "response.output_item.done":
            arguments = _mapping(data.get("item")).get("arguments")
            self._end_call(self._open_calls.pop(_index(data), None), arguments, out)
        elif kind in ("response.completed", "response.incomplete"):
            self._final = _mapping(data.get("response"))
            self._complete(out)
        elif kind == "response.failed":
            self._fail(_mapping(_mapping(data.get("response")).get("error")), out)
        elif kind == "error":
            self._fail(data, out)
        # `response.in_progress`, content parts, reasoning, the other `.done` events, keep-alives
        # and event types OpenAI may add later mean nothing here.

    def _item_added(self, index: int | None, item: dict[str, Any], out: list[bytes]) -> None:
        self._start(out)
        if item.get("type") != "function_call" or index in self._open_calls:
            return  # messages are read by their deltas; reasoning and other items have no form
        call_index = self._start_call(item.get("call_id"), item.get("name"), out)
        call = self._open_calls[index] = _ToolCall(call_index)
        self._end_call(call, item.get("arguments"), out)  # an item added whole

    def _end_call(self, call: _ToolCall | None, arguments: object, out: list[bytes]) -> None:
        """A call's arguments said whole (by the item, added or done): sent when none of its
        pieces were, for an upstream that streams no deltas."""
        if call is not None and not call.pieces_sent and isinstance(arguments, str) and arguments:
            call.pieces_sent = True
            out.append(self._arguments(call.index, arguments))

    def _complete(self, out: list[bytes]) -> None:
        self._start(out)
        finish_reason = finish_reason_from_status(
            self._final.get("status"), self._final.get("incomplete_details"), calls=self._calls > 0
        )
        # A stream that ended without its final event says no status: a natural end.
        if not self._final and finish_reason == "tool_calls":
            finish_reason = "stop"
        out.append(self._chunk({}, finish_reason))
        self._end(out)

    def _chat_usage(self) -> dict[str, Any]:
        return chat_usage(self._final.get("usage"))

    def _fail(self, error: dict[str, Any], out: list[bytes]) -> None:
        self._send_error(openai_error(error, "The upstream failed mid-stream."), out)


def _index(event: dict[str, Any]) -> int | None:
    index = event.get("output_index")
    return index if type(index) is int else None


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
