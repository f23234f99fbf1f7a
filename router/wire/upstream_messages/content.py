"""Chat Completions `messages` as a Messages API `system` prompt and alternating turns.

System and developer messages become the one `system` prompt (the Messages API has no system
turns); user, assistant and tool messages become `user` and `assistant` turns of content blocks.
Anthropic wants the roles to alternate, so consecutive messages of one role are merged into one
turn, which also puts the results of one assistant turn's tool calls (consecutive `tool`
messages) into one user turn, as Anthropic requires. What has no Messages form (audio, uploaded
file ids, custom tool calls, the legacy `function` role) is refused with a 400 naming the part,
never dropped; `name` (a participant's label) and an image's `detail` (a resolution hint) are
dropped: Anthropic has no field for them and neither changes what is said.

`param` paths are the Chat Completions API's own (`messages[2].content[0].image_url.url`).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from router.errors import InvalidRequest
from router.wire.fields import (
    as_list,
    as_object,
    invalid_type,
    missing,
    optional_str,
    required_str,
)

_IMAGE_MEDIA_TYPES = frozenset(("image/jpeg", "image/png", "image/gif", "image/webp"))
# Anthropic's pattern for a tool_use id. Chat ids of other upstreams may hold more (Kimi's
# are `functions.get_weather:0`): each other character becomes `_` in both the call and its
# result, so they still pair up.
_NOT_IN_TOOL_ID = re.compile(r"[^a-zA-Z0-9_-]")


def not_supported(param: str, why: str = "") -> InvalidRequest:
    """The 400 for a chat field or part that has no Messages form."""
    reason = f": {why}" if why else ""
    message = f"'{param}' is not supported by Anthropic endpoints{reason}."
    return InvalidRequest(message, param=param)


def system_and_turns(messages: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    """The system prompt (system and developer texts joined with a blank line, wherever they
    stood) and the turns. A message with nothing to say (an empty text) is left out: Anthropic
    refuses empty content.

    A conversation must end with a user turn (a user message or tool results). One that ends
    with an assistant message asks OpenAI for a new answer, but Anthropic reads a final
    assistant turn as a prefill to continue, and Claude models since 4.6 refuse prefills."""
    systems: list[str] = []
    turns: list[dict[str, Any]] = []
    last = 0  # the index of the last message with something to say
    for i, raw in enumerate(messages):
        prefix = f"messages[{i}]."
        message = as_object(raw, f"messages[{i}]")
        role = message.get("role")
        if role in ("system", "developer"):
            systems.extend(t for t in _texts(message.get("content"), prefix) if t.strip())
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), prefix)
        elif role == "assistant":
            blocks = _assistant_blocks(message, prefix)
        elif role == "tool":
            role, blocks = "user", [_tool_result(message, prefix)]
        else:
            raise not_supported(prefix + "role", "legacy function messages have no tool call id")
        if blocks:
            _append(turns, role, blocks)
            last = i
    if not turns:
        raise InvalidRequest(
            "Invalid 'messages': Anthropic endpoints need at least one user message with content.",
            param="messages",
        )
    if turns[-1]["role"] == "assistant":
        raise not_supported(
            f"messages[{last}]",
            "a conversation sent there must end with a user or tool message (Anthropic reads "
            "a final assistant message as a prefill to continue)",
        )
    return "\n\n".join(systems), [_collapsed(turn) for turn in turns]


def _tool_use_id(obj: dict[str, Any], name: str, prefix: str) -> str:
    """A tool call's id as Anthropic's pattern allows it (`_NOT_IN_TOOL_ID`)."""
    call_id = required_str(obj, name, prefix)
    if not call_id:
        raise InvalidRequest(f"Invalid '{prefix}{name}': empty string.", param=prefix + name)
    return _NOT_IN_TOOL_ID.sub("_", call_id)


def _append(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _collapsed(turn: dict[str, Any]) -> dict[str, Any]:
    """A turn of one text block written as a string, the Messages API's shorthand."""
    blocks = turn["content"]
    if len(blocks) == 1 and blocks[0]["type"] == "text":
        return {"role": turn["role"], "content": blocks[0]["text"]}
    return turn


def _texts(content: object, prefix: str) -> list[str]:
    """Content that may hold text only: a string, or text parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    texts = []
    for j, raw in enumerate(as_list(content, prefix + "content")):
        inner = f"{prefix}content[{j}]."
        part = as_object(raw, f"{prefix}content[{j}]")
        if _part_type(part, inner) != "text":
            raise not_supported(inner + "type", "only text parts are read here")
        texts.append(required_str(part, "text", inner))
    return texts


def _part_type(part: dict[str, Any], prefix: str) -> str:
    kind = part.get("type")
    if kind is None:
        raise missing(prefix + "type")
    if not isinstance(kind, str):
        raise invalid_type(prefix + "type", "a string")
    return kind


def _user_blocks(content: object, prefix: str) -> list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return _text_blocks([content or ""])
    blocks: list[dict[str, Any]] = []
    for j, raw in enumerate(as_list(content, prefix + "content")):
        inner = f"{prefix}content[{j}]."
        part = as_object(raw, f"{prefix}content[{j}]")
        kind = _part_type(part, inner)
        if kind == "text":
            blocks += _text_blocks([required_str(part, "text", inner)])
        elif kind == "image_url":
            blocks.append(_image(part, inner))
        elif kind == "file":
            blocks.append(_document(part, inner))
        else:
            raise not_supported(inner + "type", f"Anthropic reads no '{kind}' parts")
    return blocks


def _text_blocks(texts: list[str]) -> list[dict[str, Any]]:
    """Text blocks for the texts that say something: Anthropic refuses a text block that is
    empty or only whitespace."""
    return [{"type": "text", "text": text} for text in texts if text.strip()]


def _image(part: dict[str, Any], prefix: str) -> dict[str, Any]:
    """An `image_url` part: a base64 data URL as a base64 source, an http(s) URL as a URL
    source (Anthropic fetches it)."""
    image = part.get("image_url")
    if image is None:
        raise missing(prefix + "image_url")
    param = prefix + "image_url.url"
    url = required_str(as_object(image, prefix + "image_url"), "url", prefix + "image_url.")
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    media_type, data = _base64_data_url(url, param)
    media_type = "image/jpeg" if media_type == "image/jpg" else media_type
    if media_type not in _IMAGE_MEDIA_TYPES:
        shown = ", ".join(sorted(_IMAGE_MEDIA_TYPES))
        raise not_supported(param, f"images must be {shown}, not {media_type}")
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": media_type, "data": data},
    }


def _document(part: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A `file` part holding a PDF as a base64 data URL, as a document block. An uploaded
    file's id names a file at OpenAI, which Anthropic cannot read; `filename` is dropped (the
    ingress refuses a document's `title`, so that a round trip keeps the same body)."""
    value = part.get("file")
    if value is None:
        raise missing(prefix + "file")
    file = as_object(value, prefix + "file")
    if file.get("file_id") is not None:
        raise not_supported(prefix + "file.file_id", "it names a file uploaded to OpenAI")
    param = prefix + "file.file_data"
    file_data = optional_str(file, "file_data", prefix + "file.")
    if file_data is None:
        raise missing(param)
    media_type, data = _base64_data_url(file_data, param)
    if media_type != "application/pdf":
        raise not_supported(param, f"documents must be application/pdf, not {media_type}")
    return {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": data},
    }


def _base64_data_url(url: str, param: str) -> tuple[str, str]:
    """A `data:<media type>;base64,<data>` URL's media type (lower case) and data, found
    without a regular expression over data that may be megabytes long."""
    comma = url.find(",")
    header = url[5:comma].lower() if url[:5].lower() == "data:" and comma > 0 else ""
    if not header.endswith(";base64"):
        raise not_supported(param, "expected an http(s) URL or a base64 data URL")
    return header.removesuffix(";base64").split(";")[0].strip(), url[comma + 1 :]


def _assistant_blocks(message: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """An earlier assistant turn: its text parts (a refusal is text to Anthropic), then its
    tool calls as `tool_use` blocks."""
    for name in ("audio", "function_call"):
        if message.get(name) is not None:
            raise not_supported(prefix + name)
    content = message.get("content")
    if content is None or isinstance(content, str):
        texts = [content or ""]
    else:
        texts = []
        for j, raw in enumerate(as_list(content, prefix + "content")):
            inner = f"{prefix}content[{j}]."
            part = as_object(raw, f"{prefix}content[{j}]")
            kind = _part_type(part, inner)
            if kind not in ("text", "refusal"):
                raise not_supported(inner + "type", "an assistant's parts are text or refusal")
            texts.append(required_str(part, kind, inner))
    texts.append(optional_str(message, "refusal", prefix) or "")
    blocks = _text_blocks(texts)
    calls = message.get("tool_calls")
    if calls is not None:
        for k, call in enumerate(as_list(calls, prefix + "tool_calls")):
            blocks.append(_tool_use(call, f"{prefix}tool_calls[{k}]"))
    return blocks


def _tool_use(value: object, param: str) -> dict[str, Any]:
    call = as_object(value, param)
    prefix = param + "."
    kind = call.get("type", "function")
    if kind != "function":
        raise not_supported(prefix + "type", "only function tool calls translate")
    function = call.get("function")
    if function is None:
        raise missing(prefix + "function")
    function = as_object(function, prefix + "function")
    arguments = required_str(function, "arguments", prefix + "function.")
    return {
        "type": "tool_use",
        "id": _tool_use_id(call, "id", prefix),
        "name": required_str(function, "name", prefix + "function."),
        "input": _tool_input(arguments, prefix + "function.arguments"),
    }


def _tool_input(arguments: str, param: str) -> dict[str, Any]:
    """A call's arguments as the object Anthropic's `input` must be. Empty arguments (some
    clients send "" for a tool without parameters) read as `{}`."""
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequest(
            f"Invalid '{param}': Anthropic endpoints need a tool call's arguments as a JSON "
            "object.",
            param=param,
        )
    return value


def _tool_result(message: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A `tool` message as a `tool_result` block (its text parts as text blocks)."""
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": _tool_use_id(message, "tool_call_id", prefix),
    }
    content = message.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    else:
        texts = _text_blocks(_texts(content, prefix))
        if texts:
            block["content"] = texts
    return block
