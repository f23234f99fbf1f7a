"""Token usage of one request, as the upstream reported it or as the router counted it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int
    # False when the upstream reported it; True when the router had to count (streams without
    # include_usage), which is an estimate of about one token per content chunk.
    counted: bool = False
    # Of the input tokens, those the provider served from its prompt cache (OpenAI's
    # `prompt_tokens_details.cached_tokens`), priced lower.
    cached_input_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def usage_from_body(body: Any) -> Usage | None:
    """The usage object of an OpenAI response or final stream chunk, if it carries one."""
    if not isinstance(body, dict):
        return None
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    input_tokens = usage.get("prompt_tokens")
    output_tokens = usage.get("completion_tokens", 0)
    if not isinstance(input_tokens, int) or not isinstance(output_tokens, int):
        return None
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    cached = min(max(cached, 0), max(input_tokens, 0)) if type(cached) is int else 0
    return Usage(input_tokens, output_tokens, cached_input_tokens=cached)
