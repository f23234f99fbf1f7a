"""Chat Completions `tools`, `tool_choice` and `parallel_tool_calls` as Messages fields.

Function tools become Anthropic client tools (`name`, `description`, `input_schema`); custom
tools (free-text input under a grammar) and `allowed_tools` choices have no Messages form and
are refused with a 400 naming them.
"""

from __future__ import annotations

from typing import Any

from router.errors import InvalidRequest
from router.wire.fields import (
    as_list,
    as_object,
    invalid_type,
    invalid_value,
    missing,
    optional_bool,
    optional_str,
    required_str,
)
from router.wire.upstream_messages.content import not_supported

_CHOICES = ("none", "auto", "required")
_ANTHROPIC_CHOICES = {"none": "none", "auto": "auto", "required": "any"}


def anthropic_tools(value: object) -> list[dict[str, Any]]:
    tools = []
    for i, raw in enumerate(as_list(value, "tools")):
        prefix = f"tools[{i}]."
        tool = as_object(raw, f"tools[{i}]")
        if tool.get("type") != "function":
            raise not_supported(prefix + "type", "only function tools translate")
        if tool.get("function") is None:
            raise missing(prefix + "function")
        function = as_object(tool["function"], prefix + "function")
        inner = prefix + "function."
        anthropic_tool: dict[str, Any] = {"name": required_str(function, "name", inner)}
        description = optional_str(function, "description", inner)
        if description:
            anthropic_tool["description"] = description
        anthropic_tool["input_schema"] = _input_schema(function.get("parameters"), inner)
        # Both APIs default to a non-strict tool; the field is sent only when set, so that an
        # endpoint that predates Anthropic's strict tools reads the body as before.
        if optional_bool(function, "strict", inner):
            anthropic_tool["strict"] = True
        tools.append(anthropic_tool)
    return tools


def _input_schema(value: object, prefix: str) -> dict[str, Any]:
    """A function's `parameters` as an `input_schema`, which Anthropic requires to be an object
    schema: a function without parameters takes an empty object, and a schema that does not
    say its type (OpenAI reads it as an object's) says so."""
    if value is None:
        return {"type": "object", "properties": {}}
    schema = as_object(value, prefix + "parameters")
    return schema if "type" in schema else {"type": "object", **schema}


def anthropic_tool_choice(
    chat: dict[str, Any], tools: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """`tool_choice` and `parallel_tool_calls: false` (Anthropic's `disable_parallel_tool_use`)
    as a Messages `tool_choice`, or None for Anthropic's default (`auto`, in parallel).

    Without tools, `none` and `auto` say nothing; `required` or a named function cannot be
    met, as OpenAI also refuses."""
    choice = chat.get("tool_choice")
    serial = optional_bool(chat, "parallel_tool_calls") is False
    if choice is None:
        kind, name = "auto", None
    elif isinstance(choice, str):
        if choice not in _CHOICES:
            raise invalid_value("tool_choice", _CHOICES)
        kind, name = choice, None
    else:
        kind, name = "tool", _named_function(choice, tools)
    if not tools:
        if kind in ("none", "auto"):
            return None
        raise InvalidRequest(
            "Invalid 'tool_choice': it requires at least one tool in 'tools'.",
            param="tool_choice",
        )
    if kind == "none":
        return {"type": "none"}
    if choice is None and not serial:
        return None
    anthropic_choice: dict[str, Any] = {"type": _ANTHROPIC_CHOICES.get(kind, kind)}
    if name is not None:
        anthropic_choice["name"] = name
    if serial:
        anthropic_choice["disable_parallel_tool_use"] = True
    return anthropic_choice


def _named_function(value: object, tools: list[dict[str, Any]]) -> str:
    choice = as_object(value, "tool_choice")
    kind = choice.get("type")
    if kind is None:
        raise missing("tool_choice.type")
    if not isinstance(kind, str):
        raise invalid_type("tool_choice.type", "a string")
    if kind != "function":
        raise not_supported("tool_choice.type", f"a '{kind}' choice has no Messages form")
    if choice.get("function") is None:
        raise missing("tool_choice.function")
    function = as_object(choice["function"], "tool_choice.function")
    name = required_str(function, "name", "tool_choice.function.")
    if tools and name not in {tool["name"] for tool in tools}:
        raise InvalidRequest(
            "Invalid 'tool_choice.function.name': it names no tool in 'tools'.",
            param="tool_choice.function.name",
        )
    return name
