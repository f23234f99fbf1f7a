"""A Chat Completions stream translated, as it arrives, into the Responses API's typed events.

Chat chunks (`data: {chat.completion.chunk}`, then `data: [DONE]`) arrive split at any byte;
out come the events OpenAI streams for `POST /v1/responses` (`event: <type>` and `data: <json>`
with a `sequence_number` from 0): `response.created` and `response.in_progress` on the first
chunk, one output item per message or tool call with its deltas, each item closed with its
`.done` events, then `response.completed` (or `response.incomplete`) carrying the whole response.

The work is linear in the stream's size: the stream is read by `router.wire.event_reader`, and
text and arguments are kept as lists of deltas joined when their item closes.

As OpenAI does, the message is closed when the first tool call starts (text after a tool call
opens a new message). Tool calls stay open until the end: Chat Completions does not promise that
one call's argument pieces end before the next call's begin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from router.wire.chat_translation import ChatStreamTranslation
from router.wire.responses.answer import response_object, status_from_finish, usage_from_chat
from router.wire.responses.request import ResponsesRequest

# The two kinds of a message's content part: each its events' prefix and the field of its text.
_PART_EVENT = {"output_text": "response.output_text", "refusal": "response.refusal"}
_PART_FIELD = {"output_text": "text", "refusal": "refusal"}


@dataclass(slots=True)
class _Part:
    kind: str  # "output_text" or "refusal"
    index: int
    pieces: list[str] = field(default_factory=list)

    def as_dict(self, text: str) -> dict[str, Any]:
        if self.kind == "output_text":
            return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        return {"type": "refusal", "refusal": text}

    def logprobs(self) -> dict[str, Any]:
        """The (empty) `logprobs` a text part's events carry; a refusal's carry none."""
        return {"logprobs": []} if self.kind == "output_text" else {}


@dataclass(slots=True)
class _Message:
    id: str
    output_index: int
    parts: dict[str, _Part] = field(default_factory=dict)

    def as_dict(self, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(type="message", id=self.id, status=status, role="assistant", content=content)


@dataclass(slots=True)
class _Call:
    id: str
    output_index: int
    call_id: str
    name: str
    arguments: list[str] = field(default_factory=list)

    def as_dict(self, status: str, arguments: str) -> dict[str, Any]:
        return {
            "type": "function_call",
            "id": self.id,
            "call_id": self.call_id,
            "name": self.name,
            "arguments": arguments,
            "status": status,
        }


class ResponsesEvents(ChatStreamTranslation):
    """One stream's translation: `feed` it the chat stream's bytes, then `finish` or `error`."""

    def __init__(
        self,
        request: ResponsesRequest,
        *,
        response_id: str,
        created_at: int,
        new_id: Callable[[str], str],
    ) -> None:
        super().__init__()
        self._request = request
        self._response_id = response_id
        self._created_at = created_at
        self._new_id = new_id
        self._model = str(request.chat_body.get("model", ""))
        self._sequence_number = 0
        self._started = False
        self._open_message: _Message | None = None
        self._calls: dict[int, _Call] = {}  # by the chat tool call's `index`
        self._items: list[_Message | _Call] = []
        self._done_items: dict[int, dict[str, Any]] = {}  # closed items, by output_index
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None

    def error(self, code: str | None, message: str, param: str | None) -> bytes:
        """The terminal `error` event of a stream that broke after it began."""
        if self._ended:
            return b""
        out: list[bytes] = []
        self._fail(code, message, param, out)
        return b"".join(out)

    def _fail_upstream(self, error: dict[str, Any] | None, message: str, out: list[bytes]) -> None:
        if error is None:  # the stream itself was broken
            self._fail(None, message, None, out)
            return
        code, said, param = (
            error.get("code") or error.get("type"),
            error.get("message"),
            error.get("param"),
        )
        self._fail(
            None if code is None else str(code),
            said if isinstance(said, str) else message,
            param if isinstance(param, str) else None,
            out,
        )

    def _read_chunk(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        if isinstance(error := chunk.get("error"), dict):  # an error in band, as OpenAI sends
            self._fail_upstream(error, "The upstream failed mid-stream.", out)
            return
        if isinstance(chunk.get("model"), str) and not self._started:
            self._model = chunk["model"]
        self._start(out)
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._read_choice(choice, out)

    def _read_choice(self, choice: dict[str, Any], out: list[bytes]) -> None:
        delta = choice.get("delta") or {}
        for kind, key in (("output_text", "content"), ("refusal", "refusal")):
            text = delta.get(key)
            if isinstance(text, str) and text:
                self._text(kind, text, out)
        for call in delta.get("tool_calls") or ():
            if isinstance(call, dict):
                self._tool_call(call, out)
        if isinstance(choice.get("finish_reason"), str):
            self._finish_reason = choice["finish_reason"]

    def _start(self, out: list[bytes]) -> None:
        if self._started:
            return
        self._started = True
        response = self._response("in_progress", [])
        out.append(self._event("response.created", response=response))
        out.append(self._event("response.in_progress", response=response))

    def _text(self, kind: str, delta: str, out: list[bytes]) -> None:
        message = self._open_message
        if message is None:
            message = self._open_message = _Message(self._new_id("msg"), len(self._items))
            self._items.append(message)
            item = message.as_dict("in_progress", [])
            out.append(self._added(item, message.output_index))
        part = message.parts.get(kind)
        if part is None:
            part = message.parts[kind] = _Part(kind, len(message.parts))
            out.append(self._part_event("response.content_part.added", message, part, ""))
        part.pieces.append(delta)
        fields = self._part_fields(message, part)
        out.append(
            self._event(f"{_PART_EVENT[kind]}.delta", **fields, delta=delta, **part.logprobs())
        )

    def _tool_call(self, chat_call: dict[str, Any], out: list[bytes]) -> None:
        index = self._call_index(chat_call)
        function = chat_call.get("function") or {}
        name = function.get("name")
        arguments = function.get("arguments")
        call = self._calls.get(index)
        if call is None:
            if self._open_message is not None:
                self._close_message(self._open_message, "completed", out)
            call_id = chat_call.get("id")
            call = _Call(
                self._new_id("fc"),
                len(self._items),
                call_id if isinstance(call_id, str) and call_id else self._new_id("call"),
                name if isinstance(name, str) else "",
            )
            self._calls[index] = call
            self._items.append(call)
            out.append(self._added(call.as_dict("in_progress", ""), call.output_index))
        elif isinstance(name, str) and not call.name:
            call.name = name
        if isinstance(arguments, str) and arguments:
            call.arguments.append(arguments)
            fields = {"item_id": call.id, "output_index": call.output_index, "delta": arguments}
            out.append(self._event("response.function_call_arguments.delta", **fields))

    def _call_index(self, chat_call: dict[str, Any]) -> int:
        """The chat `index` of a tool call piece; where an upstream leaves it out, the call with
        the piece's `id`, a new call for a new id, or else the last call."""
        index = chat_call.get("index")
        if isinstance(index, int):
            return index
        call_id = chat_call.get("id")
        for known, call in self._calls.items():
            if call.call_id == call_id:
                return known
        return len(self._calls) if call_id or not self._calls else max(self._calls)

    def _close_message(self, message: _Message, status: str, out: list[bytes]) -> None:
        self._open_message = None
        content: list[dict[str, Any]] = []
        for part in message.parts.values():
            text = "".join(part.pieces)
            fields = {**self._part_fields(message, part), _PART_FIELD[part.kind]: text}
            out.append(self._event(f"{_PART_EVENT[part.kind]}.done", **fields, **part.logprobs()))
            out.append(self._part_event("response.content_part.done", message, part, text))
            content.append(part.as_dict(text))
        self._done(message.as_dict(status, content), message.output_index, out)

    def _close_call(self, call: _Call, status: str, out: list[bytes]) -> None:
        item = call.as_dict(status, "".join(call.arguments))
        # `name` is not in the client's type (it keeps it as an extra) but the schema requires it.
        fields = {"item_id": call.id, "output_index": call.output_index, "name": call.name}
        out.append(
            self._event(
                "response.function_call_arguments.done", **fields, arguments=item["arguments"]
            )
        )
        self._done(item, call.output_index, out)

    def _complete(self, out: list[bytes]) -> None:
        self._start(out)
        self._ended = True
        status, incomplete_details = status_from_finish(self._finish_reason)
        item_status = "completed" if status == "completed" else "incomplete"
        for item in self._items:
            if item.output_index in self._done_items:
                continue
            if isinstance(item, _Message):
                self._close_message(item, item_status, out)
            else:
                self._close_call(item, item_status, out)
        output = [self._done_items[index] for index in range(len(self._items))]
        usage = usage_from_chat(self._usage)
        response = self._response(status, output, usage, incomplete_details)
        out.append(self._event(f"response.{status}", response=response))

    def _fail(self, code: str | None, message: str, param: str | None, out: list[bytes]) -> None:
        self._start(out)
        self._ended = True
        out.append(self._event("error", code=code, message=message, param=param))

    def _response(
        self,
        status: str,
        output: list[dict[str, Any]],
        usage: dict[str, Any] | None = None,
        incomplete_details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        response = response_object(
            self._request,
            response_id=self._response_id,
            created_at=self._created_at,
            model=self._model,
            status=status,
            output=output,
            usage=usage,
            incomplete_details=incomplete_details,
        )
        # OpenAI sends `"usage": null` until the end, but its published schema does not let
        # `usage` be null (the client takes either); left out, it satisfies both.
        if response.get("usage") is None:
            response.pop("usage", None)
        return response

    def _added(self, item: dict[str, Any], output_index: int) -> bytes:
        return self._event("response.output_item.added", output_index=output_index, item=item)

    def _done(self, item: dict[str, Any], output_index: int, out: list[bytes]) -> None:
        self._done_items[output_index] = item
        out.append(self._event("response.output_item.done", output_index=output_index, item=item))

    def _part_event(self, event_type: str, message: _Message, part: _Part, text: str) -> bytes:
        return self._event(event_type, **self._part_fields(message, part), part=part.as_dict(text))

    @staticmethod
    def _part_fields(message: _Message, part: _Part) -> dict[str, Any]:
        return {
            "item_id": message.id,
            "output_index": message.output_index,
            "content_index": part.index,
        }

    def _event(self, event_type: str, **fields: Any) -> bytes:
        event = {"type": event_type, "sequence_number": self._sequence_number, **fields}
        self._sequence_number += 1
        return b"event: " + event_type.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
