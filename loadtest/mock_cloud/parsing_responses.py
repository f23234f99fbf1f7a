"""Reading OpenAI Responses requests (`POST /v1/responses`), or an OpenAI-style rejection.

As for chat (`parsing`), only what the mock acts on is checked, with OpenAI's statuses, params and
codes: the model, `input` (a string, or items: messages with text parts, `function_call` and
`function_call_output` items; other item types are accepted and carry no text), `instructions`,
function `tools`, `max_output_tokens` (OpenAI's minimum is 16), `stream`, `store` and
`previous_response_id`. Prompt tokens are counted as for chat: words of what a chat prompt would
carry (instructions, message texts, tool outputs; not a call's arguments).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .errors import RequestRejected
from .parsing import requested_model
from .settings import MAX_COMPLETION_TOKENS, RegionSettings

_MIN_OUTPUT_TOKENS: Final = 16
_ROLES: Final = ("user", "assistant", "system", "developer")
# Fields each input item of these types requires, all strings.
_REQUIRED_ITEM_FIELDS: Final = {
    "function_call": ("call_id", "name", "arguments"),
    "function_call_output": ("call_id",),
}


@dataclass(frozen=True, slots=True)
class ResponsesRequest:
    body: dict[str, Any]  # as the client sent it; settings are echoed from it
    model: str
    stream: bool
    store: bool
    previous_response_id: str | None
    max_output_tokens: int | None
    # Words of this request's own input; a continuation adds its previous response's context.
    input_tokens: int
    tools: tuple[dict[str, Any], ...]  # as the Response echoes them
    # The input items (a string input as one user message) and the words of the instructions
    # (when there are any) and of each item, in order: the prompt the prompt cache sees.
    items: tuple[dict[str, Any], ...] = ()
    prompt_words: tuple[int, ...] = ()

    def echo_text(self) -> str:
        return responses_echo_text(self.body)


def responses_request(data: dict[str, Any], settings: RegionSettings) -> ResponsesRequest:
    model = requested_model(data, settings.models)
    instructions = data.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise _invalid_type("instructions", "a string")
    items = _input_items(data.get("input"))
    prompt_words = [len(instructions.split())] if instructions else []
    prompt_words += [sum(len(text.split()) for text in _prompt_texts(item)) for item in items]
    previous = data.get("previous_response_id")
    if previous is not None and (not isinstance(previous, str) or not previous):
        raise _invalid_type("previous_response_id", "a non-empty string")
    return ResponsesRequest(
        body=data,
        model=model,
        stream=_optional_bool(data, "stream", False),
        store=_optional_bool(data, "store", True),
        previous_response_id=previous,
        max_output_tokens=_max_output_tokens(data.get("max_output_tokens")),
        input_tokens=sum(prompt_words),
        tools=_tools(data.get("tools")),
        items=tuple(items),
        prompt_words=tuple(prompt_words),
    )


def responses_echo_text(data: Mapping[str, Any]) -> str:
    """What an echoing region answers: the instructions, then each input item's text (message
    texts, a call's arguments, a tool's output) in order, the non-empty ones joined with "\n".
    `data` has passed `responses_request`'s checks."""
    texts = [data.get("instructions") or ""]
    for item in _input_items(data.get("input")):
        texts.extend(_prompt_texts(item))
        if item.get("type") == "function_call":
            texts.append(item["arguments"])
    return "\n".join(text for text in texts if text)


def _input_items(value: object) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list):
        raise _invalid_type("input", "a string or an array of input items")
    for i, item in enumerate(value):
        _check_item(item, f"input[{i}]")
    return value


def _check_item(item: object, where: str) -> None:
    if not isinstance(item, dict):
        raise _invalid_type(where, "an object")
    item_type = item.get("type", "message")
    if item_type == "message":
        role = item.get("role")
        if role not in _ROLES:
            raise RequestRejected(
                400,
                f"Invalid value: {role!r}. Supported values are: 'assistant', 'system', "
                "'developer', and 'user'.",
                param=f"{where}.role",
                code="invalid_value",
            )
        if not isinstance(item.get("content"), str | list):
            raise _invalid_type(f"{where}.content", "a string or an array of content parts")
    for name in _REQUIRED_ITEM_FIELDS.get(item_type, ()):
        if not isinstance(item.get(name), str):
            raise RequestRejected(
                400,
                f"Missing required parameter: '{where}.{name}'.",
                param=f"{where}.{name}",
                code="missing_required_parameter",
            )


def _prompt_texts(item: Mapping[str, Any]) -> list[str]:
    """The texts of an input item that a chat prompt would carry."""
    item_type = item.get("type", "message")
    if item_type == "message":
        return _texts(item["content"])
    if item_type == "function_call_output":
        return _texts(item.get("output"))
    return []


def _texts(content: object) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
    return []


def _tools(value: object) -> tuple[dict[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _invalid_type("tools", "an array of tools")
    tools = []
    for i, tool in enumerate(value):
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise _invalid_type(f"tools[{i}]", "an object with a 'type'")
        if tool["type"] != "function":
            tools.append(tool)  # another kind of tool: echoed as sent
            continue
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise RequestRejected(
                400,
                f"Missing required parameter: 'tools[{i}].name'.",
                param=f"tools[{i}].name",
                code="missing_required_parameter",
            )
        # As the Response echoes a function tool: `strict` defaults to true in this API.
        echoed = {"type": "function", "name": tool["name"], "parameters": tool.get("parameters")}
        echoed["strict"] = True if tool.get("strict") is None else tool["strict"]
        if tool.get("description") is not None:
            echoed["description"] = tool["description"]
        tools.append(echoed)
    return tuple(tools)


def _max_output_tokens(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid_type("max_output_tokens", "an integer")
    if value < _MIN_OUTPUT_TOKENS:
        raise RequestRejected(
            400,
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
            f"{_MIN_OUTPUT_TOKENS}, but got {value} instead.",
            param="max_output_tokens",
            code="integer_below_min_value",
        )
    if value > MAX_COMPLETION_TOKENS:
        raise RequestRejected(
            400,
            "Invalid 'max_output_tokens': integer above maximum value. Expected a value <= "
            f"{MAX_COMPLETION_TOKENS}, but got {value} instead.",
            param="max_output_tokens",
            code="integer_above_max_value",
        )
    return value


def _optional_bool(data: Mapping[str, Any], name: str, default: bool) -> bool:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _invalid_type(name, "a boolean")
    return value


def _invalid_type(param: str, expected: str) -> RequestRejected:
    return RequestRejected(
        400, f"Invalid type for '{param}': expected {expected}.", param=param, code="invalid_type"
    )
