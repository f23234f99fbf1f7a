"""Reading Anthropic Messages requests (`POST /v1/messages` and `/v1/messages/count_tokens`), or a
rejection worded as Anthropic words its validation errors (`field.path: what is wrong`).

Only what the mock acts on is checked: the model, `max_tokens` (required), `system` (a string or
text blocks), `messages` (roles, and content as a string or blocks; text, tool_use and tool_result
blocks are read, others accepted), `tools`, `stop_sequences` and `stream`. Prompt tokens are
counted as for chat: words of what a chat prompt would carry (the system prompt, texts, tool
results; not a tool call's input).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from .errors import RequestRejected
from .settings import MAX_COMPLETION_TOKENS, RegionSettings

_ROLES: Final = ("user", "assistant")


@dataclass(frozen=True, slots=True)
class MessagesRequest:
    body: dict[str, Any]
    model: str
    max_tokens: int
    stream: bool
    stop_sequences: tuple[str, ...]
    input_tokens: int
    # The system prompt (when there is one) and the messages, with the words of each: the prompt
    # the prompt cache sees.
    prompt_elements: tuple[object, ...] = ()
    prompt_words: tuple[int, ...] = ()

    def echo_text(self) -> str:
        return messages_echo_text(self.body)


def messages_json(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestRejected(400, "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise RequestRejected(400, "The request body must be a JSON object.")
    return data


def messages_request(data: dict[str, Any], settings: RegionSettings) -> MessagesRequest:
    elements, words = _prompt(data, settings)
    model = data["model"]
    max_tokens = data.get("max_tokens")
    if max_tokens is None:
        raise _invalid("max_tokens: Field required")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        raise _invalid("max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        raise _invalid("max_tokens: Input should be greater than or equal to 1")
    if max_tokens > MAX_COMPLETION_TOKENS:
        raise _invalid(
            f"max_tokens: {max_tokens} > {MAX_COMPLETION_TOKENS}, which is the maximum allowed "
            f"number of output tokens for {model}"
        )
    stream = data.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _invalid("stream: Input should be a valid boolean")
    return MessagesRequest(
        body=data,
        model=model,
        max_tokens=max_tokens,
        stream=bool(stream),
        stop_sequences=_stop_sequences(data.get("stop_sequences")),
        input_tokens=max(1, sum(words)),
        prompt_elements=tuple(elements),
        prompt_words=tuple(words),
    )


def count_input_tokens(data: Mapping[str, Any], settings: RegionSettings) -> int:
    """The prompt tokens of a Messages or count_tokens body, after checking the prompt's fields
    (the model, system, messages, tools)."""
    return max(1, sum(_prompt(data, settings)[1]))


def _prompt(data: Mapping[str, Any], settings: RegionSettings) -> tuple[list[object], list[int]]:
    """The prompt's elements (the system prompt when there is one, then each message) and the
    words of each, after checking the prompt's fields."""
    model = data.get("model")
    if model is None:
        raise _invalid("model: Field required")
    if not isinstance(model, str) or not model:
        raise _invalid("model: Input should be a valid string")
    if model not in settings.models:
        raise RequestRejected(404, f"model: {model}")
    _check_tools(data.get("tools"))
    system = data.get("system")
    system_words = sum(len(text.split()) for text in _system_texts(system))
    messages = _messages(data.get("messages"))
    elements: list[object] = [] if system is None else [system]
    words = [] if system is None else [system_words]
    elements.extend(messages)
    words.extend(
        sum(len(text.split()) for text in _prompt_texts(message["content"])) for message in messages
    )
    return elements, words


def messages_echo_text(data: Mapping[str, Any]) -> str:
    """What an echoing region answers: the system prompt, then each message's text blocks, tool
    inputs (as JSON) and tool results, in order, the non-empty ones joined with "\n". `data` has
    passed `messages_request`'s checks."""
    texts = _system_texts(data.get("system"))
    for message in data["messages"]:
        content = message["content"]
        if isinstance(content, str):
            texts.append(content)
            continue
        for block in content:
            if block["type"] == "tool_use":
                texts.append(orjson.dumps(block["input"]).decode())
            else:
                texts.extend(_prompt_texts([block]))
    return "\n".join(text for text in texts if text)


def _system_texts(system: object) -> list[str]:
    if system is None:
        return []
    if isinstance(system, str):
        return [system]
    if not isinstance(system, list):
        raise _invalid("system: Input should be a valid list")
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _invalid(f"system.{i}: Input should be a text block")
        _check_block(block, f"system.{i}")
    return [block["text"] for block in system]


def _messages(value: object) -> list[dict[str, Any]]:
    if value is None:
        raise _invalid("messages: Field required")
    if not isinstance(value, list):
        raise _invalid("messages: Input should be a valid list")
    if not value:
        raise _invalid("messages: at least one message is required")
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise _invalid(f"messages.{i}: Input should be a valid dictionary")
        if message.get("role") not in _ROLES:
            raise _invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if isinstance(content, list):
            for j, block in enumerate(content):
                _check_block(block, f"messages.{i}.content.{j}")
        elif not isinstance(content, str):
            raise _invalid(f"messages.{i}.content: Input should be a valid list")
    return value


# The fields a content block of each type needs, with their types.
_BLOCK_FIELDS: Final[dict[str, tuple[tuple[str, type], ...]]] = {
    "text": (("text", str),),
    "tool_use": (("id", str), ("name", str), ("input", dict)),
    "tool_result": (("tool_use_id", str),),
}


def _check_block(block: object, where: str) -> None:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise _invalid(f"{where}: Input should be a valid content block with a 'type'")
    for name, kind in _BLOCK_FIELDS.get(block["type"], ()):
        if not isinstance(block.get(name), kind):
            raise _invalid(f"{where}.{block['type']}.{name}: Field required")
    content = block.get("content")
    if block["type"] == "tool_result" and isinstance(content, list):
        for k, inner in enumerate(content):
            _check_block(inner, f"{where}.tool_result.content.{k}")


def _prompt_texts(content: str | list[Any]) -> list[str]:
    """Texts of a message's content that a chat prompt would carry: text blocks and tool
    results (a string, or their text blocks)."""
    if isinstance(content, str):
        return [content]
    texts: list[str] = []
    for block in content:
        if block["type"] == "text":
            texts.append(block["text"])
        elif block["type"] == "tool_result":
            inner = block.get("content")
            if isinstance(inner, str):
                texts.append(inner)
            elif isinstance(inner, list):
                texts.extend(b["text"] for b in inner if b["type"] == "text")
    return texts


def _check_tools(tools: object) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _invalid("tools: Input should be a valid list")
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise _invalid(f"tools.{i}.name: Field required")


def _stop_sequences(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise _invalid("stop_sequences: Input should be a valid list of strings")
    return tuple(value)


def _invalid(message: str) -> RequestRejected:
    return RequestRejected(400, message)
