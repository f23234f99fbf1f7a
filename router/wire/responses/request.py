"""Responses API requests (`POST /v1/responses`) translated to Chat Completions bodies.

The router serves the Responses API by translating each request into the Chat Completions body
its pipeline already routes, then the answer back (`answer.py`, `events.py`); an endpoint that
speaks Responses gets the request itself instead (`router.wire.native`). The fields that need
state no endpoint can be relied on to keep (conversations, prompt templates, background runs)
are refused, and so is any field the router does not know: a 400 naming it, rather than a
setting silently lost on the way. `previous_response_id` is taken: it continues a response that
one endpoint stored, and the request goes to that endpoint alone (`router.stages.affinity`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from router.errors import InvalidRequest
from router.wire.fields import (
    as_list,
    as_object,
    check_keys,
    invalid_type,
    optional_bool,
    optional_choice,
    optional_int,
    optional_number,
    optional_str,
    unsupported,
)
from router.wire.requests import MAX_OUTPUT_TOKENS, decode_json_object
from router.wire.responses.input_items import chat_messages
from router.wire.responses.tools import chat_text_settings, chat_tool_choice, chat_tools


@dataclass(frozen=True, slots=True)
class ResponsesRequest:
    body: dict[str, Any]  # the client's Responses body, as decoded
    chat_body: dict[str, Any]  # the Chat Completions body it becomes
    stream: bool


# Fields that need what OpenAI stores; `background` only when true.
_STATEFUL = {
    "conversation": "this router keeps no conversations; send the whole conversation in 'input'",
    "prompt": "this router keeps no prompt templates; send the instructions and input themselves",
    "background": "this router runs no background responses; leave 'background' false",
}
# Read, validated and echoed in the Response, but not forwarded: they configure storage,
# truncation or extra output that a Chat Completions upstream does not offer.
_ECHOED = (
    "store",
    "metadata",
    "truncation",
    "include",
    "top_logprobs",
    "max_tool_calls",
    "previous_response_id",
)
# OpenAI's response ids are about 50 characters; a longer one is no id.
_MAX_RESPONSE_ID_CHARS = 256
_FORWARDED = (
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "service_tier",
)
_TRANSLATED = (
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "text",
    "reasoning",
    "max_output_tokens",
    "stream",
    "stream_options",
)
_KNOWN = frozenset((*_STATEFUL, *_ECHOED, *_FORWARDED, *_TRANSLATED))
_SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority", "fast", "ultrafast")
_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
_SUMMARIES = ("auto", "concise", "detailed")
# The least output the Responses API accepts as `max_output_tokens`.
_MIN_OUTPUT_TOKENS = 16


def parse_responses_request(raw: bytes) -> ResponsesRequest:
    return responses_request(decode_json_object(raw))


def responses_request(body: dict[str, Any]) -> ResponsesRequest:
    """A decoded Responses body and the chat body it becomes."""
    _refuse_unknown_and_stateful(body)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        if model is None:
            raise InvalidRequest("Missing required parameter: 'model'.", param="model")
        raise invalid_type("model", "a non-empty string")
    stream = optional_bool(body, "stream") or False
    messages = _instructions(body) + chat_messages(body.get("input"))
    if not messages:
        raise InvalidRequest(
            "Invalid 'input': there is nothing to send to the model (no instructions and no "
            "messages).",
            param="input",
        )
    chat: dict[str, Any] = {"model": model, "messages": messages}
    chat.update(_forwarded(body))
    chat.update(_translated_settings(body))
    _check_echoed(body)
    if body.get("stream_options") is not None:
        options = as_object(body["stream_options"], "stream_options")
        check_keys(options, ("include_obfuscation",), "stream_options.")
        optional_bool(options, "include_obfuscation", "stream_options.")
    if stream:
        # The final event carries usage, which a chat stream reports only when asked.
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return ResponsesRequest(body=body, chat_body=chat, stream=stream)


def _refuse_unknown_and_stateful(body: dict[str, Any]) -> None:
    for name in body:
        if name not in _KNOWN:
            raise unsupported(name)
    for name, reason in _STATEFUL.items():
        value = body.get(name)
        if value is None or value is False:
            continue
        if name == "background" and not isinstance(value, bool):
            raise invalid_type(name, "a boolean")
        raise InvalidRequest(f"'{name}' is not supported: {reason}.", param=name)


def _instructions(body: dict[str, Any]) -> list[dict[str, Any]]:
    instructions = optional_str(body, "instructions")
    return [] if instructions is None else [{"role": "system", "content": instructions}]


def _forwarded(body: dict[str, Any]) -> dict[str, Any]:
    """The settings Chat Completions takes under the same name."""
    values = {
        "temperature": optional_number(body, "temperature", 0.0, 2.0),
        "top_p": optional_number(body, "top_p", 0.0, 1.0),
        "parallel_tool_calls": optional_bool(body, "parallel_tool_calls"),
        "user": optional_str(body, "user"),
        "safety_identifier": optional_str(body, "safety_identifier", max_length=64),
        "prompt_cache_key": optional_str(body, "prompt_cache_key"),
        "prompt_cache_retention": optional_choice(
            body, "prompt_cache_retention", ("in_memory", "24h")
        ),
        "service_tier": optional_choice(body, "service_tier", _SERVICE_TIERS),
    }
    return {name: value for name, value in values.items() if value is not None}


def _translated_settings(body: dict[str, Any]) -> dict[str, Any]:
    """The settings Chat Completions takes under another name or shape."""
    chat: dict[str, Any] = {}
    max_tokens = optional_int(body, "max_output_tokens", _MIN_OUTPUT_TOKENS, MAX_OUTPUT_TOKENS)
    if max_tokens is not None:
        chat["max_completion_tokens"] = max_tokens
    if body.get("tools") is not None:
        chat["tools"] = chat_tools(body["tools"])
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = chat_tool_choice(body["tool_choice"])
    if body.get("text") is not None:
        chat.update(chat_text_settings(body["text"]))
    if body.get("reasoning") is not None:
        reasoning = as_object(body["reasoning"], "reasoning")
        check_keys(reasoning, ("effort", "summary", "generate_summary"), "reasoning.")
        # The summary settings are dropped: Chat Completions returns no reasoning summaries.
        optional_choice(reasoning, "summary", _SUMMARIES, "reasoning.")
        optional_choice(reasoning, "generate_summary", _SUMMARIES, "reasoning.")
        effort = optional_choice(reasoning, "effort", _EFFORTS, "reasoning.")
        if effort is not None:
            chat["reasoning_effort"] = effort
    return chat


def _check_echoed(body: dict[str, Any]) -> None:
    optional_bool(body, "store")
    previous = optional_str(body, "previous_response_id", max_length=_MAX_RESPONSE_ID_CHARS)
    if previous is not None and not previous:
        raise invalid_type("previous_response_id", "a non-empty string")
    optional_choice(body, "truncation", ("auto", "disabled"))
    optional_int(body, "top_logprobs", 0, 20)
    optional_int(body, "max_tool_calls", 0)
    if body.get("include") is not None:
        for i, value in enumerate(as_list(body["include"], "include")):
            if not isinstance(value, str):
                raise invalid_type(f"include[{i}]", "a string")
    if body.get("metadata") is not None:
        _check_metadata(as_object(body["metadata"], "metadata"))


def _check_metadata(metadata: dict[str, Any]) -> None:
    """OpenAI's limits: 16 pairs, keys of at most 64 characters, string values of at most 512.
    The key is not echoed in the error: it may be the client's data."""
    if len(metadata) > 16 or any(
        len(key) > 64 or not isinstance(value, str) or len(value) > 512
        for key, value in metadata.items()
    ):
        raise InvalidRequest(
            "Invalid 'metadata': expected at most 16 pairs of string keys (at most 64 "
            "characters) and string values (at most 512 characters).",
            param="metadata",
        )
