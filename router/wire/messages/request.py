"""Anthropic Messages requests (`POST /v1/messages`, `POST /v1/messages/count_tokens`)
translated to Chat Completions bodies.

The router serves the Messages API by translating each request into the Chat Completions body
its pipeline already routes, then the answer back (`answer.py`, `events.py`). What a Chat
Completions upstream cannot do (server tools, MCP servers, containers, context management,
`top_k`) is refused, and so is any field this router does not know: a 400 naming it, rather
than a setting silently lost on the way. Only hints that change no answer are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from router.errors import Untranslatable
from router.wire.fields import (
    as_list,
    as_object,
    check_keys,
    invalid_type,
    missing,
    optional_bool,
    optional_choice,
    optional_int,
    optional_number,
    optional_str,
    unsupported,
)
from router.wire.messages.blocks import check_cache_control, text_blocks
from router.wire.messages.message_content import chat_messages
from router.wire.messages.thinking import reasoning_effort
from router.wire.messages.tools import chat_tool_choice, chat_tools
from router.wire.requests import MAX_OUTPUT_TOKENS, decode_json_object


@dataclass(frozen=True, slots=True)
class MessagesRequest:
    body: dict[str, Any]  # the client's Messages body, as decoded
    chat_body: dict[str, Any]  # the Chat Completions body it becomes
    stream: bool


_REFUSED = {
    "container": "this router runs no code-execution containers",
    "mcp_servers": "this router connects to no MCP servers; declare the tools in 'tools'",
    "context_management": "this router does not edit the conversation; send it as it should "
    "be read",
    "top_k": "Chat Completions has no top-k sampling; use 'top_p' or 'temperature'",
}
# `count_tokens` reads the prompt only; `cache_control` (top level) asks Anthropic to cache the
# prompt and changes no answer, so it is validated and dropped like a block's.
_COUNT_FIELDS = frozenset(("model", "messages", "system", "tools", "tool_choice", "thinking"))
_PROMPT_FIELDS = _COUNT_FIELDS | {"cache_control"}
_CREATE_FIELDS = _PROMPT_FIELDS | {
    "max_tokens",
    "stop_sequences",
    "temperature",
    "top_p",
    "metadata",
    "service_tier",
    "stream",
}
# Chat Completions states at most 4 stop sequences.
_MAX_STOP_SEQUENCES = 4
# An image costs Anthropic about (width x height) / 750 tokens, at most about 1,600 once it is
# scaled to its 1.15-megapixel limit; a PDF page costs 1,500 to 3,000. Neither can be told
# without decoding the data, so each image or document counts as 1,600.
_TOKENS_PER_ATTACHMENT = 1600


def parse_messages_request(raw: bytes) -> MessagesRequest:
    return messages_request(decode_json_object(raw))


def messages_request(body: dict[str, Any]) -> MessagesRequest:
    """A decoded Messages body and the chat body it becomes."""
    _refuse_unknown(body, _CREATE_FIELDS)
    chat = _prompt(body)
    max_tokens = optional_int(body, "max_tokens", 1, MAX_OUTPUT_TOKENS)
    if max_tokens is None:
        raise missing("max_tokens")
    chat["max_completion_tokens"] = max_tokens
    chat.update(_sampling(body))
    if body.get("metadata") is not None:
        metadata = as_object(body["metadata"], "metadata")
        check_keys(metadata, ("user_id",), "metadata.")
        user_id = optional_str(metadata, "user_id", "metadata.")
        if user_id is not None:
            chat["user"] = user_id
    # Anthropic's tiers choose between its priority and standard capacity; the router's upstreams
    # have no such tiers (OpenAI's `service_tier` names other ones), so it is validated, dropped.
    optional_choice(body, "service_tier", ("auto", "standard_only"))
    stream = optional_bool(body, "stream") or False
    if stream:
        # `message_delta` carries the usage, which a chat stream reports only when asked.
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return MessagesRequest(body=body, chat_body=chat, stream=stream)


def parse_count_tokens_request(raw: bytes) -> MessagesRequest:
    """A `count_tokens` body: the prompt of a Messages request, without its output settings."""
    return count_tokens_request(decode_json_object(raw))


def count_tokens_request(body: dict[str, Any]) -> MessagesRequest:
    """`parse_count_tokens_request` of a decoded body."""
    _refuse_unknown(body, _PROMPT_FIELDS)
    return MessagesRequest(body=body, chat_body=_prompt(body), stream=False)


def estimated_input_tokens(request: MessagesRequest) -> int:
    """A local estimate of the request's input tokens, for `count_tokens`: no Chat Completions
    upstream counts tokens without generating, and the router knows no model's tokenizer. About
    4 UTF-8 bytes a token over the translated messages' text (tool calls and results included)
    and the tools' names, descriptions and schemas, plus 1,600 tokens per image or document;
    at least 1. It is an estimate, not Anthropic's count."""
    size = 0
    attachments = 0
    for message in request.chat_body["messages"]:
        content = message.get("content")
        parts = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
        for part in parts:
            if part["type"] == "text":
                size += len(part["text"].encode())
            else:
                attachments += 1
        for call in message.get("tool_calls", ()):
            size += len(call["function"]["name"].encode()) + len(call["function"]["arguments"])
    for tool in request.chat_body.get("tools", ()):
        size += len(orjson.dumps(tool["function"]))
    return max(1, size // 4 + attachments * _TOKENS_PER_ATTACHMENT)


def _refuse_unknown(body: dict[str, Any], known: frozenset[str]) -> None:
    for name in body:
        if name in _REFUSED and body[name] is not None:
            raise Untranslatable(f"'{name}' is not supported: {_REFUSED[name]}.", param=name)
        if name not in known and name not in _REFUSED:
            raise unsupported(name)


def _prompt(body: dict[str, Any]) -> dict[str, Any]:
    """The chat body's prompt: model, messages, tools and reasoning effort."""
    model = body.get("model")
    if model is None:
        raise missing("model")
    if not isinstance(model, str) or not model:
        raise invalid_type("model", "a non-empty string")
    check_cache_control(body, "")
    chat: dict[str, Any] = {
        "model": model,
        "messages": _system(body) + chat_messages(body.get("messages")),
    }
    tools = chat_tools(body["tools"]) if body.get("tools") is not None else []
    if tools:
        chat["tools"] = tools
    if body.get("tool_choice") is not None:
        chat.update(chat_tool_choice(body["tool_choice"], tools))
    effort = reasoning_effort(body.get("thinking"))
    if effort is not None:
        chat["reasoning_effort"] = effort
    return chat


def _system(body: dict[str, Any]) -> list[dict[str, Any]]:
    """`system` (a string, or text blocks joined with a blank line) as a first system message;
    none when it is empty."""
    value = body.get("system")
    if value is None:
        return []
    if isinstance(value, str):
        text = value
    elif isinstance(value, list):
        text = "\n\n".join(text_blocks(value, "system"))
    else:
        raise invalid_type("system", "a string or an array of text blocks")
    return [{"role": "system", "content": text}] if text else []


def _sampling(body: dict[str, Any]) -> dict[str, Any]:
    chat: dict[str, Any] = {}
    for name in ("temperature", "top_p"):
        value = optional_number(body, name, 0.0, 1.0)
        if value is not None:
            chat[name] = value
    if body.get("stop_sequences") is not None:
        stops = as_list(body["stop_sequences"], "stop_sequences")
        if len(stops) > _MAX_STOP_SEQUENCES or not all(isinstance(s, str) and s for s in stops):
            raise Untranslatable(
                f"Invalid 'stop_sequences': expected at most {_MAX_STOP_SEQUENCES} non-empty "
                "strings (Chat Completions takes no more).",
                param="stop_sequences",
            )
        if stops:
            chat["stop"] = stops
    return chat
