"""What the translations of a native API's answers into Chat Completions share (Anthropic
Messages' in `router.wire.upstream_messages`, OpenAI Responses' in
`router.wire.upstream_responses`): the `chat.completion` a JSON answer becomes, token counts and
the chat usage they make, the id of a tool call the upstream named none, and the base of the
stream translations.

The base (`ChatChunksFromNative`) reads the stream with `EventReader`, which keeps only the
unfinished line, translates each event as it completes (the work is linear in the stream's
size), ends the stream once, and writes the chat chunks (`data: {chat.completion.chunk}`) as an
OpenAI upstream streams them. Data that is not a JSON object ends the stream with OpenAI's
in-band error, here. A subclass says what one event means (`_read_event`), how a stream that
ended normally is completed (`_complete`, which closes with `_end`) and what the stream's usage
was (`_chat_usage`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import orjson

from router.wire.chat_translation import NOT_AN_OBJECT
from router.wire.event_reader import EventReader

_DONE = b"data: [DONE]\n\n"
_NOT_AN_OBJECT_ERROR = {
    "message": NOT_AN_OBJECT,
    "type": "server_error",
    "param": None,
    "code": 502,
}
_MAX_COUNT = 2**60


def chat_completion(
    *,
    chat_id: str,
    created: int,
    model: object,
    message: dict[str, Any],
    finish_reason: str,
    usage: dict[str, Any],
) -> dict[str, Any]:
    """A `chat.completion` of one choice, `message`. `model` is the upstream's: one that is not
    a string reads as absent (`""`)."""
    return {
        "id": chat_id,
        "object": "chat.completion",
        "created": created,
        "model": model if isinstance(model, str) else "",
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": usage,
    }


def chat_usage_of_counts(
    *, prompt_tokens: int, completion_tokens: int, cached_tokens: int, reasoning_tokens: int | None
) -> dict[str, Any]:
    """Usage in the Chat Completions shape: the total is the sum, as OpenAI's is, and the
    completion's details are said only where the upstream counted reasoning tokens."""
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens},
    }
    if reasoning_tokens is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return usage


def token_count(value: object) -> int:
    """A token count; a negative, fractional or missing count reads as 0, and one past 2**60
    (no real answer's) as 2**60, so that the sums stay within the 64 bits JSON writers take."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return min(value, _MAX_COUNT)
    return 0


def fallback_call_id(chat_id: str, index: int) -> str:
    """The id of the answer's `index`th tool call when the upstream gave it none: the same in a
    JSON answer and in a stream."""
    return f"call_{chat_id}_{index}"


class ChatChunksFromNative(ABC):
    """One stream's translation: `feed` it the upstream's bytes, then `finish`."""

    def __init__(self, *, chat_id: str, created: int, model: str, include_usage: bool) -> None:
        self._chat_id = chat_id
        self._created = created
        self._model = model
        self._include_usage = include_usage
        self._reader = EventReader()
        self._started = False  # the first chunk, with the assistant's role, was sent
        self._finished = False  # `finish` was called: no more input
        self._ended = False  # `[DONE]` or an error was sent: no more output
        self._calls = 0  # tool calls started so far

    def feed(self, chunk: bytes) -> bytes:
        if self._finished:
            return b""
        out: list[bytes] = []
        for event in self._reader.feed(chunk):
            if self._ended:
                break
            try:
                data = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                data = None
            if isinstance(data, dict):
                self._read_event(event.name or data.get("type"), data, out)
            else:
                self._send_error(_NOT_AN_OBJECT_ERROR, out)
        return b"".join(out)

    def finish(self, complete: bool) -> bytes:
        """The stream ended. Ended normally without its closing event, it completes the answer;
        broken (or the client gone), it sends nothing: the writer reports the break."""
        self._finished = True
        self._reader.clear()
        if not complete or self._ended:
            return b""
        out: list[bytes] = []
        self._complete(out)
        return b"".join(out)

    @abstractmethod
    def _read_event(self, kind: object, data: dict[str, Any], out: list[bytes]) -> None:
        """What one event means in chat chunks: `kind` is its type (the `event:` name, or else
        the data's `type`), `data` its JSON object."""

    @abstractmethod
    def _complete(self, out: list[bytes]) -> None:
        """Complete an answer that ended normally: the chunks it still owes, then `_end`."""

    @abstractmethod
    def _chat_usage(self) -> dict[str, Any]:
        """The stream's usage in the Chat Completions shape."""

    def _start(self, out: list[bytes]) -> None:
        if not self._started:
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))

    def _start_call(self, call_id: object, name: object, out: list[bytes]) -> int:
        """Send a new tool call's first delta (its index, id and name) and return its index."""
        index = self._calls
        self._calls += 1
        if not isinstance(call_id, str) or not call_id:
            call_id = fallback_call_id(self._chat_id, index)
        tool_call = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": name if isinstance(name, str) else "", "arguments": ""},
        }
        out.append(self._chunk({"tool_calls": [tool_call]}))
        return index

    def _arguments(self, index: int, piece: str) -> bytes:
        tool_call = {"index": index, "function": {"arguments": piece}}
        return self._chunk({"tool_calls": [tool_call]})

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return b"data: " + orjson.dumps({**self._envelope(), "choices": [choice]}) + b"\n\n"

    def _end(self, out: list[bytes]) -> None:
        """End the stream: the usage chunk (`choices: []`, when the client asked for it), then
        `[DONE]`."""
        self._ended = True
        if self._include_usage:
            usage = {**self._envelope(), "choices": [], "usage": self._chat_usage()}
            out.append(b"data: " + orjson.dumps(usage) + b"\n\n")
        out.append(_DONE)

    def _send_error(self, error: dict[str, Any], out: list[bytes]) -> None:
        """End the stream with OpenAI's in-band error, `data: {"error": {...}}`."""
        self._ended = True
        out.append(b"data: " + orjson.dumps({"error": error}) + b"\n\n")

    def _envelope(self) -> dict[str, Any]:
        return {
            "id": self._chat_id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
        }
