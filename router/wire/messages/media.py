"""Messages `image` and `document` blocks as Chat Completions content parts.

An image becomes an `image_url` part (a data URL for base64 data); a PDF a `file` part with its
data URL; a plain-text document a text part. Uploaded files (`file` sources), PDFs by URL and
`content` sources have no Chat Completions form every upstream reads, so they are refused.
"""

from __future__ import annotations

from typing import Any

from router.errors import Untranslatable
from router.wire.fields import (
    as_object,
    check_keys,
    invalid_value,
    missing,
    optional_bool,
    optional_choice,
    required_str,
)
from router.wire.messages.blocks import check_cache_control

_IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def image_part(block: dict[str, Any], prefix: str) -> dict[str, Any]:
    check_keys(block, ("type", "source", "cache_control"), prefix)
    check_cache_control(block, prefix)
    source, kind = _source(block, prefix, ("base64", "url"))
    inner = prefix + "source."
    if kind == "url":
        check_keys(source, ("type", "url"), inner)
        return {"type": "image_url", "image_url": {"url": required_str(source, "url", inner)}}
    check_keys(source, ("type", "media_type", "data"), inner)
    media_type = optional_choice(source, "media_type", _IMAGE_MEDIA_TYPES, inner)
    if media_type is None:
        raise missing(inner + "media_type")
    data = required_str(source, "data", inner)
    return {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{data}"}}


def document_part(block: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A PDF as a chat `file` part, a plain-text document as a text part. `title` and
    `context` (text for the model beside the document) and enabled `citations` (which a Chat
    Completions answer cannot carry) are refused rather than lost."""
    check_keys(block, ("type", "source", "cache_control", "citations", "title", "context"), prefix)
    check_cache_control(block, prefix)
    for name in ("title", "context"):
        if block.get(name) is not None:
            raise Untranslatable(
                f"'{prefix}{name}' is not supported through Chat Completions; put it in a "
                "text block instead.",
                param=prefix + name,
            )
    if block.get("citations") is not None:
        citations = as_object(block["citations"], prefix + "citations")
        check_keys(citations, ("enabled",), prefix + "citations.")
        if optional_bool(citations, "enabled", prefix + "citations."):
            raise Untranslatable(
                f"'{prefix}citations' cannot be enabled: Chat Completions answers carry no "
                "citations.",
                param=prefix + "citations.enabled",
            )
    source, kind = _source(block, prefix, ("base64", "text"))
    inner = prefix + "source."
    check_keys(source, ("type", "media_type", "data"), inner)
    media_type = "application/pdf" if kind == "base64" else "text/plain"
    if optional_choice(source, "media_type", (media_type,), inner) is None:
        raise missing(inner + "media_type")
    data = required_str(source, "data", inner)
    if kind == "text":
        return {"type": "text", "text": data}
    return {
        "type": "file",
        "file": {"file_data": f"data:application/pdf;base64,{data}", "filename": "document.pdf"},
    }


def _source(
    block: dict[str, Any], prefix: str, kinds: tuple[str, ...]
) -> tuple[dict[str, Any], str]:
    """A block's `source` and its type, one of `kinds`: uploaded files (`file`), PDFs by URL and
    content sources cannot be passed on as Chat Completions parts."""
    value = block.get("source")
    if value is None:
        raise missing(prefix + "source")
    source = as_object(value, prefix + "source")
    kind = source.get("type")
    if kind is None:
        raise missing(prefix + "source.type")
    if not isinstance(kind, str) or kind not in kinds:
        if isinstance(kind, str) and kind in _SOURCES_NOT_TRANSLATED:
            raise Untranslatable(
                f"Invalid value for '{prefix}source.type': '{kind}' sources cannot be passed on "
                "as Chat Completions parts.",
                param=prefix + "source.type",
            )
        raise invalid_value(prefix + "source.type", kinds)
    return source, kind


# Anthropic's sources that a Chat Completions part has no form for.
_SOURCES_NOT_TRANSLATED = frozenset(("url", "file", "content"))
