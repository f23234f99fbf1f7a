"""A Chat Completions stream translated, as it arrives, into the Messages API's stream events.

Chat chunks (`data: {chat.completion.chunk}`, then `data: [DONE]`) arrive split at any byte;
out come the events Anthropic streams for `POST /v1/messages` (`event: <type>` and `data: <json>`):
`message_start` on the first chunk, then content blocks (`content_block_start`, its deltas,
`content_block_stop`), then `message_delta` with the stop reason and the usage, and
`message_stop`. A refusal is text to an Anthropic client. Anthropic's `ping` events are not sent:
they only keep idle connections alive, and clients skip them.

Chat reports usage only at its end, so `message_start` counts 0 tokens and `message_delta`
carries every count: the client's accumulator (`anthropic.lib.streaming._messages`) overwrites
`output_tokens` from it, and `input_tokens` and the cache counts whenever they are present.

Anthropic's blocks come one at a time, but Chat Completions does not promise that one tool
call's argument pieces end before the next call's (or text) begin. So a tool block stays open
until its arguments close their JSON object (found by a linear scan of the pieces) or the stream
ends; content for another block meanwhile waits, kept as pieces, and is sent as one delta when
its block starts: when the open call's object closes, or at the end. Pieces a call sends once
its block has stopped (after its object closed: whitespace, if anything) are dropped.

The work is linear in the stream's size: the stream is read by `router.wire.event_reader`, and
waiting content is joined once.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from router.wire.chat_translation import ChatStreamTranslation
from router.wire.messages.answer import stop_reason_from_finish, usage_from_chat
from router.wire.messages.errors import anthropic_error_type
from router.wire.messages.request import MessagesRequest

# The characters that open or close a JSON object, array or string, or escape in a string.
_JSON_STRUCTURE = re.compile(r'[{}\[\]"\\]')
_DELTA_FIELD = {"text_delta": "text", "input_json_delta": "partial_json"}
_START_USAGE = {
    "input_tokens": 0,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": 0,
}


@dataclass(slots=True)
class _Block:
    content_block: dict[str, Any]  # as `content_block_start` carries it
    delta_type: str  # "text_delta" or "input_json_delta"
    index: int | None = None  # set when the block starts
    waiting: list[str] = field(default_factory=list)  # pieces kept until it starts
    # A tool call's arguments read so far: nesting depth, inside a string, and the position in
    # the next piece of a character escaped by the end of the last one (or -1).
    depth: int = 0
    in_string: bool = False
    escaped: int = -1
    whole: bool = False  # a text block, or a call whose arguments closed their object

    def scan(self, piece: str) -> None:
        """Follow a tool call's arguments piece by piece until its JSON object closes."""
        skip, self.escaped = self.escaped, -1
        for match in _JSON_STRUCTURE.finditer(piece):
            at, char = match.start(), match.group()
            if at == skip:
                continue
            if self.in_string:
                if char == "\\":
                    skip = at + 1
                    self.escaped = 0 if skip == len(piece) else -1
                elif char == '"':
                    self.in_string = False
            elif char == '"':
                self.in_string = True
            elif char in "{[":
                self.depth += 1
            elif char in "}]":
                self.depth -= 1
                if self.depth == 0:
                    self.whole = True
                    return


class MessagesEvents(ChatStreamTranslation):
    """One stream's translation: `feed` it the chat stream's bytes, then `finish` or `error`."""

    def __init__(self, request: MessagesRequest, *, message_id: str) -> None:
        super().__init__()
        self._message_id = message_id
        model = request.chat_body.get("model", request.body.get("model"))
        self._model = model if isinstance(model, str) else ""
        self._started = False
        self._next_index = 0
        self._open: _Block | None = None  # the started block not yet stopped
        self._text: _Block | None = None  # the block text goes to, open or waiting
        self._calls: dict[int, _Block] = {}  # by the chat tool call's `index`
        # Blocks that waited, in order of arrival; one that started since is skipped when met.
        self._waiting: deque[_Block] = deque()
        self._finish_reason: str | None = None
        self._refused = False
        self._usage: object = None

    def error(self, status: int, message: str) -> bytes:
        """The terminal `error` event of a stream that broke after it began."""
        if self._ended:
            return b""
        out: list[bytes] = []
        self._fail(anthropic_error_type(status), message, out)
        return b"".join(out)

    def _fail_upstream(self, error: dict[str, Any] | None, message: str, out: list[bytes]) -> None:
        if error is None:  # the stream itself was broken: a bad gateway
            self._fail(anthropic_error_type(502), message, out)
            return
        code, said = error.get("code"), error.get("message")
        # vLLM and others put the HTTP status in `code`; OpenAI's own in-band errors are 500s.
        status = code if type(code) is int and 400 <= code < 600 else 500
        self._fail(
            anthropic_error_type(status), said if isinstance(said, str) and said else message, out
        )

    def _read_chunk(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        if isinstance(error := chunk.get("error"), dict):  # an error in band, as OpenAI sends
            self._fail_upstream(error, "The upstream failed mid-stream.", out)
            return
        if isinstance(chunk.get("model"), str) and chunk["model"] and not self._started:
            self._model = chunk["model"]
        self._start(out)
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._read_choice(choice, out)

    def _read_choice(self, choice: dict[str, Any], out: list[bytes]) -> None:
        delta = choice.get("delta")
        delta = delta if isinstance(delta, dict) else {}
        for key in ("content", "refusal"):
            text = delta.get(key)
            if isinstance(text, str) and text:
                self._refused |= key == "refusal"
                self._text_piece(text, out)
        for call in delta.get("tool_calls") or ():
            if isinstance(call, dict):
                self._tool_call(call, out)
        if isinstance(choice.get("finish_reason"), str):
            self._finish_reason = choice["finish_reason"]

    def _start(self, out: list[bytes]) -> None:
        if self._started:
            return
        self._started = True
        message: dict[str, Any] = {
            "id": self._message_id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _START_USAGE,
        }
        out.append(self._event("message_start", message=message))

    def _text_piece(self, text: str, out: list[bytes]) -> None:
        block = self._text
        if block is None or (block.index is not None and block is not self._open):
            block = self._text = _Block({"type": "text", "text": ""}, "text_delta", whole=True)
            self._add(block, out)
        self._put(block, text, out)

    def _tool_call(self, chat_call: dict[str, Any], out: list[bytes]) -> None:
        index = self._call_index(chat_call)
        function = chat_call.get("function")
        function = function if isinstance(function, dict) else {}
        name, arguments = function.get("name"), function.get("arguments")
        name = name if isinstance(name, str) else ""
        block = self._calls.get(index)
        if block is None:
            call_id = chat_call.get("id")
            if not isinstance(call_id, str) or not call_id:
                call_id = f"call_{self._message_id}_{index}"
            start = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
            block = self._calls[index] = _Block(start, "input_json_delta")
            self._add(block, out)
        elif name and not block.content_block["name"] and block.index is None:
            block.content_block["name"] = name  # a name after the id, in time if still waiting
        if isinstance(arguments, str) and arguments:
            self._put(block, arguments, out)

    def _call_index(self, chat_call: dict[str, Any]) -> int:
        """The chat `index` of a tool call piece; where an upstream leaves it out, the call with
        the piece's `id`, a new call for a new id, or else the last call."""
        index, call_id = chat_call.get("index"), chat_call.get("id")
        if type(index) is int:
            return index
        if call_id:
            for known, block in self._calls.items():
                if block.content_block["id"] == call_id:
                    return known
        return max(self._calls, default=-1) + 1 if call_id or not self._calls else max(self._calls)

    def _add(self, block: _Block, out: list[bytes]) -> None:
        """A new block starts at once if the open one may end, else waits its turn."""
        if self._open is None or self._open.whole:
            self._begin(block, out)
        else:
            self._waiting.append(block)

    def _put(self, block: _Block, piece: str, out: list[bytes]) -> None:
        if block.index is not None and block is not self._open:
            return  # a call whose arguments' object had closed
        was_whole = block.whole
        if not block.whole:
            block.scan(piece)
        if block is self._open:
            out.append(self._delta(block, piece))
            if block.whole and not was_whole and (following := self._next_waiting()):
                self._begin(following, out)
        elif self._open is None or self._open.whole:
            self._begin(block, out)
            out.append(self._delta(block, piece))
        else:
            block.waiting.append(piece)

    def _begin(self, block: _Block, out: list[bytes]) -> None:
        """Stop the open block and start `block`, with any content it kept while waiting."""
        self._stop_open(out)
        block.index = self._next_index
        self._next_index += 1
        self._open = block
        event = {"index": block.index, "content_block": block.content_block}
        out.append(self._event("content_block_start", **event))
        if block.waiting:
            out.append(self._delta(block, "".join(block.waiting)))
            block.waiting.clear()

    def _next_waiting(self) -> _Block | None:
        while self._waiting:
            block = self._waiting.popleft()
            if block.index is None:
                return block
        return None

    def _stop_open(self, out: list[bytes]) -> None:
        if self._open is not None:
            out.append(self._event("content_block_stop", index=self._open.index))
            self._open = None

    def _complete(self, out: list[bytes]) -> None:
        self._start(out)
        self._ended = True
        while (block := self._next_waiting()) is not None:
            self._begin(block, out)
        self._stop_open(out)
        # A refusal under another finish (`stop`) is still one, as in the JSON answer.
        stop_reason = "refusal" if self._refused else stop_reason_from_finish(self._finish_reason)
        delta = {"stop_reason": stop_reason, "stop_sequence": None}
        out.append(self._event("message_delta", delta=delta, usage=usage_from_chat(self._usage)))
        out.append(self._event("message_stop"))

    def _fail(self, error_type: str, message: str, out: list[bytes]) -> None:
        self._ended = True
        out.append(self._event("error", error={"type": error_type, "message": message}))

    def _delta(self, block: _Block, piece: str) -> bytes:
        delta = {"type": block.delta_type, _DELTA_FIELD[block.delta_type]: piece}
        return self._event("content_block_delta", index=block.index, delta=delta)

    @staticmethod
    def _event(event_type: str, **fields: Any) -> bytes:
        data = orjson.dumps({"type": event_type, **fields})
        return b"event: " + event_type.encode() + b"\ndata: " + data + b"\n\n"
