"""Responses `tools`, `tool_choice` and `text` as their Chat Completions fields.

Only function tools translate: the hosted tools (web_search, file_search, computer_use_preview,
mcp, code_interpreter, image_generation, ...) run inside OpenAI's Responses service, and custom
(free-form) tools have no Chat Completions form every upstream reads.
"""

from __future__ import annotations

from typing import Any

from router.errors import InvalidRequest, Untranslatable
from router.wire.fields import (
    as_list,
    as_object,
    check_keys,
    invalid_type,
    missing,
    optional_bool,
    optional_choice,
    optional_str,
    required_str,
)

_FUNCTION_TOOL_KEYS = ("type", "name", "description", "parameters", "strict")
_TOOL_CHOICE_MODES = ("none", "auto", "required")
_FORMAT_TYPES = ("text", "json_object", "json_schema")
_JSON_SCHEMA_KEYS = ("type", "name", "schema", "strict", "description")


def chat_tools(value: object) -> list[dict[str, Any]]:
    tools = []
    for i, raw in enumerate(as_list(value, "tools")):
        prefix = f"tools[{i}]."
        tool = as_object(raw, f"tools[{i}]")
        kind = tool.get("type")
        if kind is None:
            raise missing(prefix + "type")
        if kind != "function":
            raise Untranslatable(
                f"The tool type of '{prefix}type' is not supported by this router: only "
                "'function' tools translate to Chat Completions.",
                param=prefix + "type",
            )
        check_keys(tool, _FUNCTION_TOOL_KEYS, prefix)
        name = required_str(tool, "name", prefix)
        if not name:
            raise InvalidRequest(f"Invalid '{prefix}name': empty string.", param=prefix + "name")
        function: dict[str, Any] = {"name": name}
        description = optional_str(tool, "description", prefix)
        if description is not None:
            function["description"] = description
        parameters = tool.get("parameters")
        if parameters is not None:
            function["parameters"] = as_object(parameters, prefix + "parameters")
        strict = optional_bool(tool, "strict", prefix)
        if strict is not None:
            function["strict"] = strict
        tools.append({"type": "function", "function": function})
    return tools


def chat_tool_choice(value: object) -> str | dict[str, Any]:
    if isinstance(value, str):
        if value not in _TOOL_CHOICE_MODES:
            raise InvalidRequest(
                "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or "
                "a function choice.",
                param="tool_choice",
            )
        return value
    choice = as_object(value, "tool_choice")
    if choice.get("type") != "function":
        raise Untranslatable(
            "Invalid value for 'tool_choice': only 'none', 'auto', 'required' and "
            '{"type": "function", "name": ...} are supported by this router.',
            param="tool_choice",
        )
    check_keys(choice, ("type", "name"), "tool_choice.")
    return {"type": "function", "function": {"name": required_str(choice, "name", "tool_choice.")}}


def chat_text_settings(value: object) -> dict[str, Any]:
    """`text.format` as `response_format` (left out when plain text, the default) and
    `text.verbosity` as `verbosity`."""
    text = as_object(value, "text")
    check_keys(text, ("format", "verbosity"), "text.")
    settings: dict[str, Any] = {}
    verbosity = optional_choice(text, "verbosity", ("low", "medium", "high"), "text.")
    if verbosity is not None:
        settings["verbosity"] = verbosity
    if text.get("format") is None:
        return settings
    fmt = as_object(text["format"], "text.format")
    kind = optional_choice(fmt, "type", _FORMAT_TYPES, "text.format.")
    if kind is None:
        raise missing("text.format.type")
    if kind == "json_schema":
        settings["response_format"] = {"type": "json_schema", "json_schema": _json_schema(fmt)}
    elif kind == "json_object":
        check_keys(fmt, ("type",), "text.format.")
        settings["response_format"] = {"type": "json_object"}
    else:
        check_keys(fmt, ("type",), "text.format.")
    return settings


def _json_schema(fmt: dict[str, Any]) -> dict[str, Any]:
    prefix = "text.format."
    check_keys(fmt, _JSON_SCHEMA_KEYS, prefix)
    name = required_str(fmt, "name", prefix)
    schema = fmt.get("schema")
    if schema is None:
        raise missing(prefix + "schema")
    if not isinstance(schema, dict):
        raise invalid_type(prefix + "schema", "an object")
    json_schema: dict[str, Any] = {"name": name, "schema": schema}
    strict = optional_bool(fmt, "strict", prefix)
    if strict is not None:
        json_schema["strict"] = strict
    description = optional_str(fmt, "description", prefix)
    if description is not None:
        json_schema["description"] = description
    return json_schema
