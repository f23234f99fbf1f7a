"""A Chat Completions stream translated into Anthropic's Messages stream events
(`router.wire.messages.events`): the same events however the chat bytes are split, each one read
by the official `anthropic` client's own decoder and types, blocks one at a time, the message
assembled by the client's own accumulator, and whole streams read by the client over a real
socket, with `messages.create(stream=True)` and with `messages.stream()`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anthropic
import orjson
import pytest
from anthropic._streaming import SSEDecoder
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import ErrorResponse, RawMessageStreamEvent
from pydantic import TypeAdapter

from router.wire.messages.events import MessagesEvents
from router.wire.messages.request import MessagesRequest
from tests.chat_streams import (
    MODEL,
    chunk,
    same_at_every_split,
    sse,
    tool_piece,
    tool_start,
    translating,
    usage_chunk,
)
from tests.known_fields import assert_known_fields_only
from tests.sse_server import serving_sse

REQUEST = MessagesRequest(
    body={
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    },
    chat_body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    stream=True,
)
TEXT = "Héllo there, wörld 👋"
STREAM_EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
ERROR_EVENT: TypeAdapter[ErrorResponse] = TypeAdapter(ErrorResponse)


def city_pieces(city: str) -> list[str]:
    return ['{"ci', 'ty":', f' "{city}"', "}"]


def opening(**delta: Any) -> dict[str, Any]:
    return chunk({"role": "assistant", "content": "", "refusal": None, **delta})


def text_stream(*, finish_reason: str = "stop", usage: bool = True) -> bytes:
    chunks = [
        opening(),
        *(chunk({"content": piece}) for piece in ("Héllo", " there", ", wörld 👋")),
    ]
    chunks.append(chunk({}, finish_reason))
    return sse(chunks + ([usage_chunk()] if usage else []))


def refusal_stream(finish_reason: str = "content_filter") -> bytes:
    chunks = [opening(content=None, refusal="")]
    chunks += [chunk({"refusal": piece}) for piece in ("I'm sorry, ", "I can't help.")]
    return sse([*chunks, chunk({}, finish_reason), usage_chunk()])


def tool_stream(*, text: bool = False, cities: tuple[str, ...] = ("Rome",)) -> bytes:
    """Tool calls one after the other, as OpenAI sends them, after some text if `text`."""
    chunks = [opening()] + ([chunk({"content": "Let me look."})] if text else [])
    for index, city in enumerate(cities):
        chunks.append(tool_start(index, f"call_{city.lower()}"))
        chunks += [tool_piece(index, piece) for piece in city_pieces(city)]
    return sse([*chunks, chunk({}, "tool_calls"), usage_chunk()])


def interleaved_stream() -> bytes:
    """Two calls whose argument pieces alternate, as Chat Completions does not forbid."""
    chunks = [opening(), tool_start(0, "call_paris"), tool_start(1, "call_oslo")]
    for paris, oslo in zip(city_pieces("Paris"), city_pieces("Oslo"), strict=True):
        chunks += [tool_piece(0, paris), tool_piece(1, oslo)]
    return sse([*chunks, chunk({}, "tool_calls"), usage_chunk()])


def translator() -> MessagesEvents:
    return MessagesEvents(REQUEST, message_id="msg_1")


translate = translating(translator)


def translate_every_split(stream: bytes) -> bytes:
    return same_at_every_split(translate, stream)


def read_events(out: bytes) -> list[dict[str, Any]]:
    """The events as the official client decodes them, each valid in its types with no field
    they do not know, and named by its `event:` line as by its `type`."""
    events = []
    for event in SSEDecoder().iter_bytes(iter([out])):
        data = event.json()
        assert event.event == data["type"]
        adapter = ERROR_EVENT if data["type"] == "error" else STREAM_EVENT
        parsed = adapter.validate_python(data, strict=True)
        assert_known_fields_only(parsed)
        assert parsed.model_dump(mode="json", exclude_unset=True) == data
        events.append(data)
    return events


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def assemble(events: list[dict[str, Any]]) -> Any:
    """The message as the client's `messages.stream()` helper builds it, after checking the
    events' order: `message_start`, blocks one at a time with indexes 0, 1, ..., each started,
    its deltas, stopped, then `message_delta` and `message_stop`."""
    assert types(events)[0] == "message_start"
    assert types(events)[-2:] == ["message_delta", "message_stop"]
    open_index, next_index = None, 0
    for event in events[1:-2]:
        if event["type"] == "content_block_start":
            assert open_index is None and event["index"] == next_index
            open_index, next_index = next_index, next_index + 1
        else:
            assert event["type"] in ("content_block_delta", "content_block_stop")
            assert event["index"] == open_index
            if event["type"] == "content_block_stop":
                open_index = None
    assert open_index is None
    message = None
    json_bufs: dict[int, bytes] = {}
    for event in events:
        parsed = STREAM_EVENT.validate_python(event)
        message = accumulate_event(event=parsed, current_snapshot=message, json_bufs=json_bufs)
    return message


def test_text_is_streamed_as_one_text_block_the_same_however_the_chat_bytes_are_split() -> None:
    events = read_events(translate_every_split(text_stream()))
    assert types(events) == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[0]["message"] == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 0,
        },
    }
    assert events[1]["content_block"] == {"type": "text", "text": ""}
    assert [e["delta"] for e in events[2:5]] == [
        {"type": "text_delta", "text": piece} for piece in ("Héllo", " there", ", wörld 👋")
    ]
    assert events[-2]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    # Anthropic's input_tokens leaves out the tokens read from the cache.
    assert events[-2]["usage"] == {
        "input_tokens": 5,
        "output_tokens": 12,
        "cache_read_input_tokens": 4,
        "cache_creation_input_tokens": 0,
    }
    message = assemble(events)
    assert (message.id, message.model, message.stop_reason) == ("msg_1", MODEL, "end_turn")
    assert [(block.type, block.text) for block in message.content] == [("text", TEXT)]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (5, 12)
    assert message.usage.cache_read_input_tokens == 4


def test_a_refusal_is_streamed_as_text_and_content_filter_stops_with_refusal() -> None:
    events = read_events(translate_every_split(refusal_stream()))
    message = assemble(events)
    assert message.stop_reason == "refusal"
    assert [(block.type, block.text) for block in message.content] == [
        ("text", "I'm sorry, I can't help.")
    ]


def test_a_refusal_under_a_stop_finish_still_stops_with_refusal() -> None:
    message = assemble(read_events(translate([refusal_stream("stop")])))
    assert message.stop_reason == "refusal"


def test_a_tool_call_is_streamed_as_a_tool_use_block_with_its_input_json() -> None:
    events = read_events(translate_every_split(tool_stream()))
    assert types(events) == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[1]["content_block"] == {
        "type": "tool_use",
        "id": "call_rome",
        "name": "get_weather",
        "input": {},
    }
    assert [e["delta"] for e in events[2:6]] == [
        {"type": "input_json_delta", "partial_json": piece} for piece in city_pieces("Rome")
    ]
    message = assemble(events)
    assert message.stop_reason == "tool_use"
    ((block),) = message.content
    assert (block.type, block.id, block.name) == ("tool_use", "call_rome", "get_weather")
    assert block.input == {"city": "Rome"}


def test_tool_calls_one_after_the_other_are_streamed_as_they_come() -> None:
    events = read_events(translate_every_split(tool_stream(cities=("Paris", "Oslo"))))
    # The second call's block starts as soon as it does, its pieces streamed one by one.
    assert types(events)[1:13] == [
        "content_block_start",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "content_block_start",
        *["content_block_delta"] * 4,
        "content_block_stop",
    ]
    message = assemble(events)
    assert [(b.id, b.input) for b in message.content] == [
        ("call_paris", {"city": "Paris"}),
        ("call_oslo", {"city": "Oslo"}),
    ]


def test_interleaved_tool_calls_are_sent_one_block_at_a_time() -> None:
    events = read_events(translate_every_split(interleaved_stream()))
    # Oslo's pieces wait until Paris's object closes, then go as one delta; the rest streams.
    assert [(e["type"], e["index"], e.get("delta")) for e in events[1:-2]] == [
        ("content_block_start", 0, None),
        *[
            ("content_block_delta", 0, {"type": "input_json_delta", "partial_json": piece})
            for piece in city_pieces("Paris")
        ],
        ("content_block_stop", 0, None),
        ("content_block_start", 1, None),
        ("content_block_delta", 1, {"type": "input_json_delta", "partial_json": '{"city": "Oslo"'}),
        ("content_block_delta", 1, {"type": "input_json_delta", "partial_json": "}"}),
        ("content_block_stop", 1, None),
    ]
    message = assemble(events)
    assert [(b.id, b.input) for b in message.content] == [
        ("call_paris", {"city": "Paris"}),
        ("call_oslo", {"city": "Oslo"}),
    ]


def test_a_call_waits_until_the_open_calls_object_really_closes() -> None:
    """Braces, brackets and quotes inside strings, escapes split across pieces: the open call is
    not taken as done before its last brace, wherever its arguments are cut."""
    arguments = r'{"q": "\"}", "a": "x\\", "b": "} ] [", "n": [1, {"x": "{"}], "e": "\\\\\"}"}'
    one_by_one = list(arguments)
    for pieces in [[arguments[:k], arguments[k:]] for k in range(1, len(arguments))] + [one_by_one]:
        chunks = [opening(), tool_start(0, "call_a", "search"), tool_piece(0, pieces[0])]
        chunks += [tool_start(1, "call_b"), tool_piece(1, '{"city": "Oslo"}')]
        chunks += [*(tool_piece(0, piece) for piece in pieces[1:]), chunk({}, "tool_calls")]
        message = assemble(read_events(translate([sse(chunks)])))
        assert [(b.id, b.input) for b in message.content] == [
            ("call_a", orjson.loads(arguments)),
            ("call_b", {"city": "Oslo"}),
        ], f"arguments as {pieces}"


def test_a_call_whose_object_never_closes_holds_the_others_until_the_end() -> None:
    chunks = [opening(), tool_start(0, "call_a"), tool_piece(0, '{"city": "Pa')]
    chunks += [tool_start(1, "call_b"), tool_piece(1, '{"city": "Oslo"}')]
    chunks += [chunk({"content": "Done."}), chunk({}, "length")]
    events = read_events(translate_every_split(sse(chunks)))
    message = assemble(events)
    assert message.stop_reason == "max_tokens"
    assert [b.type for b in message.content] == ["tool_use", "tool_use", "text"]
    assert message.content[1].input == {"city": "Oslo"} and message.content[2].text == "Done."
    assert [e["delta"] for e in events if e["type"] == "content_block_delta"][1:] == [
        {"type": "input_json_delta", "partial_json": '{"city": "Oslo"}'},
        {"type": "text_delta", "text": "Done."},
    ]


def test_text_before_a_tool_call_is_stopped_before_the_call_starts() -> None:
    events = read_events(translate_every_split(tool_stream(text=True)))
    assert [(e["type"], e["index"]) for e in events[1:5]] == [
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
    ]
    message = assemble(events)
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[0].text == "Let me look."
    assert message.content[1].input == {"city": "Rome"}


def test_finish_reason_length_stops_with_max_tokens() -> None:
    message = assemble(read_events(translate_every_split(text_stream(finish_reason="length"))))
    assert message.stop_reason == "max_tokens"
    assert message.content[0].text == TEXT


def test_without_the_usage_chunk_every_count_is_zero() -> None:
    events = read_events(translate_every_split(text_stream(usage=False)))
    assert events[-2]["usage"] == {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }
    assert assemble(events).content[0].text == TEXT


def test_done_is_not_passed_on_and_nothing_follows_message_stop() -> None:
    events = translator()
    out = events.feed(text_stream())
    assert b"[DONE]" not in out and types(read_events(out))[-1] == "message_stop"
    assert events.finish(True) == b"" and events.error(502, "late") == b""
    assert events.feed(sse([chunk({"content": "more"})])) == b""


def test_a_stream_that_ends_without_done_is_completed_by_finish() -> None:
    stream = text_stream()
    without_done = stream.removesuffix(b"data: [DONE]\n\n")
    assert translate_every_split(without_done) == translate([stream])


def test_an_empty_stream_finished_normally_is_an_empty_message() -> None:
    events = read_events(translate([b""]))
    assert types(events) == ["message_start", "message_delta", "message_stop"]
    assert events[0]["message"]["model"] == "gpt-4o-mini"
    assert assemble(events).content == []


def test_crlf_line_endings_translate_as_lf_ones() -> None:
    assert translate([text_stream().replace(b"\n", b"\r\n")]) == translate([text_stream()])


def test_an_in_band_upstream_error_ends_the_stream_with_an_error_event() -> None:
    error = {"message": "The server had an error.", "type": "server_error", "param": None}
    stream = sse([opening(content="Hel"), {"error": {**error, "code": None}}], done=False)
    stream += sse([chunk({"content": "lo"})])
    events = read_events(translate_every_split(stream))
    assert types(events) == ["message_start", "content_block_start", "content_block_delta", "error"]
    assert events[-1] == {
        "type": "error",
        "error": {"type": "api_error", "message": "The server had an error."},
    }


def test_an_in_band_error_with_an_http_status_code_takes_its_type() -> None:
    error = {"error": {"message": "Slow down.", "type": "RateLimitError", "code": 429}}
    (event,) = read_events(translate([sse([error])]))
    assert event["error"] == {"type": "rate_limit_error", "message": "Slow down."}


def test_a_chunk_that_is_not_json_ends_the_stream_with_an_error_event() -> None:
    events = read_events(translate([sse([opening(content="Hi")], done=False) + b"data: {oops\n\n"]))
    assert events[-1]["type"] == "error" and events[-1]["error"]["type"] == "api_error"


def test_a_broken_stream_sends_nothing_on_finish_then_the_writers_error_event() -> None:
    events = translator()
    stream = text_stream()
    out = events.feed(stream[: stream.index(b" there")])
    assert events.finish(False) == b""
    out += events.error(503, "No endpoint could finish the answer.")
    read = read_events(out)
    assert types(read) == ["message_start", "content_block_start", "content_block_delta", "error"]
    assert read[-1]["error"] == {
        "type": "overloaded_error",
        "message": "No endpoint could finish the answer.",
    }
    assert events.finish(True) == b"" and events.error(502, "again") == b""


def test_an_error_before_any_chunk_is_the_only_event() -> None:
    (event,) = read_events(translator().error(502, "No endpoint answered."))
    assert event["error"] == {"type": "api_error", "message": "No endpoint answered."}


def test_a_client_that_left_gets_nothing_more() -> None:
    stream = text_stream()
    events = translator()
    out = events.feed(stream[: stream.index(b" there")])
    assert types(read_events(out))[-1] == "content_block_delta"
    assert events.finish(False) == b""
    assert events.feed(stream[stream.index(b" there") :]) == b""


async def _with_client(
    body: bytes, use: Callable[[anthropic.AsyncAnthropic], Awaitable[Any]]
) -> Any:
    async with serving_sse("/v1/messages", body) as base_url:
        client = anthropic.AsyncAnthropic(base_url=base_url, api_key="x", max_retries=0)
        try:
            return await use(client)
        finally:
            await client.close()


PARAMS: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hi"}],
}


async def _raw_events(client: anthropic.AsyncAnthropic) -> list[Any]:
    stream = await client.messages.create(**PARAMS, stream=True)
    return [event async for event in stream]


async def _final_message(client: anthropic.AsyncAnthropic) -> Any:
    async with client.messages.stream(**PARAMS) as stream:
        return await stream.get_final_message()


@pytest.mark.asyncio
async def test_the_official_client_streams_the_translated_events() -> None:
    events = await _with_client(translate([text_stream()]), _raw_events)
    assert [e.type for e in events] == types(read_events(translate([text_stream()])))
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == TEXT
    assert events[-2].delta.stop_reason == "end_turn" and events[-2].usage.output_tokens == 12


@pytest.mark.asyncio
async def test_the_clients_stream_helper_assembles_text_and_tool_uses() -> None:
    body = translate([tool_stream(text=True, cities=("Paris", "Oslo"))])
    message = await _with_client(body, _final_message)
    assert message.id == "msg_1" and message.model == MODEL
    assert message.stop_reason == "tool_use" and message.stop_sequence is None
    assert [b.type for b in message.content] == ["text", "tool_use", "tool_use"]
    assert message.content[0].text == "Let me look."
    assert [(b.id, b.name, b.input) for b in message.content[1:]] == [
        ("call_paris", "get_weather", {"city": "Paris"}),
        ("call_oslo", "get_weather", {"city": "Oslo"}),
    ]
    assert message.usage.input_tokens == 5 and message.usage.output_tokens == 12
    assert message.usage.cache_read_input_tokens == 4
    assert message.usage.cache_creation_input_tokens == 0


@pytest.mark.asyncio
async def test_the_clients_stream_helper_assembles_interleaved_calls() -> None:
    message = await _with_client(translate([interleaved_stream()]), _final_message)
    assert [b.input for b in message.content] == [{"city": "Paris"}, {"city": "Oslo"}]


@pytest.mark.asyncio
async def test_an_error_event_raises_the_clients_status_error_mid_stream() -> None:
    events = translator()
    stream = text_stream()
    body = events.feed(stream[: stream.index(b" there")]) + events.finish(False)
    body += events.error(502, "The upstream broke.")
    error_body = {"type": "error", "error": {"type": "api_error", "message": "The upstream broke."}}
    for use in (_raw_events, _final_message):
        with pytest.raises(anthropic.APIStatusError) as raised:
            await _with_client(body, use)
        assert raised.value.body == error_body
        assert "The upstream broke." in raised.value.message
