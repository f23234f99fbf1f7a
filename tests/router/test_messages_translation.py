"""Anthropic Messages API <-> Chat Completions translation: golden cases both ways, refusals,
fuzzing, the `count_tokens` estimate and the error bodies.

Every golden request is built from the official `anthropic` client's parameter types and its
chat body is accepted by the router's own Chat Completions parser; every Message produced
validates with the client's `Message` model.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from anthropic.types import (
    Base64ImageSourceParam,
    Base64PDFSourceParam,
    DocumentBlockParam,
    ImageBlockParam,
    Message,
    MessageCountTokensParams,
    MessageParam,
    MessageTokensCount,
    PlainTextSourceParam,
    RedactedThinkingBlockParam,
    TextBlockParam,
    ThinkingBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
    URLImageSourceParam,
)
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
from anthropic.types.shared import ErrorResponse
from hypothesis import given, settings
from hypothesis import strategies as st

from router.errors import (
    InvalidRequest,
    NoEligibleEndpoint,
    PayloadTooLarge,
    RouterError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from router.messages_ingress import parse_count_tokens, parse_messages
from router.wire.messages.answer import (
    message_from_chat,
    stop_reason_from_finish,
    tool_input,
    usage_from_chat,
)
from router.wire.messages.errors import anthropic_error_body, anthropic_error_type
from router.wire.messages.request import (
    MessagesRequest,
    estimated_input_tokens,
    parse_count_tokens_request,
    parse_messages_request,
)
from router.wire.requests import MAX_OUTPUT_TOKENS, Operation, parse_request

MODEL = "claude-sonnet-4-5"
WEATHER_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
WEATHER_TOOL: ToolParam = {
    "name": "get_weather",
    "description": "Current weather in a city.",
    "input_schema": WEATHER_SCHEMA,
    "cache_control": {"type": "ephemeral"},
}
CHAT_WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": WEATHER_SCHEMA,
    },
}
HELLO: list[MessageParam] = [{"role": "user", "content": "Hello"}]


def _create(**fields: Any) -> MessageCreateParamsNonStreaming:
    params: MessageCreateParamsNonStreaming = {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": HELLO,
    }
    params.update(fields)  # type: ignore[typeddict-item]
    return params


def _chat_body(params: object) -> dict[str, Any]:
    """The chat body a Messages body becomes, checked by the router's own chat parser."""
    request = parse_messages_request(orjson.dumps(params))
    parse_request(Operation.CHAT, orjson.dumps(request.chat_body))
    return request.chat_body


def _chat_messages(params: object) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = _chat_body(params)["messages"]
    return messages


def _refusal(params: object) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        parse_messages_request(orjson.dumps(params))
    return caught.value


# --- requests: golden cases ---------------------------------------------------------------------


def test_text_request_becomes_chat_body() -> None:
    assert _chat_body(_create()) == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Hello"}],
        "max_completion_tokens": 1024,
    }


def test_string_system_becomes_first_system_message() -> None:
    messages = _chat_messages(_create(system="Be brief."))
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
    ]


def test_system_blocks_are_joined_and_cache_control_dropped() -> None:
    system: list[TextBlockParam] = [
        {"type": "text", "text": "You are a weather bot."},
        {"type": "text", "text": "Answer in French.", "cache_control": {"type": "ephemeral"}},
    ]
    messages = _chat_messages(_create(system=system))
    assert messages[0] == {
        "role": "system",
        "content": "You are a weather bot.\n\nAnswer in French.",
    }


def test_empty_system_adds_no_message() -> None:
    assert _chat_messages(_create(system=""))[0]["role"] == "user"
    assert _chat_messages(_create(system=[]))[0]["role"] == "user"


def test_string_content_stays_a_string_and_blocks_become_parts() -> None:
    """Consistency: a string is sent as a string, a block list as a list of text parts."""
    blocks: list[TextBlockParam] = [
        {"type": "text", "text": "Hello", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": "there"},
    ]
    messages = _chat_messages(_create(messages=[{"role": "user", "content": blocks}]))
    assert messages == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}],
        }
    ]


def test_multi_turn_tool_use_and_results_become_tool_calls_and_tool_messages() -> None:
    thinking: ThinkingBlockParam = {"type": "thinking", "thinking": "Two cities.", "signature": "s"}
    redacted: RedactedThinkingBlockParam = {"type": "redacted_thinking", "data": "opaque"}
    paris: ToolUseBlockParam = {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    rome: ToolUseBlockParam = {
        "type": "tool_use",
        "id": "toolu_2",
        "name": "get_weather",
        "input": {"city": "Rome"},
    }
    paris_result: ToolResultBlockParam = {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": "18°C, sunny",
    }
    rome_result: ToolResultBlockParam = {
        "type": "tool_result",
        "tool_use_id": "toolu_2",
        "content": [{"type": "text", "text": "Service down"}, {"type": "text", "text": "503"}],
        "is_error": True,
    }
    conversation: list[MessageParam] = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                thinking,
                redacted,
                {"type": "text", "text": "Checking both."},
                paris,
                rome,
            ],
        },
        {
            "role": "user",
            "content": [paris_result, {"type": "text", "text": "Be quick."}, rome_result],
        },
        {"role": "assistant", "content": [paris]},
        {"role": "user", "content": [paris_result]},
    ]
    messages = _chat_messages(_create(messages=conversation, tools=[WEATHER_TOOL]))
    paris_call = {
        "id": "toolu_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    assert messages == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Checking both.",
            "tool_calls": [
                paris_call,
                {
                    "id": "toolu_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18°C, sunny"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: Service down\n\n503"},
        {"role": "user", "content": [{"type": "text", "text": "Be quick."}]},
        {"role": "assistant", "content": None, "tool_calls": [paris_call]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18°C, sunny"},
    ]


def test_tool_result_without_content_is_empty_text() -> None:
    result: ToolResultBlockParam = {"type": "tool_result", "tool_use_id": "toolu_1"}
    call: ToolUseBlockParam = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
    messages = _chat_messages(
        _create(
            messages=[
                {"role": "user", "content": "Go"},
                {"role": "assistant", "content": [call]},
                {"role": "user", "content": [result]},
            ]
        )
    )
    assert messages[-1] == {"role": "tool", "tool_call_id": "toolu_1", "content": ""}
    assert messages[1]["tool_calls"][0]["function"]["arguments"] == "{}"


def test_assistant_with_only_thinking_becomes_empty_text() -> None:
    thinking: ThinkingBlockParam = {"type": "thinking", "thinking": "Hm.", "signature": "s"}
    messages = _chat_messages(
        _create(messages=[*HELLO, {"role": "assistant", "content": [thinking]}])
    )
    assert messages[-1] == {"role": "assistant", "content": ""}


def test_images_base64_and_url_become_image_url_parts() -> None:
    base64_source: Base64ImageSourceParam = {
        "type": "base64",
        "media_type": "image/png",
        "data": "iVBORw0KGgo=",
    }
    url_source: URLImageSourceParam = {"type": "url", "url": "https://example.com/cat.jpg"}
    images: list[ImageBlockParam] = [
        {"type": "image", "source": base64_source, "cache_control": {"type": "ephemeral"}},
        {"type": "image", "source": url_source},
    ]
    messages = _chat_messages(
        _create(messages=[{"role": "user", "content": [*images, {"type": "text", "text": "?"}]}])
    )
    assert messages[0]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "text", "text": "?"},
    ]


def test_pdf_document_becomes_file_part_and_text_document_text() -> None:
    pdf_source: Base64PDFSourceParam = {
        "type": "base64",
        "media_type": "application/pdf",
        "data": "JVBERi0=",
    }
    text_source: PlainTextSourceParam = {
        "type": "text",
        "media_type": "text/plain",
        "data": "Q3 revenue: 12M.",
    }
    documents: list[DocumentBlockParam] = [
        {"type": "document", "source": pdf_source, "citations": {"enabled": False}},
        {"type": "document", "source": text_source},
    ]
    messages = _chat_messages(_create(messages=[{"role": "user", "content": documents}]))
    assert messages[0]["content"] == [
        {
            "type": "file",
            "file": {
                "file_data": "data:application/pdf;base64,JVBERi0=",
                "filename": "document.pdf",
            },
        },
        {"type": "text", "text": "Q3 revenue: 12M."},
    ]


def test_tools_become_function_tools() -> None:
    strict_tool: ToolParam = {
        "type": "custom",
        "name": "lookup",
        "input_schema": {"type": "object"},
        "strict": True,
    }
    body = _chat_body(_create(tools=[WEATHER_TOOL, strict_tool]))
    assert body["tools"] == [
        CHAT_WEATHER_TOOL,
        {
            "type": "function",
            "function": {"name": "lookup", "parameters": {"type": "object"}, "strict": True},
        },
    ]
    assert "tool_choice" not in body
    assert "parallel_tool_calls" not in body


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ({"type": "auto"}, {"tool_choice": "auto"}),
        ({"type": "any"}, {"tool_choice": "required"}),
        (
            {"type": "tool", "name": "get_weather"},
            {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
        ),
        ({"type": "none"}, {"tool_choice": "none"}),
        (
            {"type": "auto", "disable_parallel_tool_use": True},
            {"tool_choice": "auto", "parallel_tool_calls": False},
        ),
        (
            {"type": "any", "disable_parallel_tool_use": True},
            {"tool_choice": "required", "parallel_tool_calls": False},
        ),
        (
            {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": False},
            {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
        ),
    ],
)
def test_each_tool_choice_translates(tool_choice: Any, expected: dict[str, Any]) -> None:
    body = _chat_body(_create(tools=[WEATHER_TOOL], tool_choice=tool_choice))
    assert {k: body[k] for k in ("tool_choice", "parallel_tool_calls") if k in body} == expected


@pytest.mark.parametrize(
    "tool_choice",
    [{"type": "auto"}, {"type": "none"}, {"type": "auto", "disable_parallel_tool_use": True}],
)
def test_tool_choice_that_says_nothing_without_tools_is_left_out(tool_choice: Any) -> None:
    body = _chat_body(_create(tool_choice=tool_choice))
    assert "tool_choice" not in body
    assert "parallel_tool_calls" not in body


def test_stop_sequences_become_stop() -> None:
    assert _chat_body(_create(stop_sequences=["\n\nHuman:", "END"]))["stop"] == [
        "\n\nHuman:",
        "END",
    ]
    assert "stop" not in _chat_body(_create(stop_sequences=[]))


@pytest.mark.parametrize(
    ("budget_tokens", "effort"),
    [(1024, "low"), (4095, "low"), (4096, "medium"), (16383, "medium"), (16384, "high")],
)
def test_thinking_budget_becomes_reasoning_effort(budget_tokens: int, effort: str) -> None:
    thinking = {"type": "enabled", "budget_tokens": budget_tokens, "display": "summarized"}
    body = _chat_body(_create(max_tokens=32000, thinking=thinking))
    assert body["reasoning_effort"] == effort


@pytest.mark.parametrize(
    "thinking", [{"type": "disabled"}, {"type": "adaptive"}, {"type": "adaptive", "display": None}]
)
def test_thinking_without_budget_sets_no_effort(thinking: Any) -> None:
    assert "reasoning_effort" not in _chat_body(_create(thinking=thinking))


def test_settings_are_forwarded_or_dropped() -> None:
    params: dict[str, Any] = {
        **_create(
            metadata={"user_id": "user-42"},
            service_tier="standard_only",
            cache_control={"type": "ephemeral"},
        ),
        "temperature": 0.5,
        "top_p": 0.9,
    }
    assert _chat_body(params) == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Hello"}],
        "max_completion_tokens": 1024,
        "temperature": 0.5,
        "top_p": 0.9,
        "user": "user-42",
    }


def test_stream_asks_for_usage() -> None:
    request = parse_messages_request(orjson.dumps({**_create(), "stream": True}))
    assert request.stream
    assert request.chat_body["stream"] is True
    assert request.chat_body["stream_options"] == {"include_usage": True}
    parsed = parse_request(Operation.CHAT, orjson.dumps(request.chat_body))
    assert parsed.stream and parsed.include_usage
    assert not parse_messages_request(orjson.dumps({**_create(), "stream": False})).stream


def test_request_keeps_the_client_body() -> None:
    params = _create(system="s")
    request = parse_messages_request(orjson.dumps(params))
    assert request.body == params


# --- requests: refusals --------------------------------------------------------------------------

_PDF = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}


def _user(*blocks: Any) -> MessageCreateParamsNonStreaming:
    return _create(messages=[{"role": "user", "content": list(blocks)}])


def _assistant(*blocks: Any) -> MessageCreateParamsNonStreaming:
    return _create(messages=[*HELLO, {"role": "assistant", "content": list(blocks)}])


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"max_tokens": 1, "messages": HELLO}, "model"),
        ({**_create(), "model": ""}, "model"),
        ({**_create(), "model": 3}, "model"),
        ({"model": MODEL, "messages": HELLO}, "max_tokens"),
        (_create(max_tokens=0), "max_tokens"),
        (_create(max_tokens=MAX_OUTPUT_TOKENS + 1), "max_tokens"),
        ({**_create(), "max_tokens": 1.5}, "max_tokens"),
        ({"model": MODEL, "max_tokens": 1}, "messages"),
        (_create(messages=[]), "messages"),
        ({**_create(), "messages": {"role": "user"}}, "messages"),
        ({**_create(), "messages": ["Hello"]}, "messages[0]"),
        ({**_create(), "messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({**_create(), "messages": [{"role": "user"}]}, "messages[0].content"),
        ({**_create(), "messages": [{"role": "user", "content": 1}]}, "messages[0].content"),
        (
            {**_create(), "messages": [{"role": "user", "content": "x", "name": "n"}]},
            "messages[0].name",
        ),
        (_create(messages=[{"role": "user", "content": []}]), "messages[0].content"),
        (
            _user({"type": "text", "text": "x"}, {"type": "search_result"}),
            "messages[0].content[1].type",
        ),
        (_user({"text": "x"}), "messages[0].content[0].type"),
        (_user({"type": "text"}), "messages[0].content[0].text"),
        (_user({"type": "text", "text": "x", "extra": 1}), "messages[0].content[0].extra"),
        (
            _user({"type": "text", "text": "x", "cache_control": {"type": "persistent"}}),
            "messages[0].content[0].cache_control.type",
        ),
        (
            _user({"type": "tool_use", "id": "t", "name": "f", "input": {}}),
            "messages[0].content[0].type",
        ),
        (
            _user({"type": "thinking", "thinking": "x", "signature": "s"}),
            "messages[0].content[0].type",
        ),
        (
            _user({"type": "image", "source": {"type": "file", "file_id": "file_1"}}),
            "messages[0].content[0].source.type",
        ),
        (
            _user(
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/bmp", "data": "x"},
                }
            ),
            "messages[0].content[0].source.media_type",
        ),
        (_user({"type": "image"}), "messages[0].content[0].source"),
        (
            _user({"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}),
            "messages[0].content[0].source.type",
        ),
        (
            _user({"type": "document", "source": {"type": "content", "content": "x"}}),
            "messages[0].content[0].source.type",
        ),
        (
            _user({"type": "document", "source": _PDF, "citations": {"enabled": True}}),
            "messages[0].content[0].citations.enabled",
        ),
        (
            _user({"type": "document", "source": _PDF, "title": "Q3"}),
            "messages[0].content[0].title",
        ),
        (
            _user(
                {
                    "type": "tool_result",
                    "tool_use_id": "t",
                    "content": [{"type": "image", "source": {"type": "url", "url": "u"}}],
                }
            ),
            "messages[0].content[0].content[0].type",
        ),
        (_user({"type": "tool_result", "content": "x"}), "messages[0].content[0].tool_use_id"),
        (
            _user({"type": "tool_result", "tool_use_id": "t", "is_error": "yes"}),
            "messages[0].content[0].is_error",
        ),
        (_assistant({"type": "image", "source": _PDF}), "messages[1].content[0].type"),
        (
            _assistant({"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}),
            "messages[1].content[0].type",
        ),
        (
            _assistant({"type": "tool_use", "id": "t", "name": "f", "input": "{}"}),
            "messages[1].content[0].input",
        ),
        (_assistant({"type": "tool_use", "id": "t", "name": "f"}), "messages[1].content[0].input"),
        (
            _assistant(
                {
                    "type": "tool_use",
                    "id": "t",
                    "name": "f",
                    "input": {},
                    "caller": {"type": "code_execution_20250825", "tool_id": "x"},
                }
            ),
            "messages[1].content[0].caller.tool_id",
        ),
        ({**_create(), "system": 3}, "system"),
        (_create(system=[{"type": "image", "source": _PDF}]), "system[0].type"),
        (_create(stop_sequences=["a", "b", "c", "d", "e"]), "stop_sequences"),
        (_create(stop_sequences=[""]), "stop_sequences"),
        ({**_create(), "stop_sequences": "END"}, "stop_sequences"),
        ({**_create(), "temperature": 1.5}, "temperature"),
        ({**_create(), "top_p": -0.1}, "top_p"),
        ({**_create(), "top_k": 40}, "top_k"),
        (_create(tools=[{"type": "web_search_20250305", "name": "web_search"}]), "tools[0].type"),
        (_create(tools=[{"type": "bash_20250124", "name": "bash"}]), "tools[0].type"),
        (
            _create(
                tools=[{"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"}]
            ),
            "tools[0].type",
        ),
        (
            _create(
                tools=[
                    {
                        "type": "computer_20250124",
                        "name": "computer",
                        "display_width_px": 1,
                        "display_height_px": 1,
                    }
                ]
            ),
            "tools[0].type",
        ),
        (
            _create(tools=[{"type": "code_execution_20250825", "name": "code_execution"}]),
            "tools[0].type",
        ),
        (_create(tools=[{"name": "f"}]), "tools[0].input_schema"),
        (_create(tools=[{"name": "", "input_schema": {}}]), "tools[0].name"),
        (
            _create(tools=[{"name": "f", "input_schema": {}, "defer_loading": True}]),
            "tools[0].defer_loading",
        ),
        (_create(tools=[{"name": "f", "input_schema": []}]), "tools[0].input_schema"),
        ({**_create(), "tools": {"name": "f"}}, "tools"),
        (_create(tool_choice={"type": "required"}), "tool_choice.type"),
        ({**_create(), "tool_choice": "auto"}, "tool_choice"),
        (_create(tool_choice={"type": "any"}), "tool_choice.type"),
        (
            _create(tools=[WEATHER_TOOL], tool_choice={"type": "tool", "name": "other"}),
            "tool_choice.name",
        ),
        (_create(tools=[WEATHER_TOOL], tool_choice={"type": "tool"}), "tool_choice.name"),
        (
            _create(
                tools=[WEATHER_TOOL],
                tool_choice={"type": "none", "disable_parallel_tool_use": True},
            ),
            "tool_choice.disable_parallel_tool_use",
        ),
        (_create(thinking={"type": "enabled"}), "thinking.budget_tokens"),
        (_create(thinking={"type": "enabled", "budget_tokens": 1023}), "thinking.budget_tokens"),
        (_create(thinking={"type": "enabled", "budget_tokens": "2048"}), "thinking.budget_tokens"),
        (_create(thinking={"type": "between_tools"}), "thinking.type"),
        (_create(thinking={"type": "disabled", "budget_tokens": 2048}), "thinking.budget_tokens"),
        (_create(metadata={"user_id": 7}), "metadata.user_id"),
        ({**_create(), "metadata": {"session": "s"}}, "metadata.session"),
        ({**_create(), "service_tier": "priority"}, "service_tier"),
        ({**_create(), "stream": "yes"}, "stream"),
        ({**_create(), "container": "container_1"}, "container"),
        ({**_create(), "mcp_servers": [{"type": "url", "url": "u", "name": "n"}]}, "mcp_servers"),
        ({**_create(), "context_management": {"edits": []}}, "context_management"),
        ({**_create(), "output_config": {"effort": "low"}}, "output_config"),
        ({**_create(), "n": 2}, "n"),
    ],
)
def test_refused_request_names_its_param(params: dict[str, Any], param: str) -> None:
    assert _refusal(params).param == param


def test_refusal_of_a_long_unknown_field_cuts_its_name() -> None:
    error = _refusal({**_create(), "x" * 500: 1})
    assert error.param is not None and len(error.param) < 120


def test_repeated_key_and_bad_json_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        parse_messages_request(b'{"model": "a", "model": "b", "max_tokens": 1, "messages": []}')
    with pytest.raises(InvalidRequest):
        parse_messages_request(b"[1]")
    with pytest.raises(InvalidRequest):
        parse_messages_request(b"")


# --- count_tokens ----------------------------------------------------------------------------


def test_count_tokens_takes_the_prompt_only() -> None:
    params: MessageCountTokensParams = {
        "model": MODEL,
        "messages": HELLO,
        "system": "Be brief.",
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    }
    request = parse_count_tokens_request(orjson.dumps(params))
    assert not request.stream
    assert request.chat_body == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
        ],
        "tools": [CHAT_WEATHER_TOOL],
        "tool_choice": "auto",
        "reasoning_effort": "low",
    }
    parse_request(Operation.CHAT, orjson.dumps(request.chat_body))


@pytest.mark.parametrize(
    "field", [("max_tokens", 10), ("stream", True), ("temperature", 0.5), ("top_k", 5)]
)
def test_count_tokens_refuses_output_settings(field: tuple[str, object]) -> None:
    name, value = field
    with pytest.raises(InvalidRequest) as caught:
        parse_count_tokens_request(orjson.dumps({"model": MODEL, "messages": HELLO, name: value}))
    assert caught.value.param == name


def _count(params: dict[str, Any]) -> int:
    return estimated_input_tokens(parse_count_tokens_request(orjson.dumps(params)))


def test_count_tokens_estimates_four_bytes_a_token_over_text() -> None:
    assert _count({"model": MODEL, "messages": [{"role": "user", "content": "x" * 400}]}) == 100
    # UTF-8 bytes, not characters: "é" is 2 bytes.
    assert _count({"model": MODEL, "messages": [{"role": "user", "content": "é" * 200}]}) == 100
    assert _count({"model": MODEL, "messages": [{"role": "user", "content": ""}]}) == 1
    assert (
        _count(
            {
                "model": MODEL,
                "system": "s" * 400,
                "messages": [{"role": "user", "content": "u" * 400}],
            }
        )
        == 200
    )


def test_count_tokens_counts_tools_calls_results_and_attachments() -> None:
    call: ToolUseBlockParam = {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}
    result: ToolResultBlockParam = {"type": "tool_result", "tool_use_id": "t", "content": "r" * 40}
    image: ImageBlockParam = {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
    messages: list[MessageParam] = [
        {"role": "user", "content": "q" * 40},
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [result, image]},
    ]
    tool_bytes = len(orjson.dumps(CHAT_WEATHER_TOOL["function"]))
    expected = (40 + len("f") + len('{"a":1}') + 40 + tool_bytes) // 4 + 1600
    assert _count({"model": MODEL, "messages": messages, "tools": [WEATHER_TOOL]}) == expected
    MessageTokensCount.model_validate({"input_tokens": expected})


# --- answers -----------------------------------------------------------------------------------

_REQUEST = parse_messages_request(orjson.dumps(_create(tools=[WEATHER_TOOL])))


def _chat(
    message: dict[str, Any], finish_reason: str | None = "stop", **extra: Any
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "upstream-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
        **extra,
    }


def _message(chat: object, request: MessagesRequest = _REQUEST) -> dict[str, Any]:
    body = message_from_chat(request, chat, message_id="msg_1")
    Message.model_validate(body)
    # The body is JSON the client can read back.
    Message.model_validate_json(orjson.dumps(body))
    return body


def test_text_answer_becomes_message() -> None:
    body = _message(_chat({"role": "assistant", "content": "Bonjour."}))
    assert body == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "upstream-model",
        "content": [{"type": "text", "text": "Bonjour."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "output_tokens": 5,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
        },
    }


def test_tool_calls_become_tool_use_blocks() -> None:
    chat = _chat(
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {"id": "call_2", "type": "function", "function": {"name": "f", "arguments": "[1]"}},
            ],
        },
        "tool_calls",
    )
    body = _message(chat)
    assert body["content"] == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "f", "input": {}},
    ]
    assert body["stop_reason"] == "tool_use"
    message = Message.model_validate(body)
    assert message.to_param()["content"]


@pytest.mark.parametrize(
    ("finish_reason", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
        ("something_new", "end_turn"),
    ],
)
def test_every_finish_reason_has_a_stop_reason(finish_reason: str | None, stop_reason: str) -> None:
    assert stop_reason_from_finish(finish_reason) == stop_reason
    body = _message(_chat({"role": "assistant", "content": "x"}, finish_reason))
    assert body["stop_reason"] == stop_reason


def test_refusal_message_is_text_with_refusal_stop() -> None:
    body = _message(_chat({"role": "assistant", "content": None, "refusal": "I can't help."}))
    assert body["content"] == [{"type": "text", "text": "I can't help."}]
    assert body["stop_reason"] == "refusal"


def test_usage_moves_cache_reads_out_of_input_tokens() -> None:
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 20,
        "total_tokens": 1020,
        "prompt_tokens_details": {"cached_tokens": 800},
    }
    expected = {
        "input_tokens": 200,
        "output_tokens": 20,
        "cache_read_input_tokens": 800,
        "cache_creation_input_tokens": 0,
    }
    assert usage_from_chat(usage) == expected
    body = _message({**_chat({"role": "assistant", "content": "x"}), "usage": usage})
    assert body["usage"] == expected


@pytest.mark.parametrize(
    "usage",
    [
        None,
        "12",
        {"prompt_tokens": "12"},
        {"prompt_tokens": -3, "completion_tokens": True},
        {"prompt_tokens": 5, "prompt_tokens_details": {"cached_tokens": 9}},
        {"prompt_tokens": 5, "prompt_tokens_details": [1]},
    ],
)
def test_usage_of_another_shape_reads_as_zero(usage: object) -> None:
    counted = usage_from_chat(usage)
    assert counted["cache_creation_input_tokens"] == 0
    assert counted["input_tokens"] + counted["cache_read_input_tokens"] <= 5
    assert all(isinstance(v, int) and v >= 0 for v in counted.values())


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"city": "Paris"}', {"city": "Paris"}),
        ("{}", {}),
        ("", {}),
        ('{"city": "Par', {}),
        ('"Paris"', {}),
        ("[1, 2]", {}),
        ("null", {}),
    ],
)
def test_tool_input_is_an_object_or_empty(arguments: str, expected: dict[str, Any]) -> None:
    assert tool_input(arguments) == expected


@pytest.mark.parametrize(
    "chat",
    [
        None,
        [],
        "text",
        {},
        {"choices": []},
        {"choices": "x"},
        {"choices": [None]},
        {"choices": [{"message": "hi", "finish_reason": 3}]},
        {"choices": [{"message": {"content": 3, "tool_calls": "x"}}], "model": 5, "usage": []},
        {"choices": [{"message": {"tool_calls": [None, {"function": None}, {"id": 1}]}}]},
        {
            "choices": [
                {
                    "message": {
                        "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": 7}}]
                    }
                }
            ]
        },
    ],
)
def test_answer_of_any_shape_gives_a_valid_message(chat: object) -> None:
    body = _message(chat)
    assert body["model"] == MODEL
    assert body["stop_reason"] == "end_turn"


def test_empty_answer_has_no_content_blocks() -> None:
    assert _message(_chat({"role": "assistant", "content": ""}))["content"] == []


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "billing_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (405, "invalid_request_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
    ],
)
def test_error_type_follows_status(status: int, error_type: str) -> None:
    assert anthropic_error_type(status) == error_type


@pytest.mark.parametrize(
    ("error", "error_type"),
    [
        (InvalidRequest("Bad 'x'.", param="x"), "invalid_request_error"),
        (NoEligibleEndpoint("No endpoint."), "overloaded_error"),
        (UpstreamTimeout("Slow.", endpoint="e"), "timeout_error"),
        (
            UpstreamStatusError("Busy.", endpoint="e", upstream_status=429),
            "rate_limit_error",
        ),
        (UpstreamStatusError("Broken.", endpoint="e", upstream_status=500), "api_error"),
    ],
)
def test_error_body_is_anthropic_shaped(error: RouterError, error_type: str) -> None:
    body = json.loads(anthropic_error_body(error))
    assert body == {"type": "error", "error": {"type": error_type, "message": error.message}}
    ErrorResponse.model_validate(body)


def test_payload_too_large_error_body() -> None:
    body = json.loads(anthropic_error_body(PayloadTooLarge("Too big.")))
    assert body["error"] == {"type": "request_too_large", "message": "Too big."}


# --- fuzzing ------------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
_TEXT = st.text(max_size=8)


def _mostly(*values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """One of `values` 24 times in 25, else any JSON (rarely: a body has many fields)."""
    plausible = st.one_of(*values)
    return st.integers(0, 24).flatmap(lambda n: _JSON if n == 0 else plausible)


_SOURCE = st.one_of(
    st.sampled_from(
        [
            {"type": "base64", "media_type": "image/png", "data": "iVBO"},
            {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
            {"type": "url", "url": "https://example.com/a.png"},
            {"type": "text", "media_type": "text/plain", "data": "d"},
            {"type": "file", "file_id": "file_1"},
        ]
    ),
    st.fixed_dictionaries(
        {"type": _mostly(st.sampled_from(["base64", "url", "text", "content"]))},
        optional={"media_type": _mostly(_TEXT), "data": _mostly(_TEXT), "url": _mostly(_TEXT)},
    ),
)


def _block(
    kind: str,
    fields: dict[str, st.SearchStrategy[Any]],
    *,
    citations: bool = False,
    cache_control: bool = True,
) -> st.SearchStrategy[Any]:
    """A block of one type with its own fields, each mostly plausible."""
    optional: dict[str, st.SearchStrategy[Any]] = {}
    if cache_control:
        optional["cache_control"] = _mostly(st.just({"type": "ephemeral"}))
    if citations:
        optional["citations"] = st.none()
    return st.fixed_dictionaries(
        {"type": _mostly(st.just(kind))} | {name: _mostly(v) for name, v in fields.items()},
        optional=optional,
    )


_TEXT_BLOCK = _block("text", {"text": _TEXT}, citations=True)
_USER_BLOCK = st.one_of(
    _TEXT_BLOCK,
    _block("image", {"source": _SOURCE}),
    _block("document", {"source": _SOURCE}, citations=True),
    _block(
        "tool_result",
        {
            "tool_use_id": _TEXT,
            "content": st.one_of(_TEXT, st.lists(st.just({"type": "text", "text": "r"}))),
            "is_error": st.booleans(),
        },
    ),
    _block("search_result", {"source": _TEXT}),
)
_ASSISTANT_BLOCK = st.one_of(
    _TEXT_BLOCK,
    _block(
        "tool_use",
        {"id": _TEXT, "name": _TEXT, "input": st.dictionaries(_TEXT, _JSON, max_size=2)},
    ),
    _block("thinking", {"thinking": _TEXT, "signature": _TEXT}, cache_control=False),
    _block("redacted_thinking", {"data": _TEXT}, cache_control=False),
)


def _turn(role: str, block: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {
            "role": _mostly(st.just(role)),
            "content": _mostly(_TEXT, st.lists(block, min_size=1, max_size=3)),
        }
    )


_TURN = st.one_of(_turn("user", _USER_BLOCK), _turn("assistant", _ASSISTANT_BLOCK))
_TOOL = st.fixed_dictionaries(
    {
        "name": _mostly(st.sampled_from(["f", "g"])),
        "input_schema": _mostly(st.just({"type": "object"})),
    },
    optional={
        "type": _mostly(st.sampled_from(["custom", "web_search_20250305"])),
        "description": _mostly(_TEXT),
    },
)
_SETTINGS: dict[str, st.SearchStrategy[Any]] = {
    "system": _mostly(_TEXT, st.lists(st.just({"type": "text", "text": "s"}), max_size=2)),
    "tools": _mostly(st.lists(_TOOL, max_size=2)),
    "tool_choice": _mostly(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["auto", "any", "tool", "none"])},
            optional={
                "name": st.sampled_from(["f", "x"]),
                "disable_parallel_tool_use": st.booleans(),
            },
        )
    ),
    "thinking": _mostly(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["enabled", "disabled", "adaptive"])},
            optional={"budget_tokens": st.integers(0, 40000)},
        )
    ),
    "stop_sequences": _mostly(st.lists(_TEXT, max_size=5)),
    "temperature": _mostly(st.floats(0, 2)),
    "top_p": _mostly(st.floats(0, 1)),
    "metadata": _mostly(st.fixed_dictionaries({}, optional={"user_id": _mostly(_TEXT)})),
    "service_tier": _mostly(st.sampled_from(["auto", "standard_only"])),
    "stream": _mostly(st.booleans()),
    "cache_control": _mostly(st.just({"type": "ephemeral"})),
}
_BODY = st.fixed_dictionaries(
    {
        "model": _mostly(st.just(MODEL)),
        "max_tokens": _mostly(st.integers(0, 2**21)),
        "messages": _mostly(st.lists(_TURN, min_size=1, max_size=4)),
    },
    optional=_SETTINGS,
)
_ANY_BODY = st.dictionaries(
    st.sampled_from([*_SETTINGS, "model", "max_tokens", "messages", "top_k", "x"]),
    _JSON,
    max_size=6,
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(_BODY, _ANY_BODY, _JSON))
def test_any_json_gives_a_request_or_a_400(body: Any) -> None:
    raw = orjson.dumps(body)
    for ingress in (parse_messages, parse_count_tokens):
        try:  # what no translation carries left out of the chat form, the body kept
            parsed, translation = ingress(raw)
        except InvalidRequest:
            continue
        assert translation.native({}).body == body and parsed.operation is Operation.CHAT
    for parse in (parse_messages_request, parse_count_tokens_request):
        try:
            request = parse(raw)
        except InvalidRequest:
            continue
        assert isinstance(request, MessagesRequest)
        parse_request(Operation.CHAT, orjson.dumps(request.chat_body))
        assert estimated_input_tokens(request) >= 1
        Message.model_validate(message_from_chat(request, body, message_id="msg_1"))
