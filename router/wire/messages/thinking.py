"""Messages `thinking` as a Chat Completions `reasoning_effort`."""

from __future__ import annotations

from typing import Any

from router.errors import InvalidRequest
from router.wire.fields import (
    as_object,
    check_keys,
    invalid_type,
    invalid_value,
    missing,
    optional_choice,
)
from router.wire.requests import MAX_OUTPUT_TOKENS

_THINKING_TYPES = ("enabled", "disabled", "adaptive")
# Anthropic's least thinking budget.
_MIN_THINKING_BUDGET = 1024


def reasoning_effort(value: object) -> str | None:
    """`thinking` as a chat `reasoning_effort`. A thinking budget maps to the effort whose
    usual spend it is nearest: under 4,096 tokens `low`, under 16,384 `medium`, else `high`.
    `disabled` sets nothing (the chat default), and so does `adaptive`, which leaves the
    amount of thinking to the model as an unset effort does. `display` is validated and
    dropped: a Chat Completions answer carries no thinking text to display or omit."""
    if value is None:
        return None
    thinking = as_object(value, "thinking")
    kind = thinking.get("type")
    if kind is None:
        raise missing("thinking.type")
    if not isinstance(kind, str) or kind not in _THINKING_TYPES:
        raise invalid_value("thinking.type", _THINKING_TYPES)
    if kind == "disabled":
        check_keys(thinking, ("type",), "thinking.")
        return None
    allowed = ("type", "budget_tokens", "display") if kind == "enabled" else ("type", "display")
    check_keys(thinking, allowed, "thinking.")
    optional_choice(thinking, "display", ("summarized", "omitted"), "thinking.")
    if kind == "adaptive":
        return None
    budget = _thinking_budget(thinking)
    if budget < 4096:
        return "low"
    return "medium" if budget < 16384 else "high"


def _thinking_budget(thinking: dict[str, Any]) -> int:
    param = "thinking.budget_tokens"
    budget = thinking.get("budget_tokens")
    if budget is None:
        raise missing(param)
    if not isinstance(budget, int) or isinstance(budget, bool):
        raise invalid_type(param, "an integer")
    if not _MIN_THINKING_BUDGET <= budget <= MAX_OUTPUT_TOKENS:
        raise InvalidRequest(
            f"Invalid '{param}': integer must be between {_MIN_THINKING_BUDGET} and "
            f"{MAX_OUTPUT_TOKENS}, got {budget}.",
            param=param,
        )
    return budget
