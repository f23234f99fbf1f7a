"""Messages `tools` and `tool_choice` as their Chat Completions fields.

Only client tools (`custom`, the default type) translate, into function tools. Anthropic's server
tools (web search, web fetch, code execution, bash, text editor, computer use, memory, tool
search, ...) run inside Anthropic's service or need a client that knows their fixed schemas; a
Chat Completions upstream has neither, so they are refused with a 400 naming `tools[i].type`.
"""

from __future__ import annotations

from typing import Any

from router.errors import InvalidRequest, Untranslatable
from router.wire.fields import (
    as_list,
    as_object,
    check_keys,
    invalid_type,
    invalid_value,
    missing,
    optional_bool,
    optional_str,
    required_str,
)
from router.wire.messages.blocks import check_cache_control

_TOOL_KEYS = ("type", "name", "description", "input_schema", "cache_control", "strict")
_CHOICE_TYPES = ("auto", "any", "tool", "none")
# Anthropic's limit on a tool's name.
_MAX_NAME_LENGTH = 128


def chat_tools(value: object) -> list[dict[str, Any]]:
    tools = []
    for i, raw in enumerate(as_list(value, "tools")):
        prefix = f"tools[{i}]."
        tool = as_object(raw, f"tools[{i}]")
        kind = tool.get("type")
        if kind is not None and kind != "custom":
            if not isinstance(kind, str):
                raise invalid_type(prefix + "type", "a string")
            raise Untranslatable(
                f"The tool type of '{prefix}type' is not supported by this router: server "
                "tools run at Anthropic; only client tools ('custom') translate to Chat "
                "Completions.",
                param=prefix + "type",
            )
        check_keys(tool, _TOOL_KEYS, prefix)
        check_cache_control(tool, prefix)
        function: dict[str, Any] = {"name": _tool_name(tool, prefix)}
        description = optional_str(tool, "description", prefix)
        if description is not None:
            function["description"] = description
        schema = tool.get("input_schema")
        if schema is None:
            raise missing(prefix + "input_schema")
        function["parameters"] = as_object(schema, prefix + "input_schema")
        strict = optional_bool(tool, "strict", prefix)
        if strict is not None:
            function["strict"] = strict
        tools.append({"type": "function", "function": function})
    return tools


def _tool_name(tool: dict[str, Any], prefix: str) -> str:
    name = required_str(tool, "name", prefix)
    if not name or len(name) > _MAX_NAME_LENGTH:
        raise InvalidRequest(
            f"Invalid '{prefix}name': expected 1 to {_MAX_NAME_LENGTH} characters.",
            param=prefix + "name",
        )
    return name


def chat_tool_choice(value: object, tools: list[dict[str, Any]]) -> dict[str, Any]:
    """`tool_choice` as the chat fields it sets (`tool_choice`, `parallel_tool_calls`).

    Without tools, `auto` and `none` say nothing and are left out (OpenAI refuses a
    `tool_choice` without `tools`); `any` and `tool` cannot be met, so they are refused, as is
    a `tool` choice naming a tool the request does not declare."""
    choice = as_object(value, "tool_choice")
    kind = choice.get("type")
    if kind is None:
        raise missing("tool_choice.type")
    if not isinstance(kind, str) or kind not in _CHOICE_TYPES:
        raise invalid_value("tool_choice.type", _CHOICE_TYPES)
    keys = {"none": ("type",), "tool": ("type", "name", "disable_parallel_tool_use")}
    check_keys(choice, keys.get(kind, ("type", "disable_parallel_tool_use")), "tool_choice.")
    serial = optional_bool(choice, "disable_parallel_tool_use", "tool_choice.")
    chat: dict[str, Any] = {}
    if kind == "tool":
        name = required_str(choice, "name", "tool_choice.")
        if name not in {tool["function"]["name"] for tool in tools}:
            raise InvalidRequest(
                "Invalid 'tool_choice.name': it names no tool in 'tools'.",
                param="tool_choice.name",
            )
        chat["tool_choice"] = {"type": "function", "function": {"name": name}}
    elif kind == "any" and not tools:
        raise InvalidRequest(
            "Invalid 'tool_choice': 'any' requires at least one tool in 'tools'.",
            param="tool_choice.type",
        )
    elif tools:
        chat["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
    if serial and tools:
        chat["parallel_tool_calls"] = False
    return chat
