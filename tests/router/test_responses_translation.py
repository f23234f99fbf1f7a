"""Responses API <-> Chat Completions translation: golden cases both ways, refusals, fuzzing.

Every golden request is a real Responses request (the OpenAPI `CreateResponse` schema) whose chat
body the router's own Chat Completions parser accepts; every Response produced validates with
the official client's model and the OpenAPI `Response` schema.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.responses import Response

from router.errors import InvalidRequest
from router.responses_ingress import parse_responses
from router.wire.requests import Operation, parse_request
from router.wire.responses.answer import (
    response_from_chat,
    response_object,
    status_from_finish,
    usage_from_chat,
)
from router.wire.responses.request import ResponsesRequest, parse_responses_request
from tests.openapi_schemas import validate

WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": WEATHER_PARAMETERS,
    "strict": True,
}
CHAT_WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": WEATHER_PARAMETERS,
        "strict": True,
    },
}
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}

CONVERSATION = [
    {"type": "message", "role": "user", "content": "Weather in Paris and Rome?"},
    {"type": "reasoning", "id": "rs_1", "summary": []},
    {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [
            {"type": "output_text", "text": "Checking.", "annotations": [], "logprobs": []}
        ],
    },
    {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
        "status": "completed",
    },
    {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
    {
        "type": "function_call_output",
        "call_id": "call_2",
        "output": [{"type": "input_text", "text": "21C"}],
    },
    {"role": "user", "content": "Thanks. And tomorrow?"},
]
CHAT_CONVERSATION = [
    {"role": "user", "content": "Weather in Paris and Rome?"},
    {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            },
            {
                "id": "call_2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": "{}"},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    {"role": "tool", "tool_call_id": "call_2", "content": "21C"},
    {"role": "user", "content": "Thanks. And tomorrow?"},
]

# (name, Responses request body, the Chat Completions body it becomes)
GOLDEN_REQUESTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "plain string input",
        {"model": "gpt-4o-mini", "input": "Hello"},
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]},
    ),
    (
        "instructions and sampling settings",
        {
            "model": "m",
            "instructions": "Be brief.",
            "input": "Hi",
            "temperature": 0.2,
            "top_p": 0.9,
            "max_output_tokens": 256,
            "user": "u1",
            "safety_identifier": "s1",
            "prompt_cache_key": "k1",
            "service_tier": "flex",
            "store": False,
            "metadata": {"team": "search"},
            "truncation": "disabled",
            "include": ["message.output_text.logprobs"],
            "top_logprobs": 2,
        },
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
            ],
            "temperature": 0.2,
            "top_p": 0.9,
            "user": "u1",
            "safety_identifier": "s1",
            "prompt_cache_key": "k1",
            "service_tier": "flex",
            "max_completion_tokens": 256,
        },
    ),
    (
        "multi-part input",
        {
            "model": "m",
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "What is this?"},
                        {
                            "type": "input_image",
                            "image_url": "https://example.com/cat.png",
                            "detail": "low",
                        },
                        {
                            "type": "input_image",
                            "image_url": "data:image/png;base64,AAAA",
                            "detail": "auto",
                        },
                        {
                            "type": "input_file",
                            "filename": "a.pdf",
                            "file_data": "data:application/pdf;base64,AAAA",
                        },
                    ],
                },
                {
                    "type": "message",
                    "role": "developer",
                    "content": [{"type": "input_text", "text": "Terse."}],
                },
            ],
        },
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://example.com/cat.png", "detail": "low"},
                        },
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,AAAA", "detail": "auto"},
                        },
                        {
                            "type": "file",
                            "file": {
                                "file_data": "data:application/pdf;base64,AAAA",
                                "filename": "a.pdf",
                            },
                        },
                    ],
                },
                {"role": "developer", "content": [{"type": "text", "text": "Terse."}]},
            ],
        },
    ),
    (
        "conversation with parallel function calls",
        {
            "model": "m",
            "input": CONVERSATION,
            "tools": [WEATHER_TOOL],
            "tool_choice": "auto",
            "parallel_tool_calls": True,
        },
        {
            "model": "m",
            "messages": CHAT_CONVERSATION,
            "tools": [CHAT_WEATHER_TOOL],
            "tool_choice": "auto",
            "parallel_tool_calls": True,
        },
    ),
    (
        "tools and a forced function",
        {
            "model": "m",
            "input": "Weather in Oslo?",
            "tools": [
                WEATHER_TOOL,
                {"type": "function", "name": "noop", "parameters": None, "strict": None},
            ],
            "tool_choice": {"type": "function", "name": "get_weather"},
        },
        {
            "model": "m",
            "messages": [{"role": "user", "content": "Weather in Oslo?"}],
            "tools": [CHAT_WEATHER_TOOL, {"type": "function", "function": {"name": "noop"}}],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        },
    ),
    (
        "structured output, verbosity and reasoning effort",
        {
            "model": "m",
            "input": "Answer in JSON.",
            "text": {
                "format": {
                    "type": "json_schema",
                    "name": "answer",
                    "schema": ANSWER_SCHEMA,
                    "strict": True,
                    "description": "One answer.",
                },
                "verbosity": "low",
            },
            "reasoning": {"effort": "low", "summary": "auto"},
        },
        {
            "model": "m",
            "messages": [{"role": "user", "content": "Answer in JSON."}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "answer",
                    "schema": ANSWER_SCHEMA,
                    "strict": True,
                    "description": "One answer.",
                },
            },
            "verbosity": "low",
            "reasoning_effort": "low",
        },
    ),
    (
        "json mode",
        {"model": "m", "input": "JSON please", "text": {"format": {"type": "json_object"}}},
        {
            "model": "m",
            "messages": [{"role": "user", "content": "JSON please"}],
            "response_format": {"type": "json_object"},
        },
    ),
    (
        "assistant refusal in history, plain text format",
        {
            "model": "m",
            "input": [
                {"role": "user", "content": "Do something bad."},
                {
                    "type": "message",
                    "id": "msg_2",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "refusal", "refusal": "I can't help with that."}],
                },
                {"role": "user", "content": "OK, something good."},
            ],
            "text": {"format": {"type": "text"}},
        },
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "Do something bad."},
                {"role": "assistant", "content": None, "refusal": "I can't help with that."},
                {"role": "user", "content": "OK, something good."},
            ],
        },
    ),
    (
        "streaming asks for usage",
        {"model": "m", "input": "Hi", "stream": True, "max_output_tokens": 16},
        {
            "model": "m",
            "messages": [{"role": "user", "content": "Hi"}],
            "max_completion_tokens": 16,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ),
]


@pytest.mark.parametrize(
    ("name", "body", "chat"), GOLDEN_REQUESTS, ids=[c[0] for c in GOLDEN_REQUESTS]
)
def test_golden_request_becomes_a_chat_body_the_router_accepts(
    name: str, body: dict[str, Any], chat: dict[str, Any]
) -> None:
    _validate_create_response(body)
    request = parse_responses_request(orjson.dumps(body))
    assert request.chat_body == chat
    assert request.body == body
    assert request.stream is bool(body.get("stream"))
    parsed = parse_request(Operation.CHAT, orjson.dumps(request.chat_body))
    assert parsed.model == body["model"]
    assert parsed.stream is request.stream
    assert parsed.include_usage is request.stream


def _validate_create_response(body: dict[str, Any]) -> None:
    """`validate("CreateResponse", body)`, except for one flaw of the vendored spec: `InputItem`
    is a `oneOf` in which a user, system or developer message with a list of parts (the shape the
    official client sends, `EasyInputMessageParam`) matches both `EasyInputMessage` and `Item`'s
    `InputMessage`, so no such message validates. Those messages are validated against
    `EasyInputMessage` alone and the rest of the body against `CreateResponse`."""
    items = body["input"] if isinstance(body["input"], list) else []
    ambiguous = [
        item
        for item in items
        if item.get("role") in ("user", "system", "developer") and isinstance(item["content"], list)
    ]
    for item in ambiguous:
        validate("EasyInputMessage", item)
    if ambiguous:
        body = {**body, "input": [item for item in items if item not in ambiguous]}
    validate("CreateResponse", body)


def _counter() -> Callable[[str], str]:
    numbers = itertools.count(1)
    return lambda prefix: f"{prefix}_{next(numbers)}"


def _chat_completion(message: dict[str, Any], finish_reason: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", **message},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
        **extra,
    }


def _answer(body: dict[str, Any], chat: dict[str, Any]) -> tuple[dict[str, Any], Response]:
    request = parse_responses_request(orjson.dumps(body))
    response = response_from_chat(request, chat, response_id="resp_1", new_id=_counter())
    validate("Response", response)
    return response, Response.model_validate(response)


def test_text_answer_becomes_a_completed_message() -> None:
    body = {"model": "gpt-4o-mini", "instructions": "Be brief.", "input": "Hello"}
    response, model = _answer(body, _chat_completion({"content": "Hi there."}, "stop"))
    assert model.output_text == "Hi there."
    assert response["output"] == [
        {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": "Hi there.", "annotations": [], "logprobs": []}
            ],
        }
    ]
    assert response["id"] == "resp_1" and response["object"] == "response"
    assert (response["status"], response["incomplete_details"]) == ("completed", None)
    assert (response["created_at"], response["model"]) == (1_700_000_000, "gpt-4o-mini-2024-07-18")
    assert response["instructions"] == "Be brief."
    assert response["usage"] == {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 17,
    }
    # OpenAI's defaults for what the request left out.
    assert response["parallel_tool_calls"] is True and response["store"] is True
    assert response["text"] == {"format": {"type": "text"}}
    assert (response["truncation"], response["metadata"], response["tools"]) == ("disabled", {}, [])
    assert (response["tool_choice"], response["previous_response_id"]) == ("auto", None)
    assert response["error"] is None


def test_tool_calls_become_function_call_items() -> None:
    body = {
        "model": "m",
        "input": CONVERSATION,
        "tools": [WEATHER_TOOL],
        "parallel_tool_calls": False,
    }
    calls: list[dict[str, Any]] = [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
        },
        {
            "id": "call_b",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
        },
    ]
    response, model = _answer(
        body, _chat_completion({"content": None, "tool_calls": calls}, "tool_calls")
    )
    assert response["status"] == "completed"
    assert response["output"] == [
        {
            "type": "function_call",
            "id": f"fc_{n}",
            "call_id": call["id"],
            "name": "get_weather",
            "arguments": call["function"]["arguments"],
            "status": "completed",
        }
        for n, call in enumerate(calls, start=1)
    ]
    assert model.output_text == ""
    assert response["tools"] == [WEATHER_TOOL]
    assert response["parallel_tool_calls"] is False


def test_text_before_tool_calls_comes_first() -> None:
    call = {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    tool = {"type": "function", "name": "f", "parameters": {"type": "object"}}
    response, _ = _answer(
        {
            "model": "m",
            "input": "go",
            "tools": [tool],
            "tool_choice": {"type": "function", "name": "f"},
        },
        _chat_completion({"content": "Calling f.", "tool_calls": [call]}, "tool_calls"),
    )
    assert [item["type"] for item in response["output"]] == ["message", "function_call"]
    assert [item["id"] for item in response["output"]] == ["msg_1", "fc_2"]
    assert response["tools"] == [{**tool, "strict": None}]
    assert response["tool_choice"] == {"type": "function", "name": "f"}


@pytest.mark.parametrize(
    ("finish_reason", "status", "details"),
    [
        ("stop", "completed", None),
        ("tool_calls", "completed", None),
        (None, "completed", None),
        ("length", "incomplete", {"reason": "max_output_tokens"}),
        ("content_filter", "incomplete", {"reason": "content_filter"}),
    ],
)
def test_stop_reasons_map_to_status(
    finish_reason: str | None, status: str, details: dict[str, Any] | None
) -> None:
    assert status_from_finish(finish_reason) == (status, details)


def test_length_answer_is_incomplete_with_its_partial_text() -> None:
    body = {"model": "m", "input": "Count to 100.", "max_output_tokens": 16}
    response, model = _answer(body, _chat_completion({"content": "1, 2, 3"}, "length"))
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert response["max_output_tokens"] == 16
    assert model.output_text == "1, 2, 3"


def test_content_filter_answer_is_incomplete_without_output() -> None:
    response, model = _answer(
        {"model": "m", "input": "x"}, _chat_completion({"content": None}, "content_filter")
    )
    assert (response["status"], response["output"]) == ("incomplete", [])
    assert response["incomplete_details"] == {"reason": "content_filter"}
    assert model.output_text == ""


def test_refusal_becomes_a_refusal_part() -> None:
    response, model = _answer(
        {"model": "m", "input": "Do something bad."},
        _chat_completion({"content": None, "refusal": "I can't help with that."}, "stop"),
    )
    assert response["output"][0]["content"] == [
        {"type": "refusal", "refusal": "I can't help with that."}
    ]
    assert model.output_text == ""


def test_usage_keeps_cached_and_reasoning_tokens() -> None:
    usage = {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0},
    }
    chat = {**_chat_completion({"content": "42"}, "stop"), "usage": usage}
    response, model = _answer(
        {"model": "o4-mini", "input": "?", "reasoning": {"effort": "high"}}, chat
    )
    assert response["usage"] == {
        "input_tokens": 2006,
        "input_tokens_details": {"cached_tokens": 1920, "cache_write_tokens": 0},
        "output_tokens": 300,
        "output_tokens_details": {"reasoning_tokens": 192},
        "total_tokens": 2306,
    }
    assert model.usage is not None and model.usage.output_tokens_details.reasoning_tokens == 192
    assert response["reasoning"] == {"effort": "high", "summary": None}
    assert usage_from_chat(None) is None


def test_structured_output_settings_are_echoed() -> None:
    body = GOLDEN_REQUESTS[5][1]
    chat = _chat_completion({"content": '{"answer":"yes"}'}, "stop", service_tier="default")
    response, model = _answer(body, chat)
    assert response["text"] == body["text"]
    assert response["service_tier"] == "default"
    assert orjson.loads(model.output_text) == {"answer": "yes"}


def test_settings_are_echoed_as_sent() -> None:
    body = GOLDEN_REQUESTS[1][1]
    response, model = _answer(body, _chat_completion({"content": "Hi."}, "stop"))
    for name in ("temperature", "top_p", "user", "safety_identifier", "prompt_cache_key"):
        assert response[name] == body[name]
    assert (response["store"], response["metadata"], response["top_logprobs"]) == (
        False,
        {"team": "search"},
        2,
    )
    assert response["service_tier"] == "flex"
    assert model.instructions == "Be brief."


@pytest.mark.parametrize("status", ["in_progress", "completed", "failed"])
def test_response_object_is_valid_before_and_after_output(status: str) -> None:
    request = parse_responses_request(orjson.dumps(GOLDEN_REQUESTS[3][1]))
    error = {"code": "server_error", "message": "upstream failed"} if status == "failed" else None
    response = response_object(
        request,
        response_id="resp_2",
        created_at=1,
        model="m",
        status=status,
        output=[],
        usage=None,
        error=error,
    )
    validate("Response", response)
    assert Response.model_validate(response).status == status


def _refused(body: dict[str, Any]) -> bytes:
    return orjson.dumps({"model": "m", "input": "hi", **body})


USER_IMAGE_BY_FILE = [
    {
        "role": "user",
        "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "file_id": "file-123", "detail": "auto"},
        ],
    }
]
REFUSED: list[tuple[bytes, str | None]] = [
    (b"", None),
    (b"{not json", None),
    (b"[]", None),
    (b'{"model":"m","model":"n","input":"hi"}', "model"),
    (orjson.dumps({"input": "hi"}), "model"),
    (_refused({"model": ""}), "model"),
    (orjson.dumps({"model": "m"}), "input"),
    (_refused({"input": []}), "input"),
    (_refused({"input": [{"type": "reasoning", "id": "rs_1", "summary": []}]}), "input"),
    (_refused({"previous_response_id": 7}), "previous_response_id"),
    (_refused({"previous_response_id": ""}), "previous_response_id"),
    (_refused({"previous_response_id": "resp_" + "0" * 300}), "previous_response_id"),
    (_refused({"conversation": "conv_1"}), "conversation"),
    (_refused({"background": True}), "background"),
    (_refused({"prompt": {"id": "pmpt_1"}}), "prompt"),
    (_refused({"frequency_penalty": 1}), "frequency_penalty"),
    (_refused({"tools": [WEATHER_TOOL, {"type": "web_search"}]}), "tools[1].type"),
    (_refused({"tools": [{"type": "mcp", "server_label": "x"}]}), "tools[0].type"),
    (_refused({"tools": [{**WEATHER_TOOL, "defer_loading": True}]}), "tools[0].defer_loading"),
    (_refused({"tools": [{"type": "function", "parameters": {}}]}), "tools[0].name"),
    (_refused({"tool_choice": {"type": "web_search_preview"}}), "tool_choice"),
    (_refused({"tool_choice": "sometimes"}), "tool_choice"),
    (
        _refused({"input": [*CONVERSATION[:2], {"type": "item_reference", "id": "msg_0"}]}),
        "input[2].type",
    ),
    (_refused({"input": [{"type": "computer_call_output", "call_id": "c"}]}), "input[0].type"),
    (_refused({"input": [{"content": "no role"}]}), "input[0].type"),
    (_refused({"input": [{"role": "tool", "content": "x"}]}), "input[0].role"),
    (_refused({"input": USER_IMAGE_BY_FILE}), "input[0].content[1].file_id"),
    (
        _refused({"input": [{"role": "user", "content": [{"type": "output_text", "text": "x"}]}]}),
        "input[0].content[0].type",
    ),
    (
        _refused(
            {"input": [{"role": "system", "content": [{"type": "input_image", "image_url": "u"}]}]}
        ),
        "input[0].content[0].type",
    ),
    (
        _refused({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}),
        "input[0].call_id",
    ),
    (
        _refused(
            {
                "input": [
                    {
                        "type": "function_call_output",
                        "call_id": "c",
                        "output": [{"type": "input_image", "image_url": "u"}],
                    }
                ]
            }
        ),
        "input[0].output[0].type",
    ),
    (_refused({"temperature": 2.5}), "temperature"),
    (_refused({"top_p": 1.5}), "top_p"),
    (_refused({"max_output_tokens": 8}), "max_output_tokens"),
    (_refused({"max_output_tokens": 2**21}), "max_output_tokens"),
    (_refused({"max_output_tokens": True}), "max_output_tokens"),
    (_refused({"stream": "yes"}), "stream"),
    (_refused({"parallel_tool_calls": 1}), "parallel_tool_calls"),
    (_refused({"text": {"format": {"type": "xml"}}}), "text.format.type"),
    (_refused({"text": {"format": {"type": "json_schema", "name": "a"}}}), "text.format.schema"),
    (_refused({"reasoning": {"effort": "extreme"}}), "reasoning.effort"),
    (_refused({"truncation": "sometimes"}), "truncation"),
    (_refused({"metadata": {"k": 1}}), "metadata"),
    (_refused({"include": [1]}), "include[0]"),
    (_refused({"top_logprobs": 21}), "top_logprobs"),
]


@pytest.mark.parametrize(("raw", "param"), REFUSED)
def test_refused_request_names_the_param(raw: bytes, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_responses_request(raw)
    assert caught.value.param == param
    assert caught.value.status == 400


def test_stateful_fields_say_why() -> None:
    with pytest.raises(InvalidRequest, match="keeps no conversations; send the whole conversation"):
        parse_responses_request(_refused({"conversation": "conv_1"}))


def test_a_continued_response_is_taken_and_its_chat_form_is_its_own_input() -> None:
    """Where it may go (its producer alone) is the routing's; the parse only keeps it."""
    request = parse_responses_request(_refused({"previous_response_id": "resp_0"}))
    assert request.body["previous_response_id"] == "resp_0"
    assert request.chat_body["messages"] == [{"role": "user", "content": "hi"}]
    assert "previous_response_id" not in request.chat_body


def test_null_settings_read_as_absent() -> None:
    nulls = dict.fromkeys(
        (
            "instructions",
            "temperature",
            "tools",
            "tool_choice",
            "text",
            "previous_response_id",
            "background",
            "store",
            "metadata",
            "parallel_tool_calls",
            "max_output_tokens",
        ),
    )
    request = parse_responses_request(_refused(nulls))
    assert request.chat_body == {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    response = response_object(
        request, response_id="r", created_at=0, model="m", status="completed", output=[], usage=None
    )
    validate("Response", response)
    Response.model_validate(response)


# Arbitrary JSON, and near-valid values that mostly pass the outer checks so that the inner
# ones (items, parts, tools) are reached; each field mixes the two.
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "auto", "function", "user", "assistant", "message", "text"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["type", "role", "content", "text", "name"]), children, max_size=3
        )
    ),
    max_leaves=12,
)
_TEXT = st.text(max_size=4)


def _mostly(*values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """One of `values` nine times in ten, else any JSON."""
    plausible = st.one_of(*values)
    return st.integers(0, 9).flatmap(lambda n: _JSON if n == 0 else plausible)


_PART = st.fixed_dictionaries(
    {
        "type": _mostly(
            st.sampled_from(
                ["input_text", "input_image", "input_file", "output_text", "refusal", "x"]
            )
        )
    },
    optional={
        name: _mostly(_TEXT)
        for name in ("text", "refusal", "image_url", "file_id", "file_data", "filename", "file_url")
    }
    | {"detail": _mostly(st.sampled_from(["low", "high", "auto", "original"]))},
)
_CONTENT = _mostly(_TEXT, st.lists(_PART, max_size=3))
_ITEM = st.fixed_dictionaries(
    {},
    optional={
        "type": _mostly(
            st.sampled_from(
                ["message", "function_call", "function_call_output", "reasoning", "item_reference"]
            )
        ),
        "role": _mostly(st.sampled_from(["user", "system", "developer", "assistant", "tool"])),
        "content": _CONTENT,
        "call_id": _mostly(_TEXT),
        "name": _mostly(_TEXT),
        "arguments": _mostly(_TEXT),
        "output": _CONTENT,
    },
)
_TOOL = st.fixed_dictionaries(
    {"type": _mostly(st.sampled_from(["function", "web_search"]))},
    optional={
        "name": _mostly(_TEXT),
        "description": _mostly(_TEXT),
        "parameters": _mostly(st.just({"type": "object"})),
        "strict": _mostly(st.booleans()),
    },
)
_FORMAT = st.fixed_dictionaries(
    {"type": _mostly(st.sampled_from(["text", "json_object", "json_schema"]))},
    optional={"name": _mostly(_TEXT), "schema": _mostly(st.just({})), "strict": _JSON},
)
_SETTINGS: dict[str, st.SearchStrategy[Any]] = {
    "instructions": _mostly(_TEXT),
    "tools": _mostly(st.lists(_TOOL, max_size=3)),
    "tool_choice": _mostly(
        st.sampled_from(["auto", "none", "required", {"type": "function", "name": "f"}])
    ),
    "text": _mostly(
        st.fixed_dictionaries(
            {}, optional={"format": _mostly(_FORMAT), "verbosity": _mostly(st.just("low"))}
        )
    ),
    "reasoning": _mostly(st.fixed_dictionaries({}, optional={"effort": _mostly(st.just("low"))})),
    "temperature": _mostly(st.floats(0, 2)),
    "top_p": _mostly(st.floats(0, 1)),
    "max_output_tokens": _mostly(st.integers(0, 2**21)),
    "top_logprobs": _mostly(st.integers(-1, 21)),
    "max_tool_calls": _mostly(st.integers(-1, 3)),
    "stream": _mostly(st.booleans()),
    "stream_options": _mostly(st.just({"include_obfuscation": False})),
    "store": _mostly(st.booleans()),
    "parallel_tool_calls": _mostly(st.booleans()),
    "metadata": _mostly(st.dictionaries(_TEXT, _TEXT, max_size=2)),
    "truncation": _mostly(st.sampled_from(["auto", "disabled"])),
    "include": _mostly(st.lists(_TEXT, max_size=2)),
    "service_tier": _mostly(st.sampled_from(["auto", "flex"])),
    "user": _mostly(_TEXT),
    "safety_identifier": _mostly(_TEXT),
    "prompt_cache_key": _mostly(_TEXT),
    "background": st.one_of(st.none(), st.booleans()),
}
_BODY = st.fixed_dictionaries(
    {"model": _mostly(st.just("m")), "input": _mostly(_TEXT, st.lists(_ITEM, max_size=5))},
    optional=_SETTINGS,
)
_ANY_BODY = st.dictionaries(st.sampled_from([*_SETTINGS, "model", "input", "x"]), _JSON, max_size=6)


@settings(max_examples=500, deadline=None)
@given(st.one_of(_BODY, _ANY_BODY))
def test_any_json_gives_a_request_or_a_400(body: dict[str, Any]) -> None:
    try:  # the ingress: what no translation carries left out of the chat form, the body kept
        parsed, translation = parse_responses(orjson.dumps(body))
        assert translation.native({}).body == body
        assert parsed.operation is Operation.CHAT
    except InvalidRequest:
        pass
    try:
        request = parse_responses_request(orjson.dumps(body))
    except InvalidRequest:
        return
    assert isinstance(request, ResponsesRequest)
    parse_request(Operation.CHAT, orjson.dumps(request.chat_body))
    Response.model_validate(
        response_object(
            request,
            response_id="r",
            created_at=0,
            model="m",
            status="completed",
            output=[],
            usage=None,
        )
    )
