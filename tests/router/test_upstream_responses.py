"""OpenAI Responses answers translated back to Chat Completions, for endpoints that speak the
Responses API (`router.wire.upstream_responses`): JSON answers, failed answers and streams.

Every Response and stream event fed in is checked against the official `openai` client's types
(`Response`, `ResponseStreamEvent`) and the vendored OpenAPI schema, and the realistic streams
come from the simulated cloud (`loadtest.mock_cloud.wire_responses`) and from the router's own
chat -> Responses translation (`router.wire.responses.events`). Every chat.completion produced
validates with `openai.types.chat.ChatCompletion`, every chunk with `ChatCompletionChunk`, with
no field those models do not know. The pair Responses <-> Messages goes through chat both ways.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from anthropic.types import Message
from hypothesis import given, settings
from hypothesis import strategies as st
from openai._streaming import SSEDecoder
from openai.types.chat import ChatCompletion
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from loadtest.mock_cloud.answers import NativeAnswer, tool_argument_pieces
from loadtest.mock_cloud.parsing_responses import ResponsesRequest as MockResponsesRequest
from loadtest.mock_cloud.wire import TOOL_CALL_ID, TOOL_NAME
from loadtest.mock_cloud.wire_responses import ResponsesStream, response_body
from router.wire.messages.answer import message_from_chat
from router.wire.messages.request import parse_messages_request
from router.wire.responses.answer import response_from_chat
from router.wire.responses.request import parse_responses_request
from router.wire.stream_start import stream_start
from router.wire.upstream_messages.answer import chat_from_message
from router.wire.upstream_responses.answer import chat_from_response, openai_error_of_response
from router.wire.upstream_responses.stream import ChatChunksFromResponses
from tests.chat_streams import (
    assemble,
    chunk,
    numbered_responses_events,
    read_chunks,
    round_trip_streams,
    same_at_every_split,
    sse,
    translating,
    usage_chunk,
)
from tests.json_strategies import WIRE_INTEGERS, json_values
from tests.known_fields import assert_known_fields_only
from tests.openapi_schemas import validate
from tests.sse_events import event_streams, sse_event

ALIAS = "assistant-large"
UPSTREAM = "gpt-4.1-mini"
CREATED = 1_700_000_000
STREAM_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


# Answers.


RESPONSE_USAGE = {
    "input_tokens": 120,
    "input_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 0},
    "output_tokens": 40,
    "output_tokens_details": {"reasoning_tokens": 30},
    "total_tokens": 160,
}


def response(output: list[dict[str, Any]], status: str = "completed", **fields: Any) -> Any:
    """A Response as OpenAI sends it, checked by the client's type and the OpenAPI schema."""
    r = {
        "id": "resp_1",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": UPSTREAM,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "metadata": {},
        "usage": RESPONSE_USAGE,
        **fields,
    }
    if r["usage"] is None:  # OpenAI sends null, which its OpenAPI schema does not allow
        del r["usage"]
    Response.model_validate(r)
    validate("Response", r)
    return r


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def refusal_part(text: str) -> dict[str, Any]:
    return {"type": "refusal", "refusal": text}


def message_item(*parts: dict[str, Any], item_id: str = "msg_1") -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id,
        "status": "completed",
        "role": "assistant",
        "content": list(parts),
    }


def call_item(call_id: str, arguments: str, name: str = "get_weather") -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{call_id}",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


REASONING_ITEM = {
    "type": "reasoning",
    "id": "rs_1",
    "summary": [{"type": "summary_text", "text": "The user wants the weather."}],
    "content": [{"type": "reasoning_text", "text": "They asked for Rome."}],
    "encrypted_content": None,
}


def chat_answer(r: Any) -> dict[str, Any]:
    chat = chat_from_response(r, chat_id="chatcmpl-1", created=CREATED)
    assert_known_fields_only(ChatCompletion.model_validate(chat))
    validate("CreateChatCompletionResponse", chat)
    return chat


def chat_message(r: Any) -> dict[str, Any]:
    message: dict[str, Any] = chat_answer(r)["choices"][0]["message"]
    return message


def test_a_text_response_becomes_a_chat_completion() -> None:
    assert chat_answer(response([message_item(text_part("Hello there."))])) == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": CREATED,
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
            "completion_tokens": 40,
            "total_tokens": 160,
            "prompt_tokens_details": {"cached_tokens": 100},
            "completion_tokens_details": {"reasoning_tokens": 30},
        },
    }


def test_the_output_text_parts_of_every_message_join_into_the_content() -> None:
    r = response(
        [
            message_item(text_part("Héllo"), text_part(" there, ")),
            message_item(text_part("wörld 👋"), item_id="msg_2"),
        ]
    )
    assert chat_message(r) == {
        "role": "assistant",
        "content": "Héllo there, wörld 👋",
        "refusal": None,
    }


def test_a_refusal_part_becomes_the_refusal_and_leaves_no_content() -> None:
    r = response([message_item(refusal_part("I can't help with that."))])
    choice = chat_answer(r)["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": None,
        "refusal": "I can't help with that.",
    }
    assert choice["finish_reason"] == "stop"


def test_a_function_call_becomes_a_tool_call_with_its_call_id() -> None:
    choice = chat_answer(response([call_item("call_rome", '{"city":"Rome"}')]))["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [
            {
                "id": "call_rome",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
            }
        ],
    }


def test_several_function_calls_after_text_become_tool_calls_in_order() -> None:
    r = response(
        [
            message_item(text_part("Let me look.")),
            call_item("call_rome", '{"city":"Rome"}'),
            call_item("call_oslo", '{"city": "Oslo"}'),
            call_item("call_now", "{}", name="now"),
        ]
    )
    message = chat_message(r)
    assert message["content"] == "Let me look."
    calls = [
        (c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message["tool_calls"]
    ]
    assert calls == [
        ("call_rome", "get_weather", '{"city":"Rome"}'),
        ("call_oslo", "get_weather", '{"city": "Oslo"}'),
        ("call_now", "now", "{}"),
    ]


def test_reasoning_items_are_dropped() -> None:
    with_reasoning = chat_answer(response([REASONING_ITEM, message_item(text_part("Sunny."))]))
    without = chat_answer(response([message_item(text_part("Sunny."))]))
    assert with_reasoning == without
    assert with_reasoning["choices"][0]["message"]["content"] == "Sunny."


@pytest.mark.parametrize(
    ("reason", "finish_reason"),
    [("max_output_tokens", "length"), ("content_filter", "content_filter"), (None, "length")],
)
def test_an_incomplete_response_says_why_it_was_cut(reason: str | None, finish_reason: str) -> None:
    r = response(
        [message_item(text_part("Cut sho"))],
        "incomplete",
        incomplete_details=None if reason is None else {"reason": reason},
    )
    assert chat_answer(r)["choices"][0]["finish_reason"] == finish_reason


def test_a_function_call_cut_at_the_cap_is_a_length_finish() -> None:
    r = response(
        [call_item("call_rome", '{"ci')],
        "incomplete",
        incomplete_details={"reason": "max_output_tokens"},
    )
    assert chat_answer(r)["choices"][0]["finish_reason"] == "length"


def test_usage_keeps_the_cached_and_the_reasoning_tokens() -> None:
    usage = {
        "input_tokens": 2048,
        "input_tokens_details": {"cached_tokens": 1920, "cache_write_tokens": 0},
        "output_tokens": 300,
        "output_tokens_details": {"reasoning_tokens": 256},
        "total_tokens": 2348,
    }
    assert chat_answer(response([], usage=usage))["usage"] == {
        "prompt_tokens": 2048,
        "completion_tokens": 300,
        "total_tokens": 2348,
        "prompt_tokens_details": {"cached_tokens": 1920},
        "completion_tokens_details": {"reasoning_tokens": 256},
    }


def test_a_response_of_another_shape_reads_as_empty() -> None:
    odd: Any = {"output": [{"type": "function_call", "arguments": {"a": 1}}, 3], "model": 3}
    message = chat_message(odd)
    assert message["tool_calls"] == [
        {"id": "call_chatcmpl-1_0", "type": "function", "function": {"name": "", "arguments": "{}"}}
    ]
    assert chat_answer({})["usage"]["total_tokens"] == 0


# Failed answers.


@pytest.mark.parametrize(
    ("code", "status", "openai_type"),
    [
        ("server_error", 500, "server_error"),
        ("rate_limit_exceeded", 429, "requests"),
        ("vector_store_timeout", 504, "timeout"),
        ("invalid_prompt", 400, "invalid_request_error"),
        ("image_too_large", 400, "invalid_request_error"),
        ("bio_policy", 400, "invalid_request_error"),
        ("data_residency_mismatch", 403, "permission_error"),
    ],
)
def test_a_failed_response_gives_the_openai_error_to_relay(
    code: str, status: int, openai_type: str
) -> None:
    r = response([], "failed", error={"code": code, "message": "Details."}, usage=None)
    assert openai_error_of_response(r) == {
        "message": "Details.",
        "type": openai_type,
        "param": None,
        "code": status,
    }
    # Translating it raises nothing: an empty answer, which the caller does not relay.
    assert chat_message(r) == {"role": "assistant", "content": "", "refusal": None}


def test_a_response_that_did_not_fail_has_no_error() -> None:
    assert openai_error_of_response(response([message_item(text_part("Hi"))])) is None
    assert openai_error_of_response(response([], "incomplete")) is None


def test_a_failed_response_without_its_error_is_the_upstreams_failure() -> None:
    assert openai_error_of_response({"status": "failed", "error": None}) == {
        "message": "The upstream failed to generate a response.",
        "type": "server_error",
        "param": None,
        "code": 500,
    }
    unknown = {"status": "failed", "error": {"code": "brand_new", "message": "", "param": "input"}}
    assert openai_error_of_response(unknown) == {
        "message": "The upstream failed to generate a response.",
        "type": "server_error",
        "param": "input",
        "code": 500,
    }


# Answers of the simulated cloud.


def mock_request(**body: Any) -> MockResponsesRequest:
    return MockResponsesRequest(
        body={"model": UPSTREAM, "input": "hi", **body},
        model=UPSTREAM,
        stream=bool(body.get("stream")),
        store=False,
        previous_response_id=None,
        max_output_tokens=body.get("max_output_tokens"),
        input_tokens=25,
        tools=(),
    )


TEXT_ANSWER = NativeAnswer(
    "text", "Héllo there, wörld 👋", ("Héllo", " there, ", "wörld 👋"), "end"
)
REFUSAL_ANSWER = NativeAnswer("refusal", "I can't.", ("I ", "can't."), "end")
CUT_ANSWER = NativeAnswer("text", "Cut sho", ("Cut", " sho"), "cap")
FILTERED_ANSWER = NativeAnswer("content_filter", "Hm", ("Hm",), "end")
TOOL_ANSWER = NativeAnswer("tool_call", "Rome", tool_argument_pieces(("Ro", "me")), "end")


def test_the_simulated_clouds_json_answers_translate() -> None:
    def translated(answer: NativeAnswer) -> dict[str, Any]:
        body = response_body(
            mock_request(),
            answer,
            response_id="resp_1",
            item_id="item_1",
            created_at=CREATED,
            completed_at=CREATED + 1,
            input_tokens=25,
            cached_tokens=10,
        )
        Response.model_validate(body)
        return chat_answer(body)

    text = translated(TEXT_ANSWER)
    assert text["choices"][0]["message"]["content"] == "Héllo there, wörld 👋"
    assert text["usage"] == {
        "prompt_tokens": 25,
        "completion_tokens": 3,
        "total_tokens": 28,
        "prompt_tokens_details": {"cached_tokens": 10},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    tool = translated(TOOL_ANSWER)["choices"][0]
    assert tool["finish_reason"] == "tool_calls"
    assert tool["message"]["tool_calls"] == [
        {
            "id": TOOL_CALL_ID,
            "type": "function",
            "function": {"name": TOOL_NAME, "arguments": '{"q":"Rome"}'},
        }
    ]
    assert translated(CUT_ANSWER)["choices"][0]["finish_reason"] == "length"
    assert translated(FILTERED_ANSWER)["choices"][0]["finish_reason"] == "content_filter"
    assert translated(REFUSAL_ANSWER)["choices"][0]["message"]["refusal"] == "I can't."


# Any JSON.


# JSON as an upstream sends it through orjson, as the router reads it.
_JSON = json_values(WIRE_INTEGERS, allow_infinity=True)
_PART = st.fixed_dictionaries(
    {"type": st.sampled_from(["output_text", "refusal", "x"])},
    optional={"text": _JSON, "refusal": _JSON},
)
_ITEM = st.fixed_dictionaries(
    {"type": st.sampled_from(["message", "function_call", "reasoning", "x"])},
    optional={
        "content": st.lists(_PART | _JSON, max_size=3) | _JSON,
        "call_id": _JSON,
        "name": _JSON,
        "arguments": _JSON,
    },
)
_RESPONSE_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "output": st.lists(_ITEM | _JSON, max_size=4) | _JSON,
        "status": st.sampled_from(["completed", "incomplete", "failed"]) | _JSON,
        "incomplete_details": st.fixed_dictionaries({"reason": _JSON}) | _JSON,
        "error": st.fixed_dictionaries({"code": _JSON, "message": _JSON}) | _JSON,
        "model": _JSON,
        "usage": st.dictionaries(
            st.sampled_from([*RESPONSE_USAGE]), st.integers(-5, 2**64 - 1) | _JSON
        )
        | _JSON,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_RESPONSE_LIKE, _JSON))
def test_any_json_gives_a_valid_chat_completion_and_error(r: Any) -> None:
    orjson.dumps(chat_answer(r))
    error = openai_error_of_response(r)
    if error is not None:
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["code"], int) and 400 <= error["code"] < 600


# Streams.


def event(kind: str, **fields: Any) -> bytes:
    """One Responses stream event, checked against the client's event types."""
    data = {"type": kind, "sequence_number": 0, **fields}
    STREAM_EVENT.validate_python(data)
    return sse_event(kind, data)


def translator(*, include_usage: bool = True) -> ChatChunksFromResponses:
    return ChatChunksFromResponses(
        chat_id="chatcmpl-1", created=CREATED, model=ALIAS, include_usage=include_usage
    )


translate = translating(translator)


def read_events(stream: bytes) -> list[dict[str, Any]]:
    """A Responses stream's events, each valid in the client's types."""
    events = []
    for decoded in SSEDecoder().iter_bytes(iter([stream])):
        data = decoded.json()
        STREAM_EVENT.validate_python(data)
        events.append(data)
    return events


def deltas(out: bytes) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in read_chunks(out) if c.get("choices")]


def mock_stream(answer: NativeAnswer, *, error_status: int | None = None) -> bytes:
    """The simulated cloud's stream of an answer, as `streaming.write_events` sends it: with an
    error, after the first token (or at once, `error_status` negative: before any content)."""
    stream = ResponsesStream(
        mock_request(stream=True),
        answer,
        response_id="resp_1",
        item_id="item_1",
        created_at=CREATED,
        input_tokens=25,
        now=lambda: CREATED + 1.0,
        cached_tokens=10,
    )
    if error_status is not None and error_status < 0:
        return stream.head() + stream.error(-error_status)
    body = stream.head() + stream.opening() + stream.token(0)
    if error_status is not None:
        body += stream.error(error_status)
    else:
        body += b"".join(stream.token(i) for i in range(1, stream.tokens)) + stream.closing()
    read_events(body)
    return body


MOCK_USAGE = {
    "prompt_tokens": 25,
    "completion_tokens": 3,
    "total_tokens": 28,
    "prompt_tokens_details": {"cached_tokens": 10},
    "completion_tokens_details": {"reasoning_tokens": 0},
}


def test_a_text_stream_becomes_chat_chunks_the_same_however_it_is_split() -> None:
    out = same_at_every_split(translate, mock_stream(TEXT_ANSWER))
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
        "created": CREATED,
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
    assert chunks[-1]["usage"] == MOCK_USAGE
    assert assemble(out).choices[0].message.content == "Héllo there, wörld 👋"


def test_a_function_call_stream_becomes_tool_call_deltas_the_same_however_it_is_split() -> None:
    out = same_at_every_split(translate, mock_stream(TOOL_ANSWER))
    start = {
        "index": 0,
        "id": TOOL_CALL_ID,
        "type": "function",
        "function": {"name": TOOL_NAME, "arguments": ""},
    }
    assert deltas(out) == [
        {"role": "assistant", "content": ""},
        {"tool_calls": [start]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"q":"Ro'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'me"}'}}]},
        {},
    ]
    choice = assemble(out).choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls]
    assert calls == [(TOOL_CALL_ID, TOOL_NAME, '{"q":"Rome"}')]


def test_a_refusal_streams_as_refusal_deltas() -> None:
    out = translate([mock_stream(REFUSAL_ANSWER)])
    assert deltas(out)[1:] == [{"refusal": "I "}, {"refusal": "can't."}, {}]
    message = assemble(out).choices[0].message
    assert (message.content, message.refusal) == ("", "I can't.")


@pytest.mark.parametrize(
    ("answer", "finish_reason"), [(CUT_ANSWER, "length"), (FILTERED_ANSWER, "content_filter")]
)
def test_an_incomplete_stream_ends_with_why_it_was_cut(
    answer: NativeAnswer, finish_reason: str
) -> None:
    completion = assemble(translate([mock_stream(answer)]))
    assert completion.choices[0].finish_reason == finish_reason


def test_without_include_usage_there_is_no_usage_chunk() -> None:
    chunks = read_chunks(translate([mock_stream(TEXT_ANSWER)], include_usage=False))
    assert chunks and all(c["choices"] for c in chunks)


@pytest.mark.parametrize(
    ("status", "openai_type"),
    [(429, "requests"), (500, "server_error"), (400, "invalid_request_error")],
)
def test_an_error_event_before_content_is_an_in_band_error_the_router_fails_over_on(
    status: int, openai_type: str
) -> None:
    stream = mock_stream(TEXT_ANSWER, error_status=-status)
    out = same_at_every_split(translate, stream)
    chunks = read_chunks(out)
    assert len(chunks) == 2 and b"[DONE]" not in out
    error = chunks[-1]["error"]
    assert (error["type"], error["code"], error["param"]) == (openai_type, status, None)
    assert error["message"] == read_events(stream)[-1]["message"]
    assert stream_start(out) == error


def test_an_error_event_after_content_ends_the_stream() -> None:
    out = translate([mock_stream(TEXT_ANSWER, error_status=500)])
    assert stream_start(out) == "relay"
    assert deltas(out) == [{"role": "assistant", "content": ""}, {"content": "Héllo"}]
    assert read_chunks(out)[-1]["error"]["code"] == 500
    assert not out.endswith(b"data: [DONE]\n\n")


def test_an_error_event_with_its_fields_at_the_top_only_translates() -> None:
    error_event = event(
        "error", code="rate_limit_exceeded", message="Slow down.", param=None
    ) + event(
        "response.output_text.delta",
        item_id="m",
        output_index=0,
        content_index=0,
        delta="late",
        logprobs=[],
    )
    assert read_chunks(translate([error_event])) == [
        {"error": {"message": "Slow down.", "type": "requests", "param": None, "code": 429}}
    ]


def test_an_error_event_with_its_fields_nested_only_translates() -> None:
    nested = {
        "type": "invalid_request_error",
        "code": "context_length_exceeded",
        "message": "Your input exceeds the context window of this model.",
        "param": "input",
    }
    data = {"type": "error", "sequence_number": 2, "error": nested}
    stream = b"event: error\ndata: " + orjson.dumps(data) + b"\n\n"
    error = read_chunks(translate([stream]))[-1]["error"]
    # A client error: the router relays it rather than fail over (`stream_start`).
    assert error == {
        "message": "Your input exceeds the context window of this model.",
        "type": "invalid_request_error",
        "param": "input",
        "code": 400,
    }


def test_a_failed_response_event_is_an_in_band_error() -> None:
    failed = response([], "failed", error={"code": "server_error", "message": "Boom."}, usage=None)
    stream = event("response.created", response=response([], "in_progress", usage=None)) + event(
        "response.failed", response=failed
    )
    out = same_at_every_split(translate, stream)
    error = {"message": "Boom.", "type": "server_error", "param": None, "code": 500}
    assert read_chunks(out)[-1] == {"error": error}
    assert stream_start(out) == error


def function_call_events(*, with_deltas: bool) -> bytes:
    added = call_item("call_rome", "") | {"status": "in_progress"}
    pieces = ['{"city":', '"Rome"}'] if with_deltas else []
    return (
        event("response.output_item.added", output_index=1, item=added)
        + b"".join(
            event(
                "response.function_call_arguments.delta",
                item_id="fc_call_rome",
                output_index=1,
                delta=piece,
            )
            for piece in pieces
        )
        + event(
            "response.function_call_arguments.done",
            item_id="fc_call_rome",
            output_index=1,
            name="get_weather",
            arguments='{"city":"Rome"}',
        )
        + event(
            "response.output_item.done",
            output_index=1,
            item=call_item("call_rome", '{"city":"Rome"}'),
        )
    )


def test_arguments_said_only_when_the_call_is_done_are_sent_once() -> None:
    with_deltas = translate([function_call_events(with_deltas=True)])
    without = translate([function_call_events(with_deltas=False)])
    arguments = [d["tool_calls"][0]["function"]["arguments"] for d in deltas(without)[1:-1]]
    assert arguments == ["", '{"city":"Rome"}']
    assert assemble(without).choices[0].message.tool_calls == (
        assemble(with_deltas).choices[0].message.tool_calls
    )


def reasoning_events() -> bytes:
    """A reasoning item streamed as OpenAI streams one: none of it has a chat form."""
    summary = {"type": "summary_text", "text": ""}
    fields = {"item_id": "rs_1", "output_index": 0, "summary_index": 0}
    return (
        event("response.output_item.added", output_index=0, item=REASONING_ITEM | {"summary": []})
        + event("response.reasoning_summary_part.added", **fields, part=summary)
        + event("response.reasoning_summary_text.delta", **fields, delta="Thinking.")
        + event("response.reasoning_summary_text.done", **fields, text="Thinking.")
        + event("response.reasoning_summary_part.done", **fields, part=summary)
        + event("response.output_item.done", output_index=0, item=REASONING_ITEM)
    )


def test_reasoning_events_and_keep_alives_produce_nothing() -> None:
    stream = mock_stream(TEXT_ANSWER)
    head_end = stream.index(b"event: response.output_item.added")
    noisy = (
        b": keep-alive\n\n"
        + stream[:head_end]
        + reasoning_events()
        + b": keep-alive\n\n"
        + stream[head_end:]
    )
    assert translate([noisy]) == translate([stream])


def test_a_stream_that_ends_without_its_final_event_is_completed_by_finish() -> None:
    stream = function_call_events(with_deltas=True)
    completion = assemble(translate([stream]))
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.tool_calls[0].function.arguments == '{"city":"Rome"}'
    empty = assemble(translate([]))
    assert empty.choices[0].message.content == "" and empty.usage.total_tokens == 0


def test_a_broken_stream_sends_nothing_on_finish_and_nothing_follows_the_end() -> None:
    stream = mock_stream(TEXT_ANSWER)
    broken = translate([stream[: stream.index(b"event: response.completed")]], complete=False)
    assert deltas(broken)[-1] == {"content": "wörld 👋"}
    assert b"[DONE]" not in broken and b'finish_reason":"stop' not in broken
    t = translator()
    assert t.feed(stream).endswith(b"data: [DONE]\n\n")
    assert t.feed(stream) == b""
    assert t.finish(True) == b""


def test_events_named_only_by_their_data_type_translate_alike() -> None:
    stream = mock_stream(TOOL_ANSWER)
    unnamed = b"".join(
        line + b"\n" for line in stream.split(b"\n") if not line.startswith(b"event:")
    )
    assert translate([unnamed]) == translate([stream])


def test_data_that_is_not_json_ends_the_stream_with_an_error() -> None:
    stream = mock_stream(TEXT_ANSWER)
    cut = stream.index(b"event: response.output_item.added")
    chunks = read_chunks(
        translate([stream[:cut] + b"event: response.output_text.delta\ndata: {nope\n\n"])
    )
    assert chunks[-1]["error"]["code"] == 502 and chunks[-1]["error"]["type"] == "server_error"


# Streams: round trips through the Responses ingress's event translation.


CHAT_USAGE = {
    "prompt_tokens": 9,
    "completion_tokens": 12,
    "total_tokens": 21,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 5},
}
OPENING = chunk({"role": "assistant", "content": ""})
USAGE_CHUNK = usage_chunk(CHAT_USAGE)
CHAT_STREAMS = {
    **round_trip_streams(CHAT_USAGE),
    "refusal": [OPENING, chunk({"refusal": "No."}), chunk({}, "stop"), USAGE_CHUNK],
    "filtered": [OPENING, chunk({"content": "Hm"}), chunk({}, "content_filter"), USAGE_CHUNK],
}
RESPONSES_REQUEST = parse_responses_request(
    orjson.dumps({"model": UPSTREAM, "input": "hi", "stream": True})
)


def responses_events(chat_stream: bytes) -> bytes:
    events = numbered_responses_events(RESPONSES_REQUEST)
    return events.feed(chat_stream) + events.finish(True)


def summary(completion: Any) -> tuple[Any, ...]:
    choice = completion.choices[0]
    message = choice.message
    calls = [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ()]
    texts = (message.content or "", message.refusal or "")
    return texts, calls, choice.finish_reason, completion.usage.model_dump(exclude_none=True)


@pytest.mark.parametrize("name", CHAT_STREAMS)
def test_a_chat_stream_through_responses_events_and_back_keeps_text_calls_finish_and_usage(
    name: str,
) -> None:
    chat_stream = sse(CHAT_STREAMS[name])
    responses_stream = responses_events(chat_stream)
    read_events(responses_stream)
    back = translate([responses_stream])
    assert summary(assemble(back)) == summary(assemble(chat_stream))


def test_interleaved_tool_calls_come_back_the_same_however_the_events_are_split() -> None:
    chat_stream = sse(CHAT_STREAMS["interleaved"])
    back = same_at_every_split(translate, responses_events(chat_stream))
    assert summary(assemble(back)) == summary(assemble(chat_stream))


def test_an_in_band_chat_error_through_responses_events_and_back_keeps_its_status() -> None:
    error = {"error": {"message": "Overloaded", "type": "server_error", "code": 529}}
    responses_stream = responses_events(b"data: " + orjson.dumps(error) + b"\n\n")
    assert read_events(responses_stream)[-1]["code"] == "529"
    chunks = read_chunks(translate([responses_stream]))
    assert chunks[-1] == {
        "error": {"message": "Overloaded", "type": "server_error", "param": None, "code": 529}
    }


# Streams: any input.


_EVENT_NAMES = st.sampled_from(
    [
        "response.created",
        "response.output_text.delta",
        "response.refusal.delta",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "error",
        "",
    ]
)
_EVENT_DATA = (
    st.fixed_dictionaries(
        {},
        optional={
            "output_index": st.integers(-1, 3) | _JSON,
            "delta": _JSON,
            "arguments": _JSON,
            "item": st.fixed_dictionaries(
                {"type": st.sampled_from(["function_call", "message", "reasoning"])},
                optional={"call_id": _JSON, "name": _JSON, "arguments": _JSON},
            )
            | _JSON,
            "response": _RESPONSE_LIKE | _JSON,
            "code": _JSON,
            "message": _JSON,
            "param": _JSON,
            "error": _JSON,
        },
    )
    | _JSON
)


@settings(max_examples=300, deadline=None)
@given(event_streams(_EVENT_NAMES, _EVENT_DATA), st.booleans(), st.booleans())
def test_any_events_give_valid_chunks(stream: bytes, include_usage: bool, complete: bool) -> None:
    read_chunks(translate([stream], include_usage=include_usage, complete=complete))


# Responses <-> Messages, through chat.


MESSAGES_REQUEST = parse_messages_request(
    orjson.dumps(
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": "hi"}],
        }
    )
)


def message_of_response(r: dict[str, Any]) -> dict[str, Any]:
    m = message_from_chat(MESSAGES_REQUEST, chat_answer(r), message_id="msg_1")
    Message.model_validate(m)
    return m


def test_a_responses_answer_through_chat_is_a_messages_answer_with_its_text_calls_and_usage() -> (
    None
):
    r = response(
        [
            REASONING_ITEM,
            message_item(text_part("Let me look.")),
            call_item("call_rome", '{"city":"Rome"}'),
        ]
    )
    assert message_of_response(r) == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": UPSTREAM,
        "content": [
            {"type": "text", "text": "Let me look."},
            {
                "type": "tool_use",
                "id": "call_rome",
                "name": "get_weather",
                "input": {"city": "Rome"},
            },
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        # Anthropic's input_tokens leave out the cached ones.
        "usage": {
            "input_tokens": 20,
            "output_tokens": 40,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 0,
        },
    }


@pytest.mark.parametrize(
    ("r", "stop_reason"),
    [
        (response([message_item(text_part("Hi."))]), "end_turn"),
        (
            response(
                [message_item(text_part("Cut"))],
                "incomplete",
                incomplete_details={"reason": "max_output_tokens"},
            ),
            "max_tokens",
        ),
        (response([message_item(refusal_part("No."))]), "refusal"),
    ],
)
def test_a_responses_status_through_chat_is_the_messages_stop_reason(
    r: dict[str, Any], stop_reason: str
) -> None:
    assert message_of_response(r)["stop_reason"] == stop_reason


ANTHROPIC_USAGE = {
    "input_tokens": 20,
    "cache_creation_input_tokens": 7,
    "cache_read_input_tokens": 100,
    "output_tokens": 12,
}


def anthropic_message(content: list[dict[str, Any]], stop_reason: str) -> dict[str, Any]:
    m = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": ANTHROPIC_USAGE,
    }
    Message.model_validate(m)
    return m


def response_of_message(m: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The chat answer of a Message and the Response the Responses ingress makes of it, valid
    in the client's type and the OpenAPI schema."""
    chat = chat_from_message(m, chat_id="chatcmpl-1", created=CREATED)
    counter = itertools.count()
    r = response_from_chat(
        parse_responses_request(orjson.dumps({"model": UPSTREAM, "input": "hi"})),
        chat,
        response_id="resp_1",
        new_id=lambda prefix: f"{prefix}_{next(counter)}",
    )
    Response.model_validate(r)
    validate("Response", r)
    return chat, r


def test_a_messages_answer_through_chat_is_a_responses_answer_with_its_text_calls_and_usage() -> (
    None
):
    m = anthropic_message(
        [
            {"type": "thinking", "thinking": "Weather.", "signature": "sig"},
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Rome"}},
        ],
        "tool_use",
    )
    _, r = response_of_message(m)
    assert (r["status"], r["incomplete_details"], r["model"]) == (
        "completed",
        None,
        "claude-sonnet-4-5",
    )
    assert r["output"] == [
        {
            "type": "message",
            "id": "msg_0",
            "status": "completed",
            "role": "assistant",
            "content": [text_part("Let me look.")],
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "toolu_1",
            "name": "get_weather",
            "arguments": '{"city":"Rome"}',
            "status": "completed",
        },
    ]
    # A Response's input_tokens count the whole prompt, cached tokens included.
    assert r["usage"] == {
        "input_tokens": 127,
        "input_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 0},
        "output_tokens": 12,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 139,
    }


@pytest.mark.parametrize(
    ("stop_reason", "status", "reason"),
    [
        ("end_turn", "completed", None),
        ("max_tokens", "incomplete", "max_output_tokens"),
        ("refusal", "incomplete", "content_filter"),
    ],
)
def test_a_messages_stop_reason_through_chat_is_the_responses_status(
    stop_reason: str, status: str, reason: str | None
) -> None:
    _, r = response_of_message(anthropic_message([{"type": "text", "text": "x"}], stop_reason))
    assert r["status"] == status
    assert r["incomplete_details"] == (None if reason is None else {"reason": reason})


@pytest.mark.parametrize(
    "m",
    [
        anthropic_message([{"type": "text", "text": "Hello there."}], "end_turn"),
        anthropic_message([{"type": "text", "text": "Cut sho"}], "max_tokens"),
        anthropic_message([{"type": "text", "text": "No."}], "refusal"),
        anthropic_message(
            [
                {"type": "text", "text": "Let me look."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
                {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}},
            ],
            "tool_use",
        ),
    ],
)
def test_a_chat_answer_through_a_response_comes_back_as_it_was(m: dict[str, Any]) -> None:
    chat, r = response_of_message(m)
    back = chat_answer(r)
    # The Response reports reasoning tokens (none) where the Message said nothing of them.
    assert back.pop("usage") == chat.pop("usage") | {
        "completion_tokens_details": {"reasoning_tokens": 0}
    }
    assert back == chat
