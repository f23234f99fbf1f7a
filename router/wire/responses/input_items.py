"""A Responses `input` (a string or a list of items) as Chat Completions `messages`.

Only what a Chat Completions upstream can read is translated; anything else is refused with a
400 naming the item, never dropped, except `reasoning` items (below).
"""

from __future__ import annotations

from typing import Any

from router.errors import Untranslatable
from router.wire.fields import (
    as_list,
    as_object,
    invalid_type,
    invalid_value,
    missing,
    optional_choice,
    optional_str,
    required_str,
)

_ROLES = ("user", "system", "developer", "assistant")
_IMAGE_DETAILS = ("low", "high", "auto", "original")


def chat_messages(value: object) -> list[dict[str, Any]]:
    if value is None:
        raise missing("input")
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    messages: list[dict[str, Any]] = []
    for i, item in enumerate(as_list(value, "input")):
        _add_item(messages, as_object(item, f"input[{i}]"), f"input[{i}].")
    return messages


def _add_item(messages: list[dict[str, Any]], item: dict[str, Any], prefix: str) -> None:
    kind = item.get("type")
    if kind is None and "role" in item:
        kind = "message"  # an "easy" input message: role and content only
    if kind == "message":
        messages.append(_message(item, prefix))
    elif kind == "function_call":
        _add_function_call(messages, item, prefix)
    elif kind == "function_call_output":
        messages.append(
            {
                "role": "tool",
                "tool_call_id": required_str(item, "call_id", prefix),
                "content": _tool_output(item.get("output"), prefix + "output"),
            }
        )
    elif kind == "reasoning":
        # Reasoning items carry the model's own (often encrypted) reasoning from an earlier
        # Responses turn; Chat Completions has no field for them and an upstream could not
        # read them, so they are dropped.
        pass
    elif kind == "item_reference":
        raise Untranslatable(
            f"Input items of type 'item_reference' ('{prefix}type') are not supported: this "
            "router keeps no items; send the items themselves in 'input'.",
            param=prefix + "type",
        )
    elif kind is None:
        raise missing(prefix + "type")
    else:
        raise Untranslatable(
            f"Input items of this type are not supported by this router ('{prefix}type'): "
            "only message, function_call, function_call_output and reasoning items are.",
            param=prefix + "type",
        )


def _add_function_call(messages: list[dict[str, Any]], item: dict[str, Any], prefix: str) -> None:
    call = {
        "id": required_str(item, "call_id", prefix),
        "type": "function",
        "function": {
            "name": required_str(item, "name", prefix),
            "arguments": required_str(item, "arguments", prefix),
        },
    }
    # Chat Completions wants parallel calls in one assistant message: a call joins the
    # assistant message just before it (the model's text, or the calls before it). A reasoning
    # item between them, dropped, does not separate them.
    if messages and messages[-1]["role"] == "assistant":
        messages[-1].setdefault("tool_calls", []).append(call)
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _message(item: dict[str, Any], prefix: str) -> dict[str, Any]:
    role = item.get("role")
    if role is None:
        raise missing(prefix + "role")
    if not isinstance(role, str) or role not in _ROLES:
        raise invalid_value(prefix + "role", _ROLES)
    content = item.get("content")
    if content is None:
        raise missing(prefix + "content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    parts = as_list(content, prefix + "content")
    if role == "assistant":
        return _assistant_message(parts, prefix + "content")
    text_only = role != "user"
    return {
        "role": role,
        "content": [
            _input_part(
                as_object(part, f"{prefix}content[{j}]"),
                f"{prefix}content[{j}].",
                text_only=text_only,
            )
            for j, part in enumerate(parts)
        ],
    }


def _assistant_message(parts: list[Any], param: str) -> dict[str, Any]:
    """An earlier assistant turn: its text parts joined, its refusal parts as `refusal`."""
    texts: list[str] = []
    refusals: list[str] = []
    for j, raw in enumerate(parts):
        part = as_object(raw, f"{param}[{j}]")
        kind = part.get("type")
        if kind in ("output_text", "input_text"):
            texts.append(required_str(part, "text", f"{param}[{j}]."))
        elif kind == "refusal":
            refusals.append(required_str(part, "refusal", f"{param}[{j}]."))
        else:
            raise invalid_value(f"{param}[{j}].type", ("output_text", "input_text", "refusal"))
    if not refusals:
        return {"role": "assistant", "content": "".join(texts)}
    return {
        "role": "assistant",
        "content": "".join(texts) if texts else None,
        "refusal": "".join(refusals),
    }


def _input_part(part: dict[str, Any], prefix: str, *, text_only: bool) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "input_text":
        return {"type": "text", "text": required_str(part, "text", prefix)}
    if kind in ("input_image", "input_file") and text_only:
        raise Untranslatable(
            f"Invalid value for '{prefix}type': system, developer and tool content can only be "
            "text when translated to Chat Completions.",
            param=prefix + "type",
        )
    if kind == "input_image":
        return _image_part(part, prefix)
    if kind == "input_file":
        return _file_part(part, prefix)
    raise invalid_value(prefix + "type", ("input_text", "input_image", "input_file"))


def _image_part(part: dict[str, Any], prefix: str) -> dict[str, Any]:
    url = optional_str(part, "image_url", prefix)
    if url is None:
        if part.get("file_id") is not None:
            raise Untranslatable(
                f"'{prefix}file_id' is not supported: this router cannot read uploaded files; "
                "send the image as 'image_url' (a URL or a data URL).",
                param=prefix + "file_id",
            )
        raise missing(prefix + "image_url")
    image: dict[str, Any] = {"url": url}
    detail = optional_choice(part, "detail", _IMAGE_DETAILS, prefix)
    if detail is not None:
        image["detail"] = detail
    return {"type": "image_url", "image_url": image}


def _file_part(part: dict[str, Any], prefix: str) -> dict[str, Any]:
    if part.get("file_url") is not None:
        raise Untranslatable(
            f"'{prefix}file_url' is not supported through Chat Completions; send the file "
            "as 'file_data'.",
            param=prefix + "file_url",
        )
    file: dict[str, Any] = {}
    for name in ("file_data", "filename", "file_id"):
        value = optional_str(part, name, prefix)
        if value is not None:
            file[name] = value
    if "file_data" not in file and "file_id" not in file:
        raise missing(prefix + "file_data")
    return {"type": "file", "file": file}


def _tool_output(output: object, param: str) -> str:
    """A function's output as a tool message's text: Chat Completions tool messages hold text
    only, so the text parts are joined and an image or file part is refused."""
    if output is None:
        raise missing(param)
    if isinstance(output, str):
        return output
    if not isinstance(output, list):
        raise invalid_type(param, "a string or an array of content parts")
    texts = []
    for j, raw in enumerate(output):
        part = _input_part(as_object(raw, f"{param}[{j}]"), f"{param}[{j}].", text_only=True)
        texts.append(part["text"])
    return "".join(texts)
