"""The three APIs a run speaks, each its path, its request body, its credentials and how its
answers are read: OpenAI's Chat Completions (`POST /chat/completions`) and Responses
(`POST /responses`, `input` items, `max_output_tokens`, `store: false` so that a long run leaves
no stored responses behind), and Anthropic's Messages (`POST /messages`, the key in `x-api-key`
and `anthropic-version: 2023-06-01`, as Anthropic's clients send them).

Bodies are built once per distinct request (the workload's pool, `loadtest.generator.workload`);
an answer's text is decoded only for a conversation, which sends it back in its next turn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from loadtest.generator.requests import ReportedUsage, chat_usage_in, completion_tokens_in
from loadtest.generator.stream_readers import (
    MESSAGES_EVENTS,
    RESPONSES_EVENTS,
    ChatStreamReader,
    EventStreamReader,
    StreamReader,
    native_usage_in,
    output_tokens_in,
)

ANTHROPIC_VERSION: Final = "2023-06-01"
Message = dict[str, str]  # {"role": ..., "content": ...}


def _chat_body(
    model: str,
    messages: Sequence[Message],
    max_tokens: int | None,
    stream: bool,
    extra: dict[str, Any],
) -> bytes:
    body: dict[str, Any] = {"model": model, "messages": list(messages)}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    body.update(extra)
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)


def _responses_body(
    model: str,
    messages: Sequence[Message],
    max_tokens: int | None,
    stream: bool,
    extra: dict[str, Any],
) -> bytes:
    body: dict[str, Any] = {"model": model, "input": list(messages)}
    if max_tokens is not None:
        body["max_output_tokens"] = max_tokens
    body["store"] = False
    body.update(extra)
    if stream:
        body["stream"] = True
    return orjson.dumps(body)


def _messages_body(
    model: str,
    messages: Sequence[Message],
    max_tokens: int | None,
    stream: bool,
    extra: dict[str, Any],
) -> bytes:
    if max_tokens is None:
        raise ValueError("the Messages API requires max_tokens")
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": list(messages)}
    body.update(extra)
    if stream:
        body["stream"] = True
    return orjson.dumps(body)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _anthropic(key: str) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}


def _chat_text(answer: Any) -> str:
    choices = answer.get("choices") if isinstance(answer, dict) else None
    message = choices[0].get("message") if isinstance(choices, list) and choices else None
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


def _responses_text(answer: Any) -> str:
    output = answer.get("output") if isinstance(answer, dict) else None
    return "".join(
        part.get("text", "")
        for item in (output if isinstance(output, list) else [])
        if isinstance(item, dict) and item.get("type") == "message"
        for part in item.get("content") or []
        if isinstance(part, dict) and part.get("type") == "output_text"
    )


def _messages_text(answer: Any) -> str:
    content = answer.get("content") if isinstance(answer, dict) else None
    return "".join(
        block.get("text", "")
        for block in (content if isinstance(content, list) else [])
        if isinstance(block, dict) and block.get("type") == "text"
    )


def _chat_delta(event: Any) -> str:
    choices = event.get("choices") if isinstance(event, dict) else None
    delta = choices[0].get("delta") if isinstance(choices, list) and choices else None
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""


def _responses_delta(event: Any) -> str:
    if isinstance(event, dict) and event.get("type") == "response.output_text.delta":
        delta = event.get("delta")
        return delta if isinstance(delta, str) else ""
    return ""


def _messages_delta(event: Any) -> str:
    if isinstance(event, dict) and event.get("type") == "content_block_delta":
        delta = event.get("delta")
        text = delta.get("text") if isinstance(delta, dict) else None
        return text if isinstance(text, str) else ""
    return ""


BodyBuilder = Callable[[str, Sequence[Message], int | None, bool, dict[str, Any]], bytes]


@dataclass(frozen=True, slots=True)
class Api:
    name: str
    path: str
    build: BodyBuilder
    credentials: Callable[[str], dict[str, str]]
    _answer_text: Callable[[Any], str]
    _delta_text: Callable[[Any], str]

    def body(
        self,
        model: str,
        messages: Sequence[Message],
        max_tokens: int | None,
        stream: bool,
        extra: dict[str, Any] | None = None,
    ) -> bytes:
        """The body; `max_tokens` None leaves the cap out where the API allows it."""
        return self.build(model, messages, max_tokens, stream, extra or {})

    def headers(self, key: str) -> dict[str, str]:
        return self.credentials(key)

    def stream_reader(self, keep: bool = False) -> StreamReader:
        if self.name == "chat":
            return ChatStreamReader(keep)
        grammar = RESPONSES_EVENTS if self.name == "responses" else MESSAGES_EVENTS
        return EventStreamReader(grammar, keep)

    def output_tokens(self, body: bytes) -> int:
        """The output tokens a JSON answer's usage reports (0 when it reports none)."""
        found = completion_tokens_in(body) if self.name == "chat" else output_tokens_in(body)
        return found or 0

    def usage(self, body: bytes) -> ReportedUsage | None:
        """The usage a JSON answer reports (None when it reports none)."""
        return chat_usage_in(body) if self.name == "chat" else native_usage_in(body)

    def answer_text(self, body: bytes) -> str:
        """A JSON answer's text ("" when it has none or is no JSON)."""
        try:
            return self._answer_text(orjson.loads(body))
        except orjson.JSONDecodeError:
            return ""

    def stream_text(self, raw: bytes) -> str:
        """The text a stream's deltas carry, in order."""
        pieces = []
        for line in raw.split(b"\n"):
            if not line.startswith(b"data:"):
                continue
            try:
                event = orjson.loads(line[5:])
            except orjson.JSONDecodeError:
                continue  # `[DONE]`, or a malformed event
            pieces.append(self._delta_text(event))
        return "".join(pieces)


CHAT: Final = Api("chat", "/chat/completions", _chat_body, _bearer, _chat_text, _chat_delta)
RESPONSES: Final = Api(
    "responses", "/responses", _responses_body, _bearer, _responses_text, _responses_delta
)
MESSAGES: Final = Api(
    "messages", "/messages", _messages_body, _anthropic, _messages_text, _messages_delta
)
APIS: Final = {api.name: api for api in (CHAT, RESPONSES, MESSAGES)}
