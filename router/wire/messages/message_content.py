"""Messages `messages` (user and assistant turns of content blocks) as Chat Completions messages.

Only what a Chat Completions upstream can read is translated; any other block is refused with a
400 naming `messages[i].content[j].type`, never dropped, except an assistant's `thinking` and
`redacted_thinking` blocks: they carry the model's own (signed or encrypted) reasoning from an
earlier Anthropic turn, which Chat Completions has no field for and an upstream could not read.
"""

from __future__ import annotations

from typing import Any

import orjson

from router.errors import InvalidRequest
from router.wire.fields import (
    as_list,
    as_object,
    check_keys,
    invalid_type,
    invalid_value,
    missing,
    optional_bool,
    required_str,
)
from router.wire.messages.blocks import block_type, check_cache_control, text_of_block
from router.wire.messages.media import document_part, image_part

_ROLES = ("user", "assistant")
_USER_BLOCKS = ("text", "image", "document", "tool_result")
_ASSISTANT_BLOCKS = ("text", "tool_use", "thinking", "redacted_thinking")


def chat_messages(value: object) -> list[dict[str, Any]]:
    if value is None:
        raise missing("messages")
    turns = as_list(value, "messages")
    if not turns:
        raise InvalidRequest(
            "Invalid 'messages': at least one message is required.", param="messages"
        )
    messages: list[dict[str, Any]] = []
    for i, raw in enumerate(turns):
        prefix = f"messages[{i}]."
        turn = as_object(raw, f"messages[{i}]")
        check_keys(turn, ("role", "content"), prefix)
        role = turn.get("role")
        if role is None:
            raise missing(prefix + "role")
        if not isinstance(role, str) or role not in _ROLES:
            raise invalid_value(prefix + "role", _ROLES)
        content = turn.get("content")
        if content is None:
            raise missing(prefix + "content")
        if isinstance(content, str):
            messages.append({"role": role, "content": content})
            continue
        blocks = [
            as_object(block, f"{prefix}content[{j}]")
            for j, block in enumerate(as_list(content, prefix + "content"))
        ]
        if role == "user":
            messages.extend(_user_messages(blocks, prefix + "content"))
        else:
            messages.append(_assistant_message(blocks, prefix + "content"))
    return messages


def _user_messages(blocks: list[dict[str, Any]], param: str) -> list[dict[str, Any]]:
    """A user turn: its tool results first, as `tool` messages (Chat Completions wants them right
    after the assistant message that called the tools), then the rest as one user message whose
    content is a list of parts (a block list stays a list; a string stays a string)."""
    if not blocks:
        raise InvalidRequest(
            f"Invalid '{param}': a user message needs at least one content block.", param=param
        )
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        prefix = f"{param}[{j}]."
        kind = block_type(block, prefix, _USER_BLOCKS)
        if kind == "tool_result":
            results.append(_tool_message(block, prefix))
        elif kind == "text":
            parts.append({"type": "text", "text": text_of_block(block, prefix)})
        elif kind == "image":
            parts.append(image_part(block, prefix))
        else:
            parts.append(document_part(block, prefix))
    if parts:
        results.append({"role": "user", "content": parts})
    return results


def _assistant_message(blocks: list[dict[str, Any]], param: str) -> dict[str, Any]:
    """An earlier assistant turn: its text blocks joined (they are pieces of one answer, split
    where a citation or tool call fell, so nothing is put between them), its `tool_use` blocks
    as `tool_calls`."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        prefix = f"{param}[{j}]."
        kind = block_type(block, prefix, _ASSISTANT_BLOCKS)
        if kind == "text":
            texts.append(text_of_block(block, prefix))
        elif kind == "tool_use":
            calls.append(_tool_call(block, prefix))
        elif kind == "thinking":
            check_keys(block, ("type", "thinking", "signature"), prefix)
            required_str(block, "thinking", prefix)
        else:
            check_keys(block, ("type", "data"), prefix)
            required_str(block, "data", prefix)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts)}
    if calls:
        message["tool_calls"] = calls
        if not texts:
            message["content"] = None
    return message


def _tool_call(block: dict[str, Any], prefix: str) -> dict[str, Any]:
    check_keys(block, ("type", "id", "name", "input", "cache_control", "caller"), prefix)
    check_cache_control(block, prefix)
    _check_direct_caller(block, prefix)
    call_input = block.get("input")
    if call_input is None:
        raise missing(prefix + "input")
    if not isinstance(call_input, dict):
        raise invalid_type(prefix + "input", "an object")
    return {
        "id": required_str(block, "id", prefix),
        "type": "function",
        "function": {
            "name": required_str(block, "name", prefix),
            "arguments": orjson.dumps(call_input).decode(),
        },
    }


def _check_direct_caller(block: dict[str, Any], prefix: str) -> None:
    """`caller` says who called the tool: the model itself (`direct`), which is all a Chat
    Completions upstream does, or a server tool's code, which this router does not run."""
    if block.get("caller") is None:
        return
    caller = as_object(block["caller"], prefix + "caller")
    check_keys(caller, ("type",), prefix + "caller.")
    if caller.get("type") != "direct":
        raise invalid_value(prefix + "caller.type", ("direct",))


def _tool_message(block: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A `tool_result` as a `tool` message. Chat Completions tool messages hold text only, so
    text blocks are joined with a blank line and any other block is refused; `is_error: true`,
    which Chat Completions has no field for, is kept by prefixing the text with "Error: "."""
    check_keys(block, ("type", "tool_use_id", "content", "is_error", "cache_control"), prefix)
    check_cache_control(block, prefix)
    tool_use_id = required_str(block, "tool_use_id", prefix)
    content = block.get("content")
    if content is None or isinstance(content, str):
        text = content or ""
    else:
        texts = []
        for k, raw in enumerate(as_list(content, prefix + "content")):
            inner = f"{prefix}content[{k}]."
            part = as_object(raw, f"{prefix}content[{k}]")
            block_type(part, inner, ("text",))
            texts.append(text_of_block(part, inner))
        text = "\n\n".join(texts)
    if optional_bool(block, "is_error", prefix):
        text = "Error: " + text
    return {"role": "tool", "tool_call_id": tool_use_id, "content": text}
