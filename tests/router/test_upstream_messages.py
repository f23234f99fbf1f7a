"""Chat Completions -> Anthropic Messages translation, for endpoints that speak only the Messages
API (`router.wire.upstream_messages`): request bodies one way, answers, errors and streams back.

Every Messages body produced is checked against the official `anthropic` client's request
TypedDicts (`MessageCreateParamsNonStreaming` / `...Streaming`) by a strict structural check
(`conformance_errors` below: no field the types do not declare, every required field, literals,
unions, nested blocks); pydantic's `TypeAdapter` over those TypedDicts ignores unknown keys and
validates `Iterable` fields lazily, so it would pass bodies Anthropic refuses. The client's v1
dropped `temperature` and `top_p` from those types (its MIGRATION.md: older models still honour
them, sent through `extra_body`), so the check adds exactly those two fields. The golden chat
bodies are checked the same way against the `openai` client's `CompletionCreateParams` and
accepted by the router's own chat parser. Every chat.completion produced validates with
`openai.types.chat.ChatCompletion`, every chunk with `ChatCompletionChunk`, with no field those
models do not know. Round trips go through the router's Messages ingress (the other direction).
"""

from __future__ import annotations

import collections.abc
import functools
import itertools
import types
from typing import Annotated, Any, Literal, NotRequired, Required, Union, get_args, get_origin

import orjson
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.message_create_params import (
    MessageCreateParamsNonStreaming,
    MessageCreateParamsStreaming,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming,
    CompletionCreateParamsStreaming,
)
from pydantic import TypeAdapter
from typing_extensions import get_type_hints, is_typeddict

from router.errors import InvalidRequest
from router.wire.messages.answer import message_from_chat
from router.wire.messages.events import MessagesEvents
from router.wire.messages.request import MessagesRequest, parse_messages_request
from router.wire.requests import Operation, parse_request
from router.wire.stream_start import stream_start
from router.wire.upstream_messages.answer import chat_from_message, error_from_anthropic
from router.wire.upstream_messages.request import (
    ANTHROPIC_VERSION,
    DEFAULT_MAX_TOKENS,
    THINKING_BUDGETS,
    messages_body_from_chat,
    untranslatable_param,
)
from router.wire.upstream_messages.stream import ChatChunksFromMessages
from tests.chat_streams import (
    assemble,
    chunk,
    read_chunks,
    round_trip_streams,
    same_at_every_split,
    sse,
    translating,
    usage_chunk,
)
from tests.json_strategies import WIRE_INTEGERS, json_values
from tests.known_fields import assert_known_fields_only
from tests.sse_events import event_streams, sse_event

ALIAS = "assistant-large"
UPSTREAM = "claude-sonnet-4-5"
PNG = "iVBORw0KGgoAAAANSUhEUg=="
PDF = "JVBERi0xLjQK"
WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
CHAT_WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": WEATHER_SCHEMA,
    },
}
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather in a city.",
    "input_schema": WEATHER_SCHEMA,
}
HELLO = [{"role": "user", "content": "Hello"}]


# The client types, checked strictly.


class NonStreamingParams(MessageCreateParamsNonStreaming, total=False):
    """The client's request type and the sampling fields it now sends through `extra_body`."""

    temperature: float
    top_p: float


class StreamingParams(MessageCreateParamsStreaming, total=False):
    temperature: float
    top_p: float


@functools.cache
def _fields(typed_dict: type) -> dict[str, Any]:
    return get_type_hints(typed_dict, include_extras=True)


def conformance_errors(value: object, hint: Any, path: str = "body") -> list[str]:
    """Where `value` (decoded JSON) is not what the client's type hint `hint` declares."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Annotated, Required, NotRequired):
        return conformance_errors(value, args[0], path)
    if hint is object or hint is Any:
        return []
    if origin in (Union, types.UnionType):
        tries = [conformance_errors(value, option, path) for option in args]
        return [] if any(not errors for errors in tries) else min(tries, key=len)
    if origin is Literal:
        if any(value == arg and type(value) is type(arg) for arg in args):
            return []
        return [f"{path}: {value!r} is not one of {args}"]
    if hint is type(None):
        return [] if value is None else [f"{path}: expected null"]
    if is_typeddict(hint):
        return _typed_dict_errors(value, hint, path)
    if origin in (list, collections.abc.Iterable, collections.abc.Sequence) or (
        getattr(origin, "__name__", "") == "SequenceNotStr"
    ):
        if not isinstance(value, list):
            return [f"{path}: expected an array"]
        return [
            error
            for i, item in enumerate(value)
            for error in conformance_errors(item, args[0], f"{path}[{i}]")
        ]
    if origin in (dict, collections.abc.Mapping):
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        return [
            error
            for key, item in value.items()
            for error in conformance_errors(item, args[1], f"{path}.{key}")
        ]
    if hint in (str, int, float, bool):
        ok = isinstance(value, hint) and (hint is bool or not isinstance(value, bool))
        ok |= hint is float and isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected {hint.__name__}, got {value!r}"]
    if isinstance(origin or hint, type):  # response models, file handles: no JSON body holds them
        return [f"{path}: {hint!r} is no request type"]
    raise AssertionError(f"unhandled type hint {hint!r} at {path}")


def _typed_dict_errors(value: object, typed_dict: type, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object ({typed_dict.__name__})"]
    fields = _fields(typed_dict)
    errors = [
        f"{path}.{key}: not a field of {typed_dict.__name__}" for key in value if key not in fields
    ]
    for key, hint in fields.items():
        if key in value:
            errors += conformance_errors(value[key], hint, f"{path}.{key}")
        elif get_origin(hint) is Required:
            errors.append(f"{path}.{key}: required by {typed_dict.__name__}")
    return errors


# Requests.


def chat_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": ALIAS, "messages": HELLO}
    body.update(fields)
    return body


def messages_body(chat: dict[str, Any]) -> dict[str, Any]:
    """The Messages body of a chat body the router accepts, in the client's types."""
    parsed = parse_request(Operation.CHAT, orjson.dumps(chat))
    chat_params = (
        CompletionCreateParamsStreaming if parsed.stream else CompletionCreateParamsNonStreaming
    )
    assert conformance_errors(parsed.body, chat_params, "chat") == []
    assert untranslatable_param(parsed.body) is None
    body = messages_body_from_chat(parsed.body, UPSTREAM)
    params = StreamingParams if body.get("stream") else NonStreamingParams
    assert conformance_errors(body, params) == []
    return body


def refused_param(chat: dict[str, Any]) -> str:
    """The param a chat body the router accepts is refused for, the same both ways."""
    parsed = parse_request(Operation.CHAT, orjson.dumps(chat))
    with pytest.raises(InvalidRequest) as caught:
        messages_body_from_chat(parsed.body, UPSTREAM)
    param = caught.value.param
    assert param is not None and param in caught.value.message
    assert untranslatable_param(parsed.body) == param
    return param


def test_anthropic_version_is_the_one_the_api_documents() -> None:
    assert ANTHROPIC_VERSION == "2023-06-01"


def test_text_request_becomes_a_messages_body() -> None:
    chat = chat_body(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Hello"},
        ],
        max_completion_tokens=300,
        stop="END",
        temperature=0.3,
        top_p=1,
        user="user-42",
    )
    assert messages_body(chat) == {
        "model": UPSTREAM,
        "max_tokens": 300,
        "system": "Be brief.\n\nAnswer in French.",
        "messages": [{"role": "user", "content": "Hello"}],
        "stop_sequences": ["END"],
        "temperature": 0.3,
        "metadata": {"user_id": "user-42"},
    }


def test_a_request_without_a_cap_gets_the_default_max_tokens() -> None:
    assert messages_body(chat_body())["max_tokens"] == DEFAULT_MAX_TOKENS == 4096


def test_the_larger_of_the_two_chat_caps_is_the_max_tokens() -> None:
    assert messages_body(chat_body(max_tokens=50, max_completion_tokens=80))["max_tokens"] == 80
    assert messages_body(chat_body(max_tokens=90))["max_tokens"] == 90


@pytest.mark.parametrize(
    ("temperature", "sent"), [(0, 0), (0.7, 0.7), (1, None), (1.5, None), (2, None)]
)
def test_a_temperature_above_anthropics_range_is_clamped_to_the_default_1_which_is_not_sent(
    temperature: float, sent: float | None
) -> None:
    assert messages_body(chat_body(temperature=temperature)).get("temperature") == sent


def test_top_p_is_sent_alone_and_refused_beside_a_temperature() -> None:
    assert messages_body(chat_body(top_p=0.9))["top_p"] == 0.9
    assert "top_p" not in messages_body(chat_body(top_p=1.0, temperature=0.2))
    assert messages_body(chat_body(top_p=0.9, temperature=1.5))["top_p"] == 0.9
    assert refused_param(chat_body(top_p=0.9, temperature=0.2)) == "top_p"


def test_stop_sequences_and_safety_identifier() -> None:
    body = messages_body(chat_body(stop=["\n\n", "END"], safety_identifier="hash-1"))
    assert body["stop_sequences"] == ["\n\n", "END"]
    assert body["metadata"] == {"user_id": "hash-1"}
    assert "stop_sequences" not in messages_body(chat_body(stop=[]))


def test_stream_is_passed_on() -> None:
    chat = chat_body(stream=True, stream_options={"include_usage": True})
    assert messages_body(chat)["stream"] is True
    assert "stream" not in messages_body(chat_body(stream=False))


def test_images_and_a_pdf_become_image_and_document_blocks() -> None:
    parts = [
        {"type": "text", "text": "Compare these."},
        {
            "type": "image_url",
            "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"},
        },
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "image_url", "image_url": {"url": f"data:image/jpg;base64,{PNG}"}},
        {
            "type": "file",
            "file": {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "a.pdf"},
        },
    ]
    body = messages_body(chat_body(messages=[{"role": "user", "content": parts}]))
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Compare these."},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG},
                },
                {
                    "type": "document",
                    "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
                },
            ],
        }
    ]


def tool_call(call_id: str, city: str) -> dict[str, Any]:
    arguments = orjson.dumps({"city": city}).decode()
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": arguments},
    }


def test_tool_calls_and_results_become_tool_use_and_tool_result_blocks() -> None:
    messages = [
        {"role": "user", "content": "Weather in Rome and Oslo?"},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                tool_call("call_rome", "Rome"),
                tool_call("functions.get_weather:1", "Oslo"),
            ],
        },
        {"role": "tool", "tool_call_id": "call_rome", "content": "Sunny, 24 °C"},
        {
            "role": "tool",
            "tool_call_id": "functions.get_weather:1",
            "content": [{"type": "text", "text": "Rain"}, {"type": "text", "text": "8 °C"}],
        },
        {"role": "user", "content": "Which is warmer?"},
    ]
    body = messages_body(chat_body(messages=messages, tools=[CHAT_WEATHER_TOOL]))
    assert body["tools"] == [WEATHER_TOOL]
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Rome and Oslo?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {
                    "type": "tool_use",
                    "id": "call_rome",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
                {
                    "type": "tool_use",
                    "id": "functions_get_weather_1",
                    "name": "get_weather",
                    "input": {"city": "Oslo"},
                },
            ],
        },
        {
            # The tool messages merge into one user turn, and the user's next message with them.
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_rome", "content": "Sunny, 24 °C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "functions_get_weather_1",
                    "content": [{"type": "text", "text": "Rain"}, {"type": "text", "text": "8 °C"}],
                },
                {"type": "text", "text": "Which is warmer?"},
            ],
        },
    ]


def test_an_assistant_turn_of_tool_calls_only_and_a_call_without_arguments() -> None:
    no_arguments = {
        "id": "call_t",
        "type": "function",
        "function": {"name": "now", "arguments": ""},
    }
    messages = [
        {"role": "user", "content": "Time?"},
        {"role": "assistant", "content": None, "tool_calls": [no_arguments]},
        {"role": "tool", "tool_call_id": "call_t", "content": ""},
    ]
    tools = [{"type": "function", "function": {"name": "now"}}]
    body = messages_body(chat_body(messages=messages, tools=tools))
    assert body["tools"] == [{"name": "now", "input_schema": {"type": "object", "properties": {}}}]
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "call_t", "name": "now", "input": {}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_t"}]},
    ]


def test_consecutive_messages_of_one_role_merge_into_one_turn() -> None:
    messages = [
        {"role": "user", "content": "One."},
        {"role": "user", "content": [{"type": "text", "text": "Two."}]},
        {"role": "system", "content": "Mid-conversation rules."},
        {"role": "assistant", "content": "Three."},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "Four."}, {"type": "refusal", "refusal": "No."}],
        },
        {"role": "user", "content": "Five."},
    ]
    body = messages_body(chat_body(messages=messages))
    assert body["system"] == "Mid-conversation rules."
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Three."},
                {"type": "text", "text": "Four."},
                {"type": "text", "text": "No."},
            ],
        },
        {"role": "user", "content": "Five."},
    ]


def test_empty_texts_are_left_out() -> None:
    messages = [
        {"role": "system", "content": "  "},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": ""},
        {
            "role": "user",
            "content": [{"type": "text", "text": ""}, {"type": "text", "text": "Go on"}],
        },
    ]
    body = messages_body(chat_body(messages=messages))
    assert "system" not in body
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "Go on"}],
        }
    ]


def test_a_conversation_ending_with_an_assistant_message_is_refused() -> None:
    """OpenAI answers it anew; Anthropic would continue it as a prefill, or refuse it."""
    messages = [*HELLO, {"role": "assistant", "content": "The answer is"}]
    assert refused_param(chat_body(messages=messages)) == "messages[1]"
    with_empty_user = [*messages, {"role": "user", "content": " "}]
    assert refused_param(chat_body(messages=with_empty_user)) == "messages[1]"


def test_a_conversation_with_nothing_to_say_is_refused() -> None:
    assert (
        refused_param(chat_body(messages=[{"role": "system", "content": "Rules."}])) == "messages"
    )
    assert refused_param(chat_body(messages=[{"role": "user", "content": ""}])) == "messages"


@pytest.mark.parametrize(
    ("tool_choice", "parallel", "sent"),
    [
        (None, None, None),
        (None, True, None),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("auto", None, {"type": "auto"}),
        ("none", False, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            False,
            {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        ),
    ],
)
def test_tool_choice_and_parallel_tool_calls(tool_choice: Any, parallel: Any, sent: Any) -> None:
    choices = {"tool_choice": tool_choice, "parallel_tool_calls": parallel}
    chat = chat_body(
        tools=[CHAT_WEATHER_TOOL], **{k: v for k, v in choices.items() if v is not None}
    )
    assert messages_body(chat).get("tool_choice") == sent


def test_a_tool_choice_without_tools_says_nothing_or_is_refused() -> None:
    assert "tool_choice" not in messages_body(
        chat_body(tool_choice="auto", parallel_tool_calls=False)
    )
    assert "tool_choice" not in messages_body(chat_body(tools=[], tool_choice="none"))
    assert refused_param(chat_body(tool_choice="required")) == "tool_choice"


def test_strict_tools_and_schemas_without_a_type() -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "a", "parameters": {"properties": {}}, "strict": True},
        },
        {
            "type": "function",
            "function": {"name": "b", "parameters": WEATHER_SCHEMA, "strict": False},
        },
    ]
    assert messages_body(chat_body(tools=tools))["tools"] == [
        {"name": "a", "input_schema": {"type": "object", "properties": {}}, "strict": True},
        {"name": "b", "input_schema": WEATHER_SCHEMA},
    ]


@pytest.mark.parametrize(
    ("effort", "budget"), [("minimal", 1024), ("low", 2048), ("medium", 8192), ("high", 24576)]
)
def test_reasoning_effort_becomes_a_thinking_budget(effort: str, budget: int) -> None:
    body = messages_body(chat_body(reasoning_effort=effort, max_completion_tokens=30000))
    assert THINKING_BUDGETS[effort] == budget
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == 30000


def test_a_cap_at_or_under_the_thinking_budget_gets_the_budget_on_top() -> None:
    assert messages_body(chat_body(reasoning_effort="medium"))["max_tokens"] == 4096 + 8192
    assert (
        messages_body(chat_body(reasoning_effort="low", max_completion_tokens=2048))["max_tokens"]
        == 4096
    )
    assert (
        messages_body(chat_body(reasoning_effort="low", max_completion_tokens=2049))["max_tokens"]
        == 2049
    )


def test_reasoning_effort_none_asks_for_no_thinking() -> None:
    assert "thinking" not in messages_body(chat_body(reasoning_effort="none"))


def test_thinking_keeps_the_default_temperature_and_a_wide_top_p() -> None:
    body = messages_body(chat_body(reasoning_effort="low", temperature=1.8, top_p=0.95))
    assert "temperature" not in body
    assert body["top_p"] == 0.95


def test_dropped_hints_and_idle_values_translate() -> None:
    chat = chat_body(
        n=1,
        logprobs=False,
        top_logprobs=0,
        logit_bias={},
        presence_penalty=0,
        frequency_penalty=0.0,
        response_format={"type": "text"},
        modalities=["text"],
        store=False,
        service_tier="auto",
        verbosity="medium",
        metadata={"app": "x"},
        prompt_cache_key="k",
        seed=None,
    )
    assert messages_body(chat) == messages_body(chat_body())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n", 2),
        ("logprobs", True),
        ("top_logprobs", 3),
        ("logit_bias", {"50256": -100}),
        ("presence_penalty", 0.5),
        ("frequency_penalty", -1),
        ("seed", 7),
        ("response_format", {"type": "json_object"}),
        ("response_format", {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}),
        ("audio", {"voice": "alloy", "format": "wav"}),
        ("modalities", ["text", "audio"]),
        ("prediction", {"type": "content", "content": "x"}),
        ("verbosity", "low"),
        ("web_search_options", {}),
        ("functions", [{"name": "f"}]),
        ("function_call", "auto"),
        ("store", True),
        ("service_tier", "flex"),
        ("top_k", 5),
    ],
)
def test_a_field_without_a_messages_form_is_refused_by_name(field: str, value: Any) -> None:
    assert refused_param(chat_body(**{field: value})) == field


def user_part(part: dict[str, Any]) -> dict[str, Any]:
    return chat_body(messages=[{"role": "user", "content": [part]}])


@pytest.mark.parametrize(
    ("chat", "param"),
    [
        (
            user_part({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}),
            "messages[0].content[0].type",
        ),
        (
            user_part({"type": "file", "file": {"file_id": "file-1"}}),
            "messages[0].content[0].file.file_id",
        ),
        (
            user_part({"type": "file", "file": {"file_data": "data:text/plain;base64,aGk="}}),
            "messages[0].content[0].file.file_data",
        ),
        (
            user_part({"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}),
            "messages[0].content[0].image_url.url",
        ),
        (
            user_part({"type": "image_url", "image_url": {"url": "data:image/png,%89PNG"}}),
            "messages[0].content[0].image_url.url",
        ),
        (
            user_part({"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}),
            "messages[0].content[0].image_url.url",
        ),
        (
            chat_body(
                messages=[
                    *HELLO,
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "c",
                                "type": "function",
                                "function": {"name": "f", "arguments": "[1]"},
                            }
                        ],
                    },
                ],
                tools=[{"type": "function", "function": {"name": "f"}}],
            ),
            "messages[1].tool_calls[0].function.arguments",
        ),
        (
            chat_body(
                messages=[
                    *HELLO,
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "c", "type": "custom", "custom": {"name": "f", "input": "x"}}
                        ],
                    },
                ],
            ),
            "messages[1].tool_calls[0].type",
        ),
        (
            chat_body(
                messages=[
                    *HELLO,
                    {"role": "assistant", "tool_calls": [tool_call("", "Rome")]},
                    {"role": "tool", "tool_call_id": "", "content": "Sunny"},
                ],
                tools=[CHAT_WEATHER_TOOL],
            ),
            "messages[1].tool_calls[0].id",
        ),
        (
            chat_body(messages=[*HELLO, {"role": "function", "name": "f", "content": "1"}]),
            "messages[1].role",
        ),
        (
            chat_body(
                messages=[
                    *HELLO,
                    {"role": "assistant", "content": None, "audio": {"id": "audio_1"}},
                ]
            ),
            "messages[1].audio",
        ),
        (
            chat_body(tools=[{"type": "custom", "custom": {"name": "sql"}}]),
            "tools[0].type",
        ),
        (
            chat_body(
                tools=[CHAT_WEATHER_TOOL],
                tool_choice={
                    "type": "allowed_tools",
                    "allowed_tools": {"mode": "auto", "tools": []},
                },
            ),
            "tool_choice.type",
        ),
        (
            chat_body(
                tools=[CHAT_WEATHER_TOOL],
                tool_choice={"type": "function", "function": {"name": "nope"}},
            ),
            "tool_choice.function.name",
        ),
        (
            # Anthropic needs the tools of a conversation's tool calls declared.
            chat_body(
                messages=[
                    *HELLO,
                    {"role": "assistant", "tool_calls": [tool_call("c", "Rome")]},
                    {"role": "tool", "tool_call_id": "c", "content": "Sunny"},
                ]
            ),
            "tools",
        ),
    ],
)
def test_a_part_without_a_messages_form_is_refused_by_its_path(
    chat: dict[str, Any], param: str
) -> None:
    assert refused_param(chat) == param


def tool_loop(**fields: Any) -> dict[str, Any]:
    messages = [
        *HELLO,
        {"role": "assistant", "content": None, "tool_calls": [tool_call("c", "Rome")]},
        {"role": "tool", "tool_call_id": "c", "content": "Sunny"},
    ]
    return chat_body(messages=messages, tools=[CHAT_WEATHER_TOOL], **fields)


@pytest.mark.parametrize(
    ("chat", "param"),
    [
        (chat_body(reasoning_effort="low", temperature=0.2), "temperature"),
        (chat_body(reasoning_effort="low", top_p=0.5), "top_p"),
        (
            chat_body(reasoning_effort="low", tools=[CHAT_WEATHER_TOOL], tool_choice="required"),
            "tool_choice",
        ),
        (tool_loop(reasoning_effort="high"), "reasoning_effort"),
    ],
)
def test_thinking_refuses_what_anthropic_refuses_with_it(chat: dict[str, Any], param: str) -> None:
    assert refused_param(chat) == param


def test_the_same_tool_loop_without_reasoning_effort_translates() -> None:
    assert messages_body(tool_loop())["messages"][-1]["role"] == "user"


def test_an_unknown_field_is_refused_and_the_first_refused_field_is_named() -> None:
    assert refused_param(chat_body(chat_template_kwargs={"x": 1})) == "chat_template_kwargs"
    assert refused_param(chat_body(n=3, seed=1)) == "n"


# Requests: round trips through the Messages ingress.


ROUND_TRIPS: list[dict[str, Any]] = [
    chat_body(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi! How can I help?"},
            {"role": "user", "content": "Tell me a joke."},
        ],
        max_completion_tokens=512,
        temperature=0.5,
        stop=["END", "\n\n"],
        user="user-42",
    ),
    chat_body(top_p=0.9, max_completion_tokens=512),
    chat_body(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/webp;base64,{PNG}"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    {
                        "type": "file",
                        "file": {
                            "file_data": f"data:application/pdf;base64,{PDF}",
                            "filename": "document.pdf",
                        },
                    },
                ],
            }
        ],
        max_completion_tokens=100,
    ),
    chat_body(
        messages=[
            {"role": "user", "content": "Weather in Rome and Oslo?"},
            {
                "role": "assistant",
                "content": "Let me look.",
                "tool_calls": [tool_call("call_rome", "Rome"), tool_call("call_oslo", "Oslo")],
            },
            {"role": "tool", "tool_call_id": "call_rome", "content": "Sunny"},
            {"role": "tool", "tool_call_id": "call_oslo", "content": "Rain"},
            {"role": "user", "content": [{"type": "text", "text": "And Paris?"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [tool_call("call_paris", "Paris")],
            },
            {"role": "tool", "tool_call_id": "call_paris", "content": "Cloudy"},
        ],
        tools=[
            CHAT_WEATHER_TOOL,
            {
                "type": "function",
                "function": {"name": "f", "parameters": {"type": "object"}, "strict": True},
            },
        ],
        tool_choice="required",
        parallel_tool_calls=False,
        max_completion_tokens=1000,
    ),
    chat_body(
        tools=[CHAT_WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_completion_tokens=10,
    ),
    chat_body(tools=[CHAT_WEATHER_TOOL], tool_choice="none", max_completion_tokens=10),
    chat_body(tools=[CHAT_WEATHER_TOOL], tool_choice="auto", max_completion_tokens=10),
    chat_body(reasoning_effort="low", max_completion_tokens=16000),
    chat_body(reasoning_effort="medium", max_completion_tokens=16000),
    chat_body(reasoning_effort="high", max_completion_tokens=32000),
    chat_body(stream=True, stream_options={"include_usage": True}, max_completion_tokens=64),
]


@pytest.mark.parametrize("chat", ROUND_TRIPS)
def test_a_supported_chat_body_comes_back_from_the_messages_ingress_as_it_was(
    chat: dict[str, Any],
) -> None:
    body = messages_body(chat)
    request = parse_messages_request(orjson.dumps(body))
    assert request.chat_body == {**chat, "model": UPSTREAM}


def test_other_spellings_come_back_in_their_canonical_form() -> None:
    chat = chat_body(
        messages=[
            {"role": "developer", "content": "Rule one."},
            {"role": "system", "content": [{"type": "text", "text": "Rule two."}]},
            {"role": "user", "content": "Hi"},
        ],
        max_tokens=20,
        stop="END",
        temperature=1.7,
        stream=True,
    )
    request = parse_messages_request(orjson.dumps(messages_body(chat)))
    assert request.chat_body == {
        "model": UPSTREAM,
        "messages": [
            {"role": "system", "content": "Rule one.\n\nRule two."},
            {"role": "user", "content": "Hi"},
        ],
        "max_completion_tokens": 20,
        "stop": ["END"],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


# Requests: any chat body.


def mostly(usual: st.SearchStrategy[Any], *rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` three times in four, else one of `rare`: a body mostly of the translatable
    kind, so that the translation itself is exercised, not only its refusals."""
    return st.one_of(usual, usual, usual, *rare) if rare else usual


_TEXT = st.text(max_size=8)
_WORDS = mostly(st.text(min_size=1, max_size=8).filter(str.strip), _TEXT)
_PART = mostly(
    st.one_of(
        st.fixed_dictionaries({"type": st.just("text"), "text": _WORDS}),
        st.fixed_dictionaries(
            {
                "type": st.just("image_url"),
                "image_url": st.fixed_dictionaries(
                    {
                        "url": st.sampled_from(
                            [f"data:image/png;base64,{PNG}", "https://x.test/a.png"]
                        )
                    }
                ),
            }
        ),
    ),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["image_url", "file", "input_audio", "refusal"]),
            "image_url": st.fixed_dictionaries({"url": st.sampled_from(["data:,x", "x"])}),
            "file": st.just({}),
        }
    ),
)
_CONTENT = mostly(_WORDS | st.lists(_PART, min_size=1, max_size=3), st.none(), st.just([]))
_CALL = st.fixed_dictionaries(
    {
        "id": mostly(st.sampled_from(["c1", "c.2"]), st.just("")),
        "type": mostly(st.just("function"), st.just("custom")),
        "function": st.fixed_dictionaries(
            {
                "name": st.sampled_from(["f", "g"]),
                "arguments": mostly(
                    st.sampled_from(["{}", '{"a":1}']), st.sampled_from(["", "[", "1"])
                ),
            }
        ),
    }
)
_USER = st.fixed_dictionaries({"role": st.just("user"), "content": _CONTENT})
_MESSAGE = st.one_of(
    _USER,
    st.fixed_dictionaries({"role": st.sampled_from(["system", "developer"]), "content": _CONTENT}),
    st.fixed_dictionaries(
        {"role": st.just("assistant"), "content": _CONTENT},
        optional={"tool_calls": st.lists(_CALL, max_size=2), "refusal": st.none() | _TEXT},
    ),
    st.fixed_dictionaries(
        {
            "role": st.just("tool"),
            "tool_call_id": st.sampled_from(["c1", "c.2"]),
            "content": _CONTENT,
        }
    ),
)
_FUNCTION_TOOL = st.fixed_dictionaries(
    {
        "type": mostly(st.just("function"), st.just("custom")),
        "function": st.fixed_dictionaries({"name": st.sampled_from(["f", "g"])}),
    }
)
_CHAT_SETTINGS: dict[str, st.SearchStrategy[Any]] = {
    "max_completion_tokens": st.integers(1, 40000),
    "temperature": st.floats(0, 2),
    "top_p": st.floats(0, 1),
    "stop": st.one_of(_TEXT, st.lists(_TEXT, max_size=4)),
    "tools": mostly(
        st.just([{"type": "function", "function": {"name": "f"}}]),
        st.lists(_FUNCTION_TOOL, max_size=2),
    ),
    "tool_choice": st.one_of(
        st.sampled_from(["none", "auto", "required"]),
        st.fixed_dictionaries(
            {
                "type": st.just("function"),
                "function": st.fixed_dictionaries({"name": st.sampled_from(["f", "h"])}),
            }
        ),
    ),
    "parallel_tool_calls": st.booleans(),
    "reasoning_effort": st.sampled_from(
        ["none", "minimal", "low", "medium", "high", "xhigh", "max"]
    ),
    "n": mostly(st.just(1), st.just(2)),
    "stream": st.booleans(),
    "user": _TEXT,
}
# A conversation, mostly ending as one sent to be answered: with a user message.
_CONVERSATION = mostly(
    st.builds(lambda head, tail: [*head, tail], st.lists(_MESSAGE, max_size=4), _USER),
    st.lists(_MESSAGE, min_size=1, max_size=5),
)
_CHAT = st.fixed_dictionaries(
    {"model": st.just(ALIAS), "messages": _CONVERSATION},
    optional=_CHAT_SETTINGS,
)


@settings(max_examples=400, deadline=None)
@given(_CHAT)
def test_any_chat_body_gives_a_valid_messages_body_or_a_400_naming_the_param(
    chat: dict[str, Any],
) -> None:
    try:
        parsed = parse_request(Operation.CHAT, orjson.dumps(chat))
    except InvalidRequest:
        return
    param = untranslatable_param(parsed.body)
    try:
        body = messages_body_from_chat(parsed.body, UPSTREAM)
    except InvalidRequest as error:
        assert error.param == param is not None
        return
    assert param is None
    params = StreamingParams if body.get("stream") else NonStreamingParams
    assert conformance_errors(body, params) == []
    roles = [turn["role"] for turn in body["messages"]]
    assert all(a != b for a, b in itertools.pairwise(roles)), "roles alternate"
    if "thinking" in body:
        assert body["thinking"]["budget_tokens"] < body["max_tokens"]


# Answers.


MESSAGE_USAGE = {
    "input_tokens": 20,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 100,
    "output_tokens": 12,
}


def message(
    content: list[dict[str, Any]], stop_reason: str = "end_turn", **fields: Any
) -> dict[str, Any]:
    m = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": UPSTREAM,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": MESSAGE_USAGE,
        **fields,
    }
    Message.model_validate(m)  # a Message as Anthropic sends it
    return m


def chat_answer(m: object) -> dict[str, Any]:
    chat = chat_from_message(m, chat_id="chatcmpl-1", created=1_700_000_000)
    completion = ChatCompletion.model_validate(chat)
    assert_known_fields_only(completion)
    return chat


def test_a_text_message_becomes_a_chat_completion() -> None:
    content = [{"type": "text", "text": "Hello"}, {"type": "text", "text": " there."}]
    assert chat_answer(message(content)) == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": UPSTREAM,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there.", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 120,
            "completion_tokens": 12,
            "total_tokens": 132,
            "prompt_tokens_details": {"cached_tokens": 100},
        },
    }


def test_tool_use_blocks_become_tool_calls_and_thinking_is_dropped() -> None:
    content: list[dict[str, Any]] = [
        {"type": "thinking", "thinking": "The user wants weather.", "signature": "sig"},
        {"type": "redacted_thinking", "data": "xyz"},
        {"type": "text", "text": "Let me look."},
        {
            "type": "tool_use",
            "id": "toolu_1",
            "name": "get_weather",
            "input": {"city": "Rome", "days": [1, 2]},
        },
        {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {}},
    ]
    choice = chat_answer(message(content, "tool_use"))["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": "Let me look.",
        "refusal": None,
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Rome","days":[1,2]}'},
            },
            {
                "id": "toolu_2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": "{}"},
            },
        ],
    }
    only_calls = chat_answer(message(content[3:], "tool_use"))["choices"][0]["message"]
    assert only_calls["content"] is None


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        ("tool_use", "stop"),  # no tool_use block: nothing to call
    ],
)
def test_stop_reasons_become_finish_reasons(stop_reason: str, finish_reason: str) -> None:
    answer = chat_answer(message([{"type": "text", "text": "x"}], stop_reason))
    assert answer["choices"][0]["finish_reason"] == finish_reason


def test_usage_counts_the_whole_prompt_and_the_thinking() -> None:
    usage = {
        "input_tokens": 5,
        "cache_creation_input_tokens": 7,
        "cache_read_input_tokens": 11,
        "output_tokens": 40,
        "output_tokens_details": {"thinking_tokens": 30},
    }
    assert chat_answer(message([], usage=usage))["usage"] == {
        "prompt_tokens": 23,
        "completion_tokens": 40,
        "total_tokens": 63,
        "prompt_tokens_details": {"cached_tokens": 11},
        "completion_tokens_details": {"reasoning_tokens": 30},
    }


def test_an_answer_of_another_shape_reads_as_empty() -> None:
    assert (
        chat_answer({"content": "text", "usage": [], "model": 3})["choices"][0]["message"][
            "content"
        ]
        == ""
    )
    calls = chat_answer({"content": [{"type": "tool_use", "input": [1], "name": 7}, "x"]})
    assert calls["choices"][0]["message"]["tool_calls"] == [
        {"id": "call_chatcmpl-1_0", "type": "function", "function": {"name": "", "arguments": "{}"}}
    ]
    # An integer past 64 bits, which a JSON decoder other than orjson may give.
    big = chat_answer(
        {"content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"n": 2**70}}]}
    )
    assert (
        big["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
        == '{"n":1180591620717411303424}'
    )


ROUND_TRIP_MESSAGES = [
    message([{"type": "text", "text": "Hello there."}]),
    message([{"type": "text", "text": "Cut sho"}], "max_tokens"),
    message([{"type": "text", "text": "I can't help with that."}], "refusal"),
    message(
        [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Rome"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Oslo"}},
        ],
        "tool_use",
    ),
    message([{"type": "tool_use", "id": "toolu_3", "name": "now", "input": {}}], "tool_use"),
]


@pytest.mark.parametrize("m", ROUND_TRIP_MESSAGES)
def test_a_message_comes_back_from_the_messages_ingress_as_it_was(m: dict[str, Any]) -> None:
    request = parse_messages_request(
        orjson.dumps({"model": UPSTREAM, "max_tokens": 10, "messages": HELLO})
    )
    assert message_from_chat(request, chat_answer(m), message_id=m["id"]) == m


# Any decoded JSON: integers past 64 bits too (Python's own decoder gives them).
_JSON = json_values(st.integers())
# JSON an upstream can send through orjson, as the stream translation reads it.
_WIRE_JSON = json_values(WIRE_INTEGERS)
_BLOCK = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "tool_use", "thinking", "server_tool_use", "x"])},
    optional={"text": _JSON, "id": _JSON, "name": _JSON, "input": _JSON},
)
_MESSAGE_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "content": st.lists(st.one_of(_BLOCK, _JSON), max_size=4) | _JSON,
        "stop_reason": st.sampled_from(["end_turn", "tool_use", "refusal", "max_tokens"]) | _JSON,
        "model": _JSON,
        "usage": st.dictionaries(
            st.sampled_from([*MESSAGE_USAGE, "output_tokens_details"]),
            st.integers(-5, 2**64) | _JSON,
        )
        | _JSON,
    },
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_MESSAGE_LIKE, _JSON))
def test_any_json_gives_a_valid_chat_completion(m: Any) -> None:
    chat = chat_answer(m)
    orjson.dumps(chat)


@pytest.mark.parametrize(
    ("status", "anthropic_type", "openai_type"),
    [
        (400, "invalid_request_error", "invalid_request_error"),
        (401, "authentication_error", "authentication_error"),
        (402, "billing_error", "insufficient_quota"),
        (403, "permission_error", "permission_error"),
        (404, "not_found_error", "invalid_request_error"),
        (413, "request_too_large", "invalid_request_error"),
        (429, "rate_limit_error", "requests"),
        (500, "api_error", "server_error"),
        (504, "timeout_error", "timeout"),
        (529, "overloaded_error", "service_unavailable"),
        (418, "teapot_error", "invalid_request_error"),
        (503, "teapot_error", "server_error"),
    ],
)
def test_anthropic_errors_are_relayed_with_openai_types(
    status: int, anthropic_type: str, openai_type: str
) -> None:
    body = orjson.dumps(
        {
            "type": "error",
            "error": {"type": anthropic_type, "message": "Details."},
            "request_id": "req_1",
        }
    )
    assert error_from_anthropic(status, body) == (openai_type, "Details.")


def test_an_error_body_of_another_shape_is_typed_by_its_status() -> None:
    said = "The Anthropic endpoint answered with HTTP status 502."
    assert error_from_anthropic(502, b"<html>Bad gateway</html>") == ("server_error", said)
    said_400 = "The Anthropic endpoint answered with HTTP status 400."
    assert error_from_anthropic(400, b'{"error": {"message": ""}}') == (
        "invalid_request_error",
        said_400,
    )
    assert error_from_anthropic(400, b"[]") == ("invalid_request_error", said_400)


# Streams.


STREAM_EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
START_USAGE = {
    "input_tokens": 25,
    "cache_creation_input_tokens": 3,
    "cache_read_input_tokens": 10,
    "output_tokens": 1,
}


def event(kind: str, **fields: Any) -> bytes:
    """One Anthropic stream event, checked against the client's event types."""
    data = {"type": kind, **fields}
    if kind not in ("ping", "error"):
        STREAM_EVENT.validate_python(data)
    return sse_event(kind, data)


def message_start() -> bytes:
    m: dict[str, Any] = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": UPSTREAM,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": START_USAGE,
    }
    return event("message_start", message=m)


def text_block(index: int, *pieces: str) -> bytes:
    deltas = [
        event("content_block_delta", index=index, delta={"type": "text_delta", "text": piece})
        for piece in pieces
    ]
    start = event("content_block_start", index=index, content_block={"type": "text", "text": ""})
    return start + b"".join(deltas) + event("content_block_stop", index=index)


def tool_block(index: int, tool_id: str, *pieces: str) -> bytes:
    block = {"type": "tool_use", "id": tool_id, "name": "get_weather", "input": {}}
    deltas = [
        event(
            "content_block_delta",
            index=index,
            delta={"type": "input_json_delta", "partial_json": piece},
        )
        for piece in pieces
    ]
    start = event("content_block_start", index=index, content_block=block)
    return start + b"".join(deltas) + event("content_block_stop", index=index)


def thinking_block(index: int) -> bytes:
    block = {"type": "thinking", "thinking": "", "signature": ""}
    return (
        event("content_block_start", index=index, content_block=block)
        + event(
            "content_block_delta", index=index, delta={"type": "thinking_delta", "thinking": "Hmm."}
        )
        + event(
            "content_block_delta",
            index=index,
            delta={"type": "signature_delta", "signature": "sig"},
        )
        + event("content_block_stop", index=index)
    )


def ending(stop_reason: str, output_tokens: int = 15) -> bytes:
    delta = {"stop_reason": stop_reason, "stop_sequence": None}
    return event("message_delta", delta=delta, usage={"output_tokens": output_tokens}) + event(
        "message_stop"
    )


def text_stream(stop_reason: str = "end_turn") -> bytes:
    return (
        message_start()
        + event("ping")
        + text_block(0, "Héllo", " there, ", "wörld 👋")
        + event("ping")
        + ending(stop_reason)
    )


def tool_stream() -> bytes:
    return (
        message_start()
        + thinking_block(0)
        + text_block(1, "Let me look.")
        + tool_block(2, "toolu_rome", "", '{"ci', 'ty": "Ro', 'me"}')
        + tool_block(3, "toolu_oslo", '{"city":', ' "Oslo"}')
        + ending("tool_use")
    )


def translator(*, include_usage: bool = True) -> ChatChunksFromMessages:
    return ChatChunksFromMessages(
        chat_id="chatcmpl-1", created=1_700_000_000, model=ALIAS, include_usage=include_usage
    )


translate = translating(translator)


def translate_every_split(stream: bytes) -> bytes:
    return same_at_every_split(translate, stream)


def test_a_text_stream_becomes_chat_chunks_the_same_however_it_is_split() -> None:
    out = translate_every_split(text_stream())
    chunks = read_chunks(out)
    assert out.endswith(b"data: [DONE]\n\n")
    assert [c["choices"][0]["delta"] if c["choices"] else None for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "Héllo"},
        {"content": " there, "},
        {"content": "wörld 👋"},
        {},
        None,
    ]
    assert chunks[0] == {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": ALIAS,
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": None,
                "finish_reason": None,
            }
        ],
    }
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 38,
        "completion_tokens": 15,
        "total_tokens": 53,
        "prompt_tokens_details": {"cached_tokens": 10},
    }
    completion = assemble(out)
    assert completion.choices[0].message.content == "Héllo there, wörld 👋"


def test_without_include_usage_there_is_no_usage_chunk() -> None:
    chunks = read_chunks(translate([text_stream()], include_usage=False))
    assert all(chunk["choices"] for chunk in chunks)


def test_tool_use_blocks_stream_as_tool_call_deltas_and_thinking_is_dropped() -> None:
    out = translate_every_split(tool_stream())
    deltas = [c["choices"][0]["delta"] for c in read_chunks(out) if c["choices"]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Let me look."},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "toolu_rome",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Ro'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'me"}'}}]},
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "toolu_oslo",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 1, "function": {"arguments": '{"city":'}}]},
        {"tool_calls": [{"index": 1, "function": {"arguments": ' "Oslo"}'}}]},
        {},
    ]
    completion = assemble(out)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls]
    assert calls == [
        ("toolu_rome", "get_weather", '{"city": "Rome"}'),
        ("toolu_oslo", "get_weather", '{"city": "Oslo"}'),
    ]


def test_a_tool_block_without_input_pieces_gets_empty_object_arguments() -> None:
    stream = message_start() + tool_block(0, "toolu_now", "") + ending("tool_use")
    completion = assemble(translate_every_split(stream))
    assert completion.choices[0].message.tool_calls[0].function.arguments == "{}"


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [("max_tokens", "length"), ("stop_sequence", "stop"), ("refusal", "content_filter")],
)
def test_the_stop_reason_is_the_finish_reason(stop_reason: str, finish_reason: str) -> None:
    completion = assemble(translate([text_stream(stop_reason)]))
    assert completion.choices[0].finish_reason == finish_reason


def test_an_error_event_before_content_is_an_in_band_error_the_router_fails_over_on() -> None:
    overloaded = {"type": "overloaded_error", "message": "Overloaded"}
    stream = (
        message_start() + event("ping") + event("error", error=overloaded) + text_block(0, "late")
    )
    out = translate_every_split(stream)
    chunks = read_chunks(out)
    error = {"message": "Overloaded", "type": "service_unavailable", "param": None, "code": 529}
    assert chunks[-1] == {"error": error}
    assert len(chunks) == 2 and b"[DONE]" not in out
    assert stream_start(out) == error


def test_an_invalid_request_error_in_band_keeps_its_type() -> None:
    invalid = {"type": "invalid_request_error", "message": "Bad."}
    chunks = read_chunks(translate([event("error", error=invalid)]))
    assert chunks == [
        {"error": {"message": "Bad.", "type": "invalid_request_error", "param": None, "code": 400}}
    ]


def test_an_error_after_content_ends_the_stream() -> None:
    stream = (
        message_start()
        + text_block(0, "Hi")
        + event("error", error={"type": "api_error", "message": ""})
    )
    out = translate([stream])
    assert stream_start(out) == "relay"
    error = read_chunks(out)[-1]["error"]
    assert (error["type"], error["code"], error["message"]) == (
        "server_error",
        500,
        "The upstream failed mid-stream.",
    )


def test_a_stream_that_ends_without_message_stop_is_completed_by_finish() -> None:
    stream = message_start() + event(
        "content_block_start",
        index=0,
        content_block={"type": "tool_use", "id": "t", "name": "f", "input": {}},
    )
    completion = assemble(translate([stream]))
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.tool_calls[0].function.arguments == "{}"
    empty = assemble(translate([]))
    assert empty.choices[0].message.content == "" and empty.usage.total_tokens == 0


def test_a_broken_stream_sends_nothing_on_finish_and_nothing_follows_the_end() -> None:
    assert not translate([message_start() + text_block(0, "Hi")], complete=False).endswith(
        b"[DONE]\n\n"
    )
    translator = ChatChunksFromMessages(chat_id="c", created=1, model=ALIAS, include_usage=False)
    assert translator.feed(text_stream()).endswith(b"data: [DONE]\n\n")
    assert translator.feed(text_stream()) == b""
    assert translator.finish(True) == b""


def test_crlf_lines_and_data_without_a_space_translate_alike() -> None:
    stream = text_stream()
    assert translate([stream.replace(b"\n", b"\r\n")]) == translate([stream])
    assert translate(
        [stream.replace(b"data: ", b"data:").replace(b"event: ", b"event:")]
    ) == translate([stream])


def test_events_named_only_by_their_data_type_translate_alike() -> None:
    unnamed = b"".join(
        line + b"\n" for line in text_stream().split(b"\n") if not line.startswith(b"event:")
    )
    assert translate([unnamed]) == translate([text_stream()])


def test_data_that_is_not_json_ends_the_stream_with_an_error() -> None:
    chunks = read_chunks(
        translate([message_start() + b"event: content_block_delta\ndata: {nope\n\n"])
    )
    assert chunks[-1]["error"]["code"] == 502


# Streams: round trips through the Messages ingress's event translation.


CHAT_USAGE = {
    "prompt_tokens": 9,
    "completion_tokens": 12,
    "total_tokens": 21,
    "prompt_tokens_details": {"cached_tokens": 4},
}
CHAT_STREAMS = {
    **round_trip_streams(CHAT_USAGE),
    "refusal": [
        chunk({"role": "assistant", "content": ""}),
        chunk({"refusal": "No."}),
        chunk({}, "content_filter"),
        usage_chunk(CHAT_USAGE),
    ],
}


def summary(completion: Any) -> tuple[Any, ...]:
    choice = completion.choices[0]
    message = choice.message
    calls = [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ()]
    text = (message.content or "") + (message.refusal or "")
    return text, calls, choice.finish_reason, completion.usage.model_dump(exclude_none=True)


@pytest.mark.parametrize("name", CHAT_STREAMS)
def test_a_chat_stream_through_messages_events_and_back_keeps_text_calls_finish_and_usage(
    name: str,
) -> None:
    chat_stream = sse(CHAT_STREAMS[name])
    request = MessagesRequest(
        body={"model": UPSTREAM, "max_tokens": 100, "messages": HELLO, "stream": True},
        chat_body={"model": ALIAS, "messages": HELLO},
        stream=True,
    )
    events = MessagesEvents(request, message_id="msg_1")
    anthropic_stream = events.feed(chat_stream) + events.finish(True)
    back = translate_every_split(anthropic_stream)
    assert summary(assemble(back)) == summary(assemble(chat_stream))


def test_an_in_band_chat_error_through_messages_events_and_back_keeps_its_kind() -> None:
    request = MessagesRequest(body={}, chat_body={"model": ALIAS, "messages": HELLO}, stream=True)
    events = MessagesEvents(request, message_id="msg_1")
    error = {"error": {"message": "Overloaded", "type": "server_error", "code": 529}}
    anthropic_stream = events.feed(b"data: " + orjson.dumps(error) + b"\n\n")
    chunks = read_chunks(translate([anthropic_stream]))
    assert chunks == [
        {
            "error": {
                "message": "Overloaded",
                "type": "service_unavailable",
                "param": None,
                "code": 529,
            }
        }
    ]


# Streams: any input.


_EVENT_NAMES = st.sampled_from(
    [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
        "",
    ]
)
_EVENT_DATA = (
    st.fixed_dictionaries(
        {},
        optional={
            "index": st.integers(-1, 3) | _WIRE_JSON,
            "message": st.fixed_dictionaries({}, optional={"usage": _WIRE_JSON}) | _WIRE_JSON,
            "content_block": st.fixed_dictionaries(
                {"type": st.sampled_from(["text", "tool_use", "thinking"])},
                optional={
                    "text": _WIRE_JSON,
                    "id": _WIRE_JSON,
                    "name": _WIRE_JSON,
                    "input": _WIRE_JSON,
                },
            )
            | _WIRE_JSON,
            "delta": st.fixed_dictionaries(
                {},
                optional={
                    "type": st.sampled_from(["text_delta", "input_json_delta", "thinking_delta"])
                    | _WIRE_JSON,
                    "text": _WIRE_JSON,
                    "partial_json": _WIRE_JSON,
                    "stop_reason": _WIRE_JSON,
                },
            )
            | _WIRE_JSON,
            "usage": st.dictionaries(st.sampled_from(list(START_USAGE)), st.integers(-1, 2**64 - 1))
            | _WIRE_JSON,
            "error": _WIRE_JSON,
        },
    )
    | _WIRE_JSON
)


@settings(max_examples=300, deadline=None)
@given(event_streams(_EVENT_NAMES, _EVENT_DATA), st.booleans(), st.booleans())
def test_any_events_give_valid_chunks(stream: bytes, include_usage: bool, complete: bool) -> None:
    read_chunks(translate([stream], include_usage=include_usage, complete=complete))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.binary(max_size=40) | st.sampled_from([b"\n", b"\r\n", b"data: ", b"event: error\n"]),
        max_size=12,
    )
)
def test_any_bytes_never_raise(pieces: list[bytes]) -> None:
    translate(pieces)
    translate(pieces, complete=False)
