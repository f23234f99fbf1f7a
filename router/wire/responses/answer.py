"""Chat Completions answers translated back to Responses API `Response` objects.

`response_object`, `usage_from_chat` and `status_from_finish` are shared with the stream
translation (`events.py`), which builds the same object for `response.created` and
`response.completed`; `response_from_chat` is the JSON (non-streaming) answer.

The request's settings are echoed as OpenAI echoes them, with OpenAI's defaults where the client
left a setting out; a setting whose default belongs to the upstream model (temperature, top_p) is
echoed as null rather than guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from router.wire.responses.request import ResponsesRequest

_NO_REASONING = {"effort": None, "summary": None}


def response_object(
    request: ResponsesRequest,
    *,
    response_id: str,
    created_at: int,
    model: str,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    incomplete_details: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A full Response object (the shape `GET /v1/responses/{id}` returns)."""
    body = request.body
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": incomplete_details,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": model,
        "output": output,
        "parallel_tool_calls": _setting(body, "parallel_tool_calls", True),
        "previous_response_id": None,
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": _echoed_reasoning(body.get("reasoning")),
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": _setting(body, "service_tier", "auto"),
        "store": _setting(body, "store", True),
        "temperature": body.get("temperature"),
        "text": _echoed_text(body.get("text")),
        "tool_choice": _setting(body, "tool_choice", "auto"),
        "tools": [_echoed_tool(tool) for tool in body.get("tools") or ()],
        "top_logprobs": _setting(body, "top_logprobs", 0),
        "top_p": body.get("top_p"),
        "truncation": _setting(body, "truncation", "disabled"),
        "metadata": body.get("metadata") or {},
    }
    # OpenAI sends `"usage": null` before the usage is known, but the OpenAPI schema's `usage`
    # is not nullable; absent reads the same to the official clients and passes the schema.
    if usage is not None:
        response["usage"] = usage
    # `user` is a string in the schema (not nullable): present only when the client sent one.
    if isinstance(body.get("user"), str):
        response["user"] = body["user"]
    return response


def usage_from_chat(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """Chat Completions `usage` in the Responses shape (None stays None)."""
    if not isinstance(usage, dict):
        return None
    input_tokens = _count(usage.get("prompt_tokens"))
    output_tokens = _count(usage.get("completion_tokens"))
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    total = usage.get("total_tokens")
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {
            "cached_tokens": _detail(prompt_details, "cached_tokens"),
            # Required by the schema; Chat Completions reports no cache writes, so 0.
            "cache_write_tokens": _detail(prompt_details, "cache_write_tokens"),
        },
        "output_tokens": output_tokens,
        "output_tokens_details": {
            "reasoning_tokens": _detail(completion_details, "reasoning_tokens"),
        },
        "total_tokens": _count(total) if total is not None else input_tokens + output_tokens,
    }


def status_from_finish(finish_reason: str | None) -> tuple[str, dict[str, Any] | None]:
    """A chat `finish_reason` as a Response `status` and its `incomplete_details`."""
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def output_items_from_chat(
    message: dict[str, Any], new_id: Callable[[str], str]
) -> list[dict[str, Any]]:
    """A chat assistant message as Response output items: one message (its text or refusal),
    then one `function_call` item per tool call."""
    items: list[dict[str, Any]] = []
    content = message.get("content")
    refusal = message.get("refusal")
    parts: list[dict[str, Any]] = []
    if isinstance(content, str) and content:
        parts.append({"type": "output_text", "text": content, "annotations": [], "logprobs": []})
    if isinstance(refusal, str) and refusal:
        parts.append({"type": "refusal", "refusal": refusal})
    if parts:
        items.append(
            {
                "type": "message",
                "id": new_id("msg"),
                "status": "completed",
                "role": "assistant",
                "content": parts,
            }
        )
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        call = _mapping(call)
        function = _mapping(call.get("function"))
        items.append(
            {
                "type": "function_call",
                "id": new_id("fc"),
                "call_id": _text(call.get("id")),
                "name": _text(function.get("name")),
                "arguments": _text(function.get("arguments")),
                "status": "completed",
            }
        )
    return items


def response_from_chat(
    request: ResponsesRequest,
    chat: object,
    *,
    response_id: str,
    new_id: Callable[[str], str],
) -> dict[str, Any]:
    """A `chat.completion` body (its first choice) as the Response the client asked for. The
    body is an upstream's: a field of another shape than OpenAI's reads as absent."""
    chat = _mapping(chat)
    choices = chat.get("choices")
    choice = _mapping(choices[0] if isinstance(choices, list) and choices else None)
    finish_reason = choice.get("finish_reason")
    status, incomplete_details = status_from_finish(
        finish_reason if isinstance(finish_reason, str) else None
    )
    created, model = chat.get("created"), chat.get("model")
    response = response_object(
        request,
        response_id=response_id,
        created_at=_count(created),
        model=model if isinstance(model, str) else request.chat_body["model"],
        status=status,
        output=output_items_from_chat(_mapping(choice.get("message")), new_id),
        usage=usage_from_chat(chat.get("usage")),
        incomplete_details=incomplete_details,
    )
    # The tier that served the request, as the upstream reports it, over the tier asked for.
    if isinstance(chat.get("service_tier"), str):
        response["service_tier"] = chat["service_tier"]
    return response


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _echoed_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A function tool with the fields the Response schema requires (`strict`, `parameters`)."""
    echoed = {
        "type": "function",
        "name": tool["name"],
        "parameters": tool.get("parameters"),
        "strict": tool.get("strict"),
    }
    if "description" in tool:
        echoed["description"] = tool["description"]
    return echoed


def _echoed_text(text: dict[str, Any] | None) -> dict[str, Any]:
    echoed = dict(text or {})
    echoed.setdefault("format", {"type": "text"})
    return echoed


def _echoed_reasoning(reasoning: dict[str, Any] | None) -> dict[str, Any]:
    return {**_NO_REASONING, **(reasoning or {})}


def _setting(body: dict[str, Any], name: str, default: object) -> Any:
    """The client's setting, or OpenAI's default when it sent none (or null)."""
    value = body.get(name)
    return default if value is None else value


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _detail(details: object, name: str) -> int:
    return _count(details.get(name)) if isinstance(details, dict) else 0
