"""A Chat Completions stream translated into the Responses API's events
(`router.wire.responses.events`): the same events however the chat bytes are split, each one
read by the official `openai` client's own decoder and types and checked against the vendored
OpenAPI schema, and a whole stream read by the client's stream reader over a real socket."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from openai import AsyncOpenAI
from openai._streaming import SSEDecoder
from openai.types.responses import ResponseStreamEvent
from pydantic import BaseModel, TypeAdapter

from router.wire.responses.events import ResponsesEvents
from router.wire.responses.request import ResponsesRequest
from tests.chat_streams import (
    MODEL,
    chunk,
    numbered_responses_events,
    same_at_every_split,
    sse,
    tool_piece,
    tool_start,
    translating,
    usage_chunk,
)
from tests.openai_clients import async_openai
from tests.openapi_schemas import validate
from tests.sse_server import serving_sse

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": False,
}
REQUEST = ResponsesRequest(
    body={"model": "gpt-4o-mini", "input": "hi", "stream": True, "tools": [WEATHER_TOOL]},
    chat_body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    stream=True,
)
STREAM_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def text_stream(*, finish_reason: str = "stop", usage: bool = True) -> bytes:
    chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [chunk({"content": piece}) for piece in ("Héllo", " there", ", wörld 👋")]
    chunks.append(chunk({}, finish_reason))
    return sse(chunks + ([usage_chunk()] if usage else []))


def refusal_stream() -> bytes:
    chunks = [chunk({"role": "assistant", "content": None, "refusal": ""})]
    chunks += [chunk({"refusal": piece}) for piece in ("I'm sorry, ", "I can't help.")]
    return sse([*chunks, chunk({}, "stop"), usage_chunk()])


def tool_stream(*, text: bool = False, parallel: bool = False) -> bytes:
    chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
    if text:
        chunks += [chunk({"content": "Let me look."})]
    calls = [(0, "call_a", "Paris"), (1, "call_b", "Oslo")] if parallel else [(0, "call_a", "Rome")]
    for index, call_id, city in calls:
        chunks.append(tool_start(index, call_id))
        chunks += [tool_piece(index, piece) for piece in ('{"ci', 'ty":', f' "{city}"', "}")]
    return sse([*chunks, chunk({}, "tool_calls"), usage_chunk()])


def translator() -> ResponsesEvents:
    return numbered_responses_events(REQUEST)


translate = translating(translator)


def translate_every_split(stream: bytes) -> bytes:
    return same_at_every_split(translate, stream)


def read_events(out: bytes) -> list[dict[str, Any]]:
    """The events as the official client decodes them, each checked by its types and by the
    OpenAPI schema, with sequence numbers 0..n-1."""
    events = []
    for event in SSEDecoder().iter_bytes(iter([out])):
        data = event.json()
        assert event.event == data["type"]
        parsed = STREAM_EVENT.validate_python(data, strict=True)
        assert isinstance(parsed, BaseModel) and getattr(parsed, "type", None) == data["type"]
        # Every field is one the client knows, but `name`, which the schema requires.
        extra = set(parsed.model_extra or {})
        assert extra == ({"name"} if data["type"].endswith("arguments.done") else set()), data
        validate("ResponseStreamEvent", data)
        events.append(data)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def final_response(events: list[dict[str, Any]]) -> Any:
    last = STREAM_EVENT.validate_python(events[-1])
    assert last.type in ("response.completed", "response.incomplete")
    return last.response


def test_text_is_streamed_as_a_message_the_same_however_the_chat_bytes_are_split() -> None:
    events = read_events(translate_every_split(text_stream()))
    assert types(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 3,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[0]["response"]["status"] == "in_progress"
    assert events[0]["response"]["model"] == MODEL and events[0]["response"]["output"] == []
    assert [e["delta"] for e in events[4:7]] == ["Héllo", " there", ", wörld 👋"]
    assert events[7]["text"] == "Héllo there, wörld 👋"
    response = final_response(events)
    assert response.id == "resp_1" and response.status == "completed"
    assert response.output_text == "Héllo there, wörld 👋"
    assert response.output[0].id == events[2]["item"]["id"] == "msg_0"
    assert response.usage.input_tokens == 9 and response.usage.output_tokens == 12
    assert response.usage.total_tokens == 21
    assert response.usage.input_tokens_details.cached_tokens == 4
    assert events[-2]["item"] == response.output[0].model_dump(mode="json", exclude_unset=True)


def test_a_refusal_is_streamed_as_a_refusal_part() -> None:
    events = read_events(translate_every_split(refusal_stream()))
    assert types(events)[3:7] == [
        "response.content_part.added",
        "response.refusal.delta",
        "response.refusal.delta",
        "response.refusal.done",
    ]
    assert events[3]["part"] == {"type": "refusal", "refusal": ""}
    assert events[6]["refusal"] == "I'm sorry, I can't help."
    (message,) = final_response(events).output
    assert message.content[0].type == "refusal"
    assert message.content[0].refusal == "I'm sorry, I can't help."


def test_a_tool_call_is_streamed_as_a_function_call_item_with_its_arguments() -> None:
    events = read_events(translate_every_split(tool_stream()))
    assert types(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        *["response.function_call_arguments.delta"] * 4,
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    added = events[2]["item"]
    assert added["type"] == "function_call" and added["status"] == "in_progress"
    assert added["call_id"] == "call_a" and added["name"] == "get_weather"
    assert added["arguments"] == ""
    assert events[7]["arguments"] == '{"city": "Rome"}' and events[7]["name"] == "get_weather"
    response = final_response(events)
    (call,) = response.output
    assert call.type == "function_call" and call.status == "completed"
    assert (call.id, call.call_id, call.arguments) == ("fc_0", "call_a", '{"city": "Rome"}')
    assert response.output_text == ""


def test_parallel_tool_calls_take_consecutive_output_indexes() -> None:
    events = read_events(translate_every_split(tool_stream(parallel=True)))
    added = [e for e in events if e["type"] == "response.output_item.added"]
    assert [(e["output_index"], e["item"]["call_id"]) for e in added] == [
        (0, "call_a"),
        (1, "call_b"),
    ]
    done = {
        e["output_index"]: e["arguments"]
        for e in events
        if e["type"] == "response.function_call_arguments.done"
    }
    assert done == {0: '{"city": "Paris"}', 1: '{"city": "Oslo"}'}
    calls = final_response(events).output
    assert [(c.call_id, c.arguments) for c in calls] == [
        ("call_a", '{"city": "Paris"}'),
        ("call_b", '{"city": "Oslo"}'),
    ]


def test_text_before_a_tool_call_is_closed_before_the_call_starts() -> None:
    events = read_events(translate_every_split(tool_stream(text=True)))
    assert types(events)[2:11] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
    ]
    assert [e["output_index"] for e in events if e["type"] == "response.output_item.added"] == [
        0,
        1,
    ]
    response = final_response(events)
    assert [item.type for item in response.output] == ["message", "function_call"]
    assert response.output_text == "Let me look."
    assert response.output[1].arguments == '{"city": "Rome"}'


def test_finish_reason_length_ends_with_response_incomplete() -> None:
    events = read_events(translate_every_split(text_stream(finish_reason="length")))
    assert events[-1]["type"] == "response.incomplete"
    response = final_response(events)
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output[0].status == "incomplete"
    assert response.output_text == "Héllo there, wörld 👋"


def test_without_the_usage_chunk_the_response_has_no_usage() -> None:
    events = read_events(translate_every_split(text_stream(usage=False)))
    response = final_response(events)
    assert response.status == "completed" and response.usage is None
    assert response.output_text == "Héllo there, wörld 👋"


def test_done_is_not_passed_on_and_nothing_follows_the_completion() -> None:
    events = translator()
    out = events.feed(text_stream())
    assert b"[DONE]" not in out
    assert events.finish(True) == b"" and events.error(None, "late", None) == b""
    assert events.feed(sse([chunk({"content": "more"})])) == b""


def test_a_stream_that_ends_without_done_is_completed_by_finish() -> None:
    stream = text_stream()
    without_done = stream.removesuffix(b"data: [DONE]\n\n")
    assert translate_every_split(without_done) == translate([stream])


def test_crlf_line_endings_translate_as_lf_ones() -> None:
    assert translate([text_stream().replace(b"\n", b"\r\n")]) == translate([text_stream()])


def test_an_in_band_upstream_error_ends_the_stream_with_an_error_event() -> None:
    error = {"message": "The server had an error.", "type": "server_error", "param": None}
    stream = sse(
        [chunk({"role": "assistant", "content": "Hel"}), {"error": {**error, "code": None}}]
    )
    stream += sse([chunk({"content": "lo"})])
    events = read_events(translate_every_split(stream))
    assert types(events)[-2:] == ["response.output_text.delta", "error"]
    assert events[-1] == {
        "type": "error",
        "sequence_number": 5,
        "code": "server_error",
        "message": "The server had an error.",
        "param": None,
    }


def test_a_broken_stream_sends_nothing_on_finish_then_the_writers_error_event() -> None:
    events = translator()
    stream = text_stream()
    out = events.feed(stream[: len(stream) // 2])
    assert events.finish(False) == b""
    out += events.error("upstream_error", "The upstream broke mid-stream.", None)
    read = read_events(out)
    assert read[-1]["type"] == "error" and read[-1]["code"] == "upstream_error"
    assert "response.completed" not in types(read)
    assert events.finish(True) == b""


def test_an_error_before_any_chunk_still_starts_the_response() -> None:
    events = read_events(translator().error(None, "No endpoint answered.", None))
    assert types(events) == ["response.created", "response.in_progress", "error"]
    assert events[0]["response"]["model"] == "gpt-4o-mini"


def test_a_client_that_left_gets_nothing_more() -> None:
    stream = text_stream()
    events = translator()
    out = events.feed(stream[: stream.index(b" there")])
    assert types(read_events(out))[-1] == "response.output_text.delta"
    assert events.finish(False) == b""
    assert events.feed(stream[stream.index(b" there") :]) == b""


async def _with_client(body: bytes, use: Callable[[AsyncOpenAI], Awaitable[Any]]) -> Any:
    async with serving_sse("/v1/responses", body) as base_url:
        client = async_openai(base_url + "/v1", api_key="x")
        try:
            return await use(client)
        finally:
            await client.close()


@pytest.mark.asyncio
async def test_the_official_client_streams_the_translated_events() -> None:
    async def events_of(client: AsyncOpenAI) -> list[Any]:
        stream = await client.responses.create(model="m", input="hi", stream=True)
        return [event async for event in stream]

    events = await _with_client(translate([text_stream()]), events_of)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "Héllo there, wörld 👋"
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "Héllo there, wörld 👋"


@pytest.mark.asyncio
async def test_the_clients_stream_helper_assembles_the_final_response() -> None:
    async def final(client: AsyncOpenAI) -> Any:
        async with client.responses.stream(model="m", input="hi") as stream:
            return await stream.get_final_response()

    response = await _with_client(translate([tool_stream(text=True, parallel=True)]), final)
    assert response.output_text == "Let me look."
    assert [(item.type, getattr(item, "arguments", None)) for item in response.output] == [
        ("message", None),
        ("function_call", '{"city": "Paris"}'),
        ("function_call", '{"city": "Oslo"}'),
    ]
    assert response.usage.total_tokens == 21


@pytest.mark.asyncio
async def test_the_official_client_reads_an_error_event_as_the_last_event() -> None:
    async def events_of(client: AsyncOpenAI) -> list[Any]:
        stream = await client.responses.create(model="m", input="hi", stream=True)
        return [event async for event in stream]

    events = translator()
    body = events.feed(text_stream()[:300]) + events.finish(False)
    body += events.error("upstream_error", "The upstream broke.", None)
    read = await _with_client(body, events_of)
    assert read[0].type == "response.created"
    assert read[-1].type == "error" and read[-1].message == "The upstream broke."
    assert read[-1].code == "upstream_error"
