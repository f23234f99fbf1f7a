"""Chat Completions answers translated back to Anthropic `Message` objects.

`stop_reason_from_finish`, `usage_from_chat` and `tool_input` are shared with the stream
translation (`events.py`), which builds the same content blocks event by event;
`message_from_chat` is the JSON (non-streaming) answer. The chat body is an upstream's: a field
of another shape than OpenAI's reads as absent, never as an error.
"""

from __future__ import annotations

from typing import Any

import orjson

from router.wire.messages.request import MessagesRequest

_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    # The legacy name of `tool_calls`, still sent by some OpenAI-compatible servers.
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def stop_reason_from_finish(finish_reason: str | None) -> str:
    """A chat `finish_reason` as a Messages `stop_reason`. Chat Completions does not say which
    stop sequence ended the text (`stop` covers both), so `stop_sequence` is never reported;
    an unknown or missing reason reads as a natural end (`end_turn`)."""
    if finish_reason is None:
        return "end_turn"
    return _STOP_REASONS.get(finish_reason, "end_turn")


def usage_from_chat(usage: object) -> dict[str, Any]:
    """Chat Completions `usage` in the Messages shape. Anthropic's `input_tokens` excludes the
    tokens read from the prompt cache (the three input counts add up to the prompt), so the
    cached tokens are moved out of it; Chat Completions reports no cache writes, so 0."""
    usage = _mapping(usage)
    prompt_tokens = _count(usage.get("prompt_tokens"))
    cached = min(
        _count(_mapping(usage.get("prompt_tokens_details")).get("cached_tokens")), prompt_tokens
    )
    return {
        "input_tokens": prompt_tokens - cached,
        "output_tokens": _count(usage.get("completion_tokens")),
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
    }


def tool_input(arguments: str) -> dict[str, Any]:
    """A tool call's `arguments` (JSON text) as a `tool_use` block's `input` object. Anthropic's
    `input` is always an object: arguments that are not valid JSON, or JSON of another type (a
    model may emit a bare string or a truncated object), read as `{}`."""
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def content_from_chat(message: object) -> list[dict[str, Any]]:
    """A chat assistant message as Messages content blocks: its text (and refusal, which is
    text to an Anthropic client) as one `text` block, then one `tool_use` block per tool
    call."""
    message = _mapping(message)
    texts = [
        value
        for value in (message.get("content"), message.get("refusal"))
        if isinstance(value, str) and value
    ]
    blocks: list[dict[str, Any]] = []
    if texts:
        blocks.append({"type": "text", "text": "\n\n".join(texts)})
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        call = _mapping(call)
        function = _mapping(call.get("function"))
        arguments = function.get("arguments")
        blocks.append(
            {
                "type": "tool_use",
                "id": _text(call.get("id")),
                "name": _text(function.get("name")),
                "input": tool_input(arguments) if isinstance(arguments, str) else {},
            }
        )
    return blocks


def message_from_chat(request: MessagesRequest, chat: object, *, message_id: str) -> dict[str, Any]:
    """A `chat.completion` body (its first choice) as the Message the client asked for."""
    chat = _mapping(chat)
    choices = chat.get("choices")
    choice = _mapping(choices[0] if isinstance(choices, list) and choices else None)
    message = _mapping(choice.get("message"))
    finish_reason = choice.get("finish_reason")
    stop_reason = stop_reason_from_finish(finish_reason if isinstance(finish_reason, str) else None)
    # A refusal the upstream reports in the message, under a `stop` finish, is still a refusal.
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        stop_reason = "refusal"
    model = chat.get("model")
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model if isinstance(model, str) and model else request.chat_body["model"],
        "content": content_from_chat(message),
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage_from_chat(chat.get("usage")),
    }


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _count(value: object) -> int:
    """A token count; a negative, fractional or missing count reads as 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
