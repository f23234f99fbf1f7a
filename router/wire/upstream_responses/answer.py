"""OpenAI Responses answers translated back to Chat Completions: a `Response` as a
`chat.completion`, and a failed Response or an in-band error as the OpenAI error to relay.

`finish_reason_from_status`, `chat_usage` and `openai_error` are shared with the stream
translation (`stream.py`); the `chat.completion` itself, the reading of token counts, the chat
usage and the ids of tool calls the upstream named none, with the Messages translation
(`router.wire.chat_from_native`). The body is an upstream's: a field of another shape than the
Responses API's reads as absent, never as an error.
"""

from __future__ import annotations

from typing import Any

from router.wire.chat_from_native import (
    chat_completion,
    chat_usage_of_counts,
    fallback_call_id,
    token_count,
)

# A Response's error codes (the OpenAPI spec's `ResponseErrorCode`), the codes OpenAI sends in
# a stream's `error` event, and OpenAI's error types (read when the code says nothing known):
# the HTTP status each stands for (which vLLM and the Messages ingress read from an in-band
# error's `code`) and the OpenAI error type a client of this router reads for it, in the
# router's own words (`router.errors`) where it has them. A data residency mismatch is the
# endpoint's project settings, not the request: another endpoint may serve it.
_ERRORS = {
    "server_error": (500, "server_error"),
    "rate_limit_exceeded": (429, "requests"),
    "insufficient_quota": (429, "insufficient_quota"),
    "vector_store_timeout": (504, "timeout"),
    "data_residency_mismatch": (403, "permission_error"),
    "invalid_request_error": (400, "invalid_request_error"),
    "authentication_error": (401, "authentication_error"),
    "permission_error": (403, "permission_error"),
    "not_found_error": (404, "invalid_request_error"),
    "requests": (429, "requests"),
    "tokens": (429, "tokens"),
    "timeout": (504, "timeout"),
    "service_unavailable": (503, "service_unavailable"),
}
# Codes that say the request itself is refused (its prompt, an image in it): another endpoint
# would refuse it too, so they are relayed as the client's error and never failed over.
_REQUEST_ERRORS = frozenset(
    (
        "invalid_prompt",
        "context_length_exceeded",
        "bio_policy",
        "misalignment_policy_violation",
        "invalid_image",
        "invalid_image_format",
        "invalid_base64_image",
        "invalid_image_url",
        "image_too_large",
        "image_too_small",
        "image_parse_error",
        "image_content_policy_violation",
        "invalid_image_mode",
        "image_file_too_large",
        "unsupported_image_media_type",
        "empty_image_file",
        "failed_to_download_image",
        "image_file_not_found",
    )
)


def finish_reason_from_status(status: object, incomplete_details: object, *, calls: bool) -> str:
    """A Response's `status` (and why it is incomplete) as a chat `finish_reason`: an
    incomplete answer was cut, for its content (`content_filter`) or for any other reason
    (`max_output_tokens`, and those OpenAI may add) at a limit (`length`); any other ends
    naturally, with `tool_calls` when it calls tools (a client reads that as "there are calls
    to run")."""
    if status == "incomplete":
        reason = _mapping(incomplete_details).get("reason")
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if calls else "stop"


def chat_usage(usage: object) -> dict[str, Any]:
    """Responses `usage` in the Chat Completions shape. Both count the whole prompt, of which
    `cached_tokens` were read from the cache, and the whole output, of which
    `reasoning_tokens` were the model's reasoning; the total is their sum, as OpenAI's is."""
    usage = _mapping(usage)
    details = _mapping(usage.get("output_tokens_details"))
    return chat_usage_of_counts(
        prompt_tokens=token_count(usage.get("input_tokens")),
        completion_tokens=token_count(usage.get("output_tokens")),
        cached_tokens=token_count(_mapping(usage.get("input_tokens_details")).get("cached_tokens")),
        reasoning_tokens=(
            token_count(details["reasoning_tokens"]) if "reasoning_tokens" in details else None
        ),
    )


def chat_from_response(response: dict[str, Any], *, chat_id: str, created: int) -> dict[str, Any]:
    """A Response as a `chat.completion`: the `output_text` parts of its messages joined (they
    are pieces of one answer, split where a tool call fell), their `refusal` parts joined as
    the refusal, its `function_call` items as tool calls; reasoning and any other item are
    dropped (Chat Completions has no field for them). A failed Response reads as what it holds:
    `openai_error_of_response` says whether it failed."""
    response = _mapping(response)
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[dict[str, Any]] = []
    output = response.get("output")
    for item in output if isinstance(output, list) else ():
        item = _mapping(item)
        if item.get("type") == "message":
            _read_message(item, texts, refusals)
        elif item.get("type") == "function_call":
            calls.append(_tool_call(item, fallback_call_id(chat_id, len(calls))))
    chat_message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not (calls or refusals) else None,
        "refusal": "".join(refusals) if refusals else None,
    }
    if calls:
        chat_message["tool_calls"] = calls
    finish_reason = finish_reason_from_status(
        response.get("status"), response.get("incomplete_details"), calls=bool(calls)
    )
    return chat_completion(
        chat_id=chat_id,
        created=created,
        model=response.get("model"),
        message=chat_message,
        finish_reason=finish_reason,
        usage=chat_usage(response.get("usage")),
    )


def openai_error_of_response(response: object) -> dict[str, Any] | None:
    """The OpenAI error object (`{"message", "type", "param", "code"}`, `code` the HTTP status
    as an in-band chat error carries it) of a failed Response, or None for one that did not
    fail. A failed Response without its `error` reads as the upstream's failure."""
    response = _mapping(response)
    error = response.get("error")
    if response.get("status") != "failed" and not isinstance(error, dict):
        return None
    return openai_error(_mapping(error), "The upstream failed to generate a response.")


def openai_error(error: dict[str, Any], fallback_message: str) -> dict[str, Any]:
    """A Responses error (a failed Response's `error`, or a stream's `error` event, whose
    fields OpenAI also nests under `error`) as an OpenAI error object. Its status and type are
    read from its `code`, then from its `type`; an HTTP status in `code` (as vLLM sends it, or
    as text) is kept; anything else is the upstream's failure (500)."""
    nested = _mapping(error.get("error"))
    code, message, param = (
        nested.get(name) if error.get(name) is None else error[name]
        for name in ("code", "message", "param")
    )
    # An event's own `type` is `error`; the error's type is then the nested one.
    error_type = nested.get("type") if error.get("type") in (None, "error") else error["type"]
    status, openai_type = _status_and_type(code, error_type)
    return {
        "message": message if isinstance(message, str) and message else fallback_message,
        "type": openai_type,
        "param": param if isinstance(param, str) else None,
        "code": status,
    }


def _status_and_type(code: object, error_type: object) -> tuple[int, str]:
    if isinstance(code, str) and len(code) == 3 and code.isascii() and code.isdigit():
        code = int(code)  # a status said as text, as the Responses ingress relays one
    if type(code) is int and 400 <= code < 600:
        if code == 429:
            return code, "requests"
        return code, "invalid_request_error" if code < 500 else "server_error"
    for name in (code, error_type):
        if isinstance(name, str):
            if name in _REQUEST_ERRORS:
                return 400, "invalid_request_error"
            if name in _ERRORS:
                return _ERRORS[name]
    return 500, "server_error"


def _read_message(item: dict[str, Any], texts: list[str], refusals: list[str]) -> None:
    content = item.get("content")
    for part in content if isinstance(content, list) else ():
        part = _mapping(part)
        if part.get("type") == "output_text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
            refusals.append(part["refusal"])


def _tool_call(item: dict[str, Any], fallback_id: str) -> dict[str, Any]:
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
    return {
        "id": call_id if isinstance(call_id, str) and call_id else fallback_id,
        "type": "function",
        "function": {
            "name": name if isinstance(name, str) else "",
            "arguments": arguments if isinstance(arguments, str) else "{}",
        },
    }


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
