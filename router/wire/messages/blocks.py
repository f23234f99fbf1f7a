"""Reads shared by the Messages translation: prompt-cache hints and text blocks.

`param` paths are the Messages API's own (`messages[2].content[0].type`, `system[1].text`). A
null value reads as absent, as in the Responses translation (`router.wire.fields`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from router.errors import InvalidRequest, Untranslatable
from router.wire.fields import (
    as_list,
    as_object,
    check_keys,
    invalid_type,
    optional_choice,
    required_str,
)

TEXT_BLOCK_KEYS = ("type", "text", "cache_control", "citations")


def check_cache_control(obj: Mapping[str, Any], prefix: str) -> None:
    """Validate a block's `cache_control`, which is then dropped: it marks a breakpoint of
    Anthropic's prompt cache, a provider-side optimisation that changes no answer, and Chat
    Completions has no field for it (OpenAI-compatible upstreams cache prompts on their own)."""
    value = obj.get("cache_control")
    if value is None:
        return
    cache_control = as_object(value, prefix + "cache_control")
    check_keys(cache_control, ("type", "ttl"), prefix + "cache_control.")
    if optional_choice(cache_control, "type", ("ephemeral",), prefix + "cache_control.") is None:
        raise InvalidRequest(
            f"Missing required parameter: '{prefix}cache_control.type'.",
            param=prefix + "cache_control.type",
        )
    optional_choice(cache_control, "ttl", ("5m", "1h"), prefix + "cache_control.")


def text_of_block(block: dict[str, Any], prefix: str) -> str:
    """A `text` block's text. Its `citations` (where an earlier answer's text came from) are
    validated as a list and dropped: they annotate the text for the client, not the model."""
    check_keys(block, TEXT_BLOCK_KEYS, prefix)
    check_cache_control(block, prefix)
    if block.get("citations") is not None:
        as_list(block["citations"], prefix + "citations")
    return required_str(block, "text", prefix)


def block_type(block: dict[str, Any], prefix: str, allowed: Collection[str]) -> str:
    """A block's `type`, one of `allowed` (a 400 naming `<prefix>type` otherwise)."""
    kind = block.get("type")
    if kind is None:
        raise InvalidRequest(f"Missing required parameter: '{prefix}type'.", param=prefix + "type")
    if not isinstance(kind, str):
        raise invalid_type(prefix + "type", "a string")
    if kind not in allowed:
        shown = ", ".join(f"'{name}'" for name in allowed)
        raise Untranslatable(
            f"Invalid value for '{prefix}type': this router translates only {shown} blocks "
            "here to Chat Completions.",
            param=prefix + "type",
        )
    return kind


def text_blocks(value: object, param: str) -> list[str]:
    """A list of `text` blocks (a system prompt, a tool result) as their texts."""
    texts = []
    for j, raw in enumerate(as_list(value, param)):
        prefix = f"{param}[{j}]."
        block = as_object(raw, f"{param}[{j}]")
        block_type(block, prefix, ("text",))
        texts.append(text_of_block(block, prefix))
    return texts
