"""The Anthropic Messages wire format the simulated cloud answers with: `Message` objects and the
stream events of `POST /v1/messages`.

One answer is one content block: a `text` block or, for the tool-call answer kinds, a `tool_use`
block calling `wire.TOOL_NAME` with `{"q": text}`; an empty text answer has no block at all. Its
`stop_reason`: `refusal` for the refusal and content_filter kinds (Anthropic has no content
filter stop of its own), else `max_tokens` when cut at the cap, `tool_use` for a tool call,
`stop_sequence` (with `stop_sequence` set) when cut at one, `end_turn` otherwise.

A stream goes as Anthropic's does: `message_start` (sent with the headers), then
`content_block_start` and a `ping` with the first delta (`text_delta`, or `input_json_delta` whose
pieces join to the tool's input), one delta per token, then `content_block_stop`, `message_delta`
(the stop reason, and the output tokens) and `message_stop`.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from .answers import NativeAnswer
from .errors import injected_error
from .wire import TOOL_NAME, Billed, cut_short

# The id of the one tool_use block a tool-call answer has (`wire.TOOL_CALL_ID` in OpenAI's APIs).
TOOL_USE_ID: Final = "toolu_mock_0"
_PING: Final = b'event: ping\ndata: {"type":"ping"}\n\n'


def stop_reason(answer: NativeAnswer) -> str:
    if answer.kind in ("refusal", "content_filter"):
        return "refusal"
    if answer.ended_by == "cap":
        return "max_tokens"
    if answer.is_tool_call:
        return "tool_use"
    return "stop_sequence" if answer.ended_by == "stop_sequence" else "end_turn"


def content_blocks(answer: NativeAnswer) -> list[dict[str, Any]]:
    if answer.is_tool_call:
        return [_tool_use_block({"q": answer.text})]
    return [_text_block(answer.text)] if answer.deltas else []


def message_usage(input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> dict[str, int]:
    """Anthropic's usage of a prompt of `input_tokens`, `cached_tokens` of them read from the
    region's prompt cache: as Anthropic counts them, `input_tokens` leaves the cache reads out."""
    return {
        "input_tokens": input_tokens - cached_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached_tokens,
        "output_tokens": output_tokens,
    }


def message_body(
    answer: NativeAnswer, *, message_id: str, model: str, input_tokens: int, cached_tokens: int = 0
) -> dict[str, Any]:
    """The JSON (not streamed) answer."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content_blocks(answer),
        "stop_reason": stop_reason(answer),
        "stop_sequence": answer.stop_sequence,
        "usage": message_usage(input_tokens, answer.output_tokens, cached_tokens),
    }


class MessagesStream:
    """The events of one streamed Message, produced in order by `streaming.write_events`:
    `head()`, `opening()`, `token(i)` for each token, then `closing()` or `error(status)`."""

    def __init__(
        self,
        answer: NativeAnswer,
        *,
        message_id: str,
        model: str,
        input_tokens: int,
        cached_tokens: int = 0,
    ) -> None:
        self._answer = answer
        self._cached_tokens = cached_tokens
        self._message_id = message_id
        self._model = model
        self._input_tokens = input_tokens
        # Set once the closing's `message_delta` carries the usage (`EventStream.billed`).
        self.billed: Billed | None = None
        self._delta_type, self._delta_field = (
            ("input_json_delta", "partial_json") if answer.is_tool_call else ("text_delta", "text")
        )

    @property
    def tokens(self) -> int:
        return self._answer.output_tokens

    def head(self) -> bytes:
        message: dict[str, Any] = {
            "id": self._message_id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # As Anthropic's: the output so far is counted as 1; `message_delta` has the total.
            "usage": message_usage(self._input_tokens, 1, self._cached_tokens),
        }
        return _event("message_start", message=message)

    def opening(self) -> bytes:
        if not self._answer.deltas:
            return b""
        block = _tool_use_block({}) if self._answer.is_tool_call else _text_block("")
        return _event("content_block_start", index=0, content_block=block) + _PING

    def token(self, i: int) -> bytes:
        delta = {"type": self._delta_type, self._delta_field: self._answer.deltas[i]}
        return _event("content_block_delta", index=0, delta=delta)

    def closing(self, *, terminal: bool = True) -> bytes:
        """`content_block_stop`, `message_delta`, then `message_stop` unless not `terminal`."""
        answer = self._answer
        stop = _event("content_block_stop", index=0) if answer.deltas else b""
        delta = {"stop_reason": stop_reason(answer), "stop_sequence": answer.stop_sequence}
        usage = {"output_tokens": answer.output_tokens}
        events = stop + _event("message_delta", delta=delta, usage=usage)
        # The input as `message_start` said it (`message_usage`: cache reads left out).
        self.billed = Billed(self._input_tokens - self._cached_tokens, answer.output_tokens)
        return events + _event("message_stop") if terminal else events

    def malformed(self) -> bytes:
        delta = {"type": self._delta_type, self._delta_field: ""}
        return cut_short(_event("content_block_delta", index=0, delta=delta))

    def error(self, status: int) -> bytes:
        """Anthropic's in-band error: an `error` event with the error body, ending the stream."""
        error = injected_error(status, "anthropic")
        return b"event: error\ndata: " + error.anthropic_body() + b"\n\n"


def _text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _tool_use_block(tool_input: dict[str, str]) -> dict[str, Any]:
    return {"type": "tool_use", "id": TOOL_USE_ID, "name": TOOL_NAME, "input": tool_input}


def _event(event_type: str, **fields: Any) -> bytes:
    data = orjson.dumps({"type": event_type, **fields})
    return b"event: " + event_type.encode() + b"\ndata: " + data + b"\n\n"
