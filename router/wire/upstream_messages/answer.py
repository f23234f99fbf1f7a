"""Anthropic answers translated back to Chat Completions: a `Message` as a `chat.completion`,
and an error body as the OpenAI error type and message to relay.

`finish_reason_from_stop`, `chat_usage` and `openai_error` are shared with the stream
translation (`stream.py`); the `chat.completion` itself, the reading of token counts, the chat
usage and the ids of tool calls the upstream named none, with the Responses translation
(`router.wire.chat_from_native`). The body is an upstream's: a field of another shape than
Anthropic's reads as absent, never as an error.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from router.wire.chat_from_native import (
    chat_completion,
    chat_usage_of_counts,
    fallback_call_id,
    token_count,
)

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# Anthropic's error types: the HTTP status each stands for (which vLLM and the Messages ingress
# read from an in-band error's `code`) and the OpenAI error type a client of this router reads
# for it, in the router's own words (`router.errors`) where it has them: a 429 is `requests`
# (Anthropic does not say which limit), an overload the router's `service_unavailable`.
_ERRORS = {
    "invalid_request_error": (400, "invalid_request_error"),
    "authentication_error": (401, "authentication_error"),
    "billing_error": (402, "insufficient_quota"),
    "permission_error": (403, "permission_error"),
    "not_found_error": (404, "invalid_request_error"),
    "request_too_large": (413, "invalid_request_error"),
    "rate_limit_error": (429, "requests"),
    "api_error": (500, "server_error"),
    "timeout_error": (504, "timeout"),
    "overloaded_error": (529, "service_unavailable"),
}


def finish_reason_from_stop(stop_reason: object) -> str:
    """A Messages `stop_reason` as a chat `finish_reason`. `pause_turn` (a server tool's long
    turn, which this router never asks for), an unknown or a missing reason read as `stop`."""
    return _FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def chat_usage(usage: object) -> dict[str, Any]:
    """Messages `usage` in the Chat Completions shape. Anthropic's `input_tokens` leaves out
    the tokens read from and written to the prompt cache; a chat `prompt_tokens` counts the
    whole prompt, of which `cached_tokens` were read from the cache."""
    usage = _mapping(usage)
    cached = token_count(usage.get("cache_read_input_tokens"))
    written = token_count(usage.get("cache_creation_input_tokens"))
    details = _mapping(usage.get("output_tokens_details"))
    return chat_usage_of_counts(
        prompt_tokens=token_count(usage.get("input_tokens")) + cached + written,
        completion_tokens=token_count(usage.get("output_tokens")),
        cached_tokens=cached,
        reasoning_tokens=(
            token_count(details["thinking_tokens"]) if "thinking_tokens" in details else None
        ),
    )


def chat_from_message(message: object, *, chat_id: str, created: int) -> dict[str, Any]:
    """A Message as a `chat.completion`: its text blocks joined (they are pieces of one answer,
    split where a citation or a tool call fell), its `tool_use` blocks as tool calls; thinking
    and any other block are dropped (Chat Completions has no field for them)."""
    message = _mapping(message)
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    content = message.get("content")
    for block in content if isinstance(content, list) else ():
        block = _mapping(block)
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "tool_use":
            calls.append(_tool_call(block, fallback_call_id(chat_id, len(calls))))
    chat_message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    finish_reason = finish_reason_from_stop(message.get("stop_reason"))
    if calls:
        chat_message["tool_calls"] = calls
    elif finish_reason == "tool_calls":
        finish_reason = "stop"  # a client reads `tool_calls` as "there are calls to run"
    return chat_completion(
        chat_id=chat_id,
        created=created,
        model=message.get("model"),
        message=chat_message,
        finish_reason=finish_reason,
        usage=chat_usage(message.get("usage")),
    )


def tool_arguments(tool_input: object) -> str:
    """A `tool_use` block's `input` as a chat call's `arguments`: compact JSON of the object
    (`{}` when the input is not an object, which Anthropic's never is)."""
    if not isinstance(tool_input, dict):
        return "{}"
    try:
        return orjson.dumps(tool_input).decode()
    except TypeError:
        pass  # an integer past 64 bits, which orjson does not write
    try:
        return json.dumps(tool_input, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return "{}"


def error_from_anthropic(status: int, body: bytes) -> tuple[str, str]:
    """The OpenAI error type and message for an Anthropic error answer (`{"type": "error",
    "error": {"type", "message"}}`), to relay it; a body of another shape is typed by the
    HTTP status."""
    error = _anthropic_error(body)
    message = error.get("message")
    if not isinstance(message, str) or not message:
        message = f"The Anthropic endpoint answered with HTTP status {status}."
    return openai_error(error.get("type"), status)[1], message


def openai_error(anthropic_type: object, status: int) -> tuple[int, str]:
    """The HTTP status and OpenAI error type of an Anthropic error type; an unknown type is
    read from `status` (4xx: the client's request, anything else: the upstream's failure)."""
    if isinstance(anthropic_type, str) and anthropic_type in _ERRORS:
        return _ERRORS[anthropic_type]
    return status, "invalid_request_error" if 400 <= status < 500 else "server_error"


def _anthropic_error(body: bytes) -> dict[str, Any]:
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return _mapping(_mapping(decoded).get("error"))


def _tool_call(block: dict[str, Any], fallback_id: str) -> dict[str, Any]:
    call_id, name = block.get("id"), block.get("name")
    return {
        "id": call_id if isinstance(call_id, str) and call_id else fallback_id,
        "type": "function",
        "function": {
            "name": name if isinstance(name, str) else "",
            "arguments": tool_arguments(block.get("input")),
        },
    }


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
