"""Chat Completions request bodies translated to Anthropic Messages bodies, for endpoints that
speak only the Messages API (`POST /v1/messages`, with `anthropic-version: ANTHROPIC_VERSION`).

The pipeline routes Chat Completions bodies; an endpoint of Anthropic's kind gets the same
request in its own API, and its answer is translated back (`answer.py`, `stream.py`). A request
is sent there only when it translates cleanly: every chat field either has a Messages form, is
a hint that changes no answer (dropped), or is at the value that asks for nothing (`n: 1`,
`logprobs: false`, ...). Any other field, and any field this router does not know, makes the
translation fail with a 400 naming it, and `untranslatable_param` says which, so that the
router can choose another endpoint rather than send a setting that would be lost.

The chat body has been validated by `router.wire.requests.parse_request`, which checks the
fields' types and ranges but not the messages' parts or tool calls: those are read here, each
failing with a 400 naming its `param`. A null value reads as absent, as OpenAI treats it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from router.errors import InvalidRequest
from router.wire.fields import as_list, invalid_value, optional_bool, optional_str, unsupported
from router.wire.upstream_messages.content import not_supported, system_and_turns
from router.wire.upstream_messages.tools import anthropic_tool_choice, anthropic_tools

ANTHROPIC_VERSION: Final = "2023-06-01"
# Anthropic requires `max_tokens`; Chat Completions lets it default to the model's limit. 4,096
# is the largest output every Claude model takes (Claude 3 Haiku's limit), so a request that
# states no cap is served by any of them, and it covers most chat answers.
DEFAULT_MAX_TOKENS: Final = 4096
# Thinking budgets for `reasoning_effort`: the Messages ingress reads a budget back as the
# effort whose range holds it (under 4,096 `low`, under 16,384 `medium`, else `high`), so the
# round trip keeps the effort. `minimal` is Anthropic's least budget; `xhigh` and `max` get 32,768,
# above which Anthropic advises batch processing over a held-open request.
THINKING_BUDGETS: Final = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
    "max": 32768,
}
# With thinking Anthropic refuses a temperature other than 1 and a top_p under this.
_THINKING_MIN_TOP_P = 0.95

# Fields translated below (`stream_options` asks for the stream's usage, which the caller of
# the stream translation passes on as `include_usage`), and hints dropped: `metadata` annotates
# stored completions and the prompt cache settings steer OpenAI's cache; neither changes an
# answer.
_TRANSLATED = frozenset(
    (
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "user",
        "safety_identifier",
        "reasoning_effort",
        "stream",
        "stream_options",
    )
)
_DROPPED = frozenset(
    ("metadata", "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options")
)


def _never(value: object) -> bool:
    return False


# Chat fields with no Messages form: accepted only at a value that asks for nothing.
_ONLY_WHEN_IDLE: dict[str, tuple[Callable[[object], bool], str]] = {
    "n": (lambda v: v == 1, "Anthropic returns one choice"),
    "logprobs": (lambda v: v is False, "Anthropic returns no log-probabilities"),
    "top_logprobs": (lambda v: v == 0, "Anthropic returns no log-probabilities"),
    "logit_bias": (lambda v: v == {}, "Anthropic takes no token biases"),
    "presence_penalty": (lambda v: v == 0, "Anthropic has no repetition penalties"),
    "frequency_penalty": (lambda v: v == 0, "Anthropic has no repetition penalties"),
    "seed": (_never, "Anthropic offers no seeded sampling"),
    "response_format": (
        lambda v: v == {"type": "text"},
        "this router asks Anthropic for text only",
    ),
    "audio": (_never, "Anthropic answers in text only"),
    "modalities": (lambda v: v == ["text"], "Anthropic answers in text only"),
    "prediction": (_never, "Anthropic takes no predicted output"),
    "verbosity": (lambda v: v == "medium", "Anthropic has no verbosity setting"),
    "web_search_options": (_never, "this router sends Anthropic no server tools"),
    "functions": (lambda v: v == [], "declare them in 'tools'"),
    "function_call": (_never, "use 'tool_choice'"),
    "store": (lambda v: v is False, "Anthropic stores no completions"),
    "service_tier": (
        lambda v: v in ("auto", "default"),
        "Anthropic has no such tier",
    ),
    "moderation": (_never, "Anthropic runs no OpenAI moderation"),
}


def messages_body_from_chat(chat: dict[str, Any], upstream_model: str) -> dict[str, Any]:
    """The Messages body for `upstream_model` that asks what `chat` asks, or a 400 naming the
    first chat field that has no Messages form."""
    _check_fields(chat)
    system, turns = system_and_turns(as_list(chat.get("messages"), "messages"))
    body: dict[str, Any] = {
        "model": upstream_model,
        "max_tokens": _max_tokens(chat),
        "messages": turns,
    }
    if system:
        body["system"] = system
    tools = anthropic_tools(chat["tools"]) if chat.get("tools") is not None else []
    if tools:
        body["tools"] = tools
    elif any(_has_tool_blocks(turn) for turn in turns):
        raise not_supported(
            "tools",
            "Anthropic needs the tools of a conversation's tool calls declared in 'tools'",
        )
    tool_choice = anthropic_tool_choice(chat, tools)
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    body.update(_sampling(chat))
    user_id = optional_str(chat, "user") or optional_str(chat, "safety_identifier")
    if user_id:
        body["metadata"] = {"user_id": user_id}
    _add_thinking(chat, body)
    if optional_bool(chat, "stream"):
        body["stream"] = True
    return body


def untranslatable_param(chat: dict[str, Any]) -> str | None:
    """The first chat field (as a `param` path) that has no Messages form, or None. It is the
    translation itself, so that the router's choice of endpoint and the body it sends can
    never disagree; translating costs no more than checking would (no text is copied)."""
    try:
        messages_body_from_chat(chat, "")
    except InvalidRequest as error:
        return error.param or "messages"
    return None


def _check_fields(chat: dict[str, Any]) -> None:
    for name, value in chat.items():
        if name in _TRANSLATED or name in _DROPPED or value is None:
            continue
        if name not in _ONLY_WHEN_IDLE:
            raise unsupported(name)
        idle, why = _ONLY_WHEN_IDLE[name]
        if not idle(value):
            raise not_supported(name, why)


def _max_tokens(chat: dict[str, Any]) -> int:
    """The larger of the chat caps (as `ParsedRequest.max_output_tokens` reads them, so the
    router's budget holds), or the default."""
    caps = [
        value
        for value in (chat.get("max_completion_tokens"), chat.get("max_tokens"))
        if isinstance(value, int) and not isinstance(value, bool)
    ]
    return max(caps) if caps else DEFAULT_MAX_TOKENS


def _has_tool_blocks(turn: dict[str, Any]) -> bool:
    content = turn["content"]
    return isinstance(content, list) and any(
        block["type"] in ("tool_use", "tool_result") for block in content
    )


def _sampling(chat: dict[str, Any]) -> dict[str, Any]:
    """`stop`, and `temperature` and `top_p` where they differ from the default (1, in both
    APIs). Anthropic's client dropped the two from its request types (anthropic-sdk-python
    MIGRATION.md, v1: "current models do not use these sampling parameters", older ones still
    honour them), and Claude models since the 4.5 family refuse both in one request; so a value
    that asks for nothing is not sent, and two that ask for something are refused."""
    body: dict[str, Any] = {}
    stop = chat.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else as_list(stop, "stop")
        if stops:
            body["stop_sequences"] = stops
    # Chat's temperature range is 0 to 2, Anthropic's 0 to 1, and 1 is the default of both: a
    # linear rescale would make every default request colder, so a value above 1 (asking for
    # more randomness than the default) is clamped to Anthropic's most random, 1, which as the
    # default is not sent.
    temperature = chat.get("temperature")
    if temperature is not None and temperature < 1:
        body["temperature"] = temperature
    top_p = chat.get("top_p")
    if top_p is not None and top_p != 1:
        if "temperature" in body:
            raise not_supported("top_p", "Claude models take 'temperature' or 'top_p', not both")
        body["top_p"] = top_p
    return body


def _add_thinking(chat: dict[str, Any], body: dict[str, Any]) -> None:
    """`reasoning_effort` as extended thinking with the effort's budget. `none` asks for no
    thinking, which is the default of the models that take a budget."""
    effort = chat.get("reasoning_effort")
    if effort is None or effort == "none":
        return
    if not isinstance(effort, str) or effort not in THINKING_BUDGETS:
        raise invalid_value("reasoning_effort", ("none", *THINKING_BUDGETS))
    if "temperature" in body:
        raise not_supported("temperature", "with thinking (reasoning_effort) it must be 1")
    if body.get("top_p", 1) < _THINKING_MIN_TOP_P:
        raise not_supported(
            "top_p", f"with thinking (reasoning_effort) it must be at least {_THINKING_MIN_TOP_P}"
        )
    if body.get("tool_choice", {}).get("type") in ("any", "tool"):
        raise not_supported("tool_choice", "thinking (reasoning_effort) cannot force a tool call")
    if _has_tool_blocks(body["messages"][-1]):
        raise not_supported(
            "reasoning_effort",
            "with tool results Anthropic needs back the thinking of the turn that called the "
            "tools, which a chat conversation does not carry",
        )
    budget = THINKING_BUDGETS[effort]
    body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    # The budget counts toward Anthropic's `max_tokens` and must be below it. A cap that leaves
    # no room for the answer after the thinking gets the whole budget on top of it: the client's
    # cap stays the room for the answer, and no request is refused for a cap that OpenAI (whose
    # cap also counts reasoning tokens) would have served, if with a cut answer.
    if body["max_tokens"] <= budget:
        body["max_tokens"] += budget
