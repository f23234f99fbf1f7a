"""The usage of an answer in a native API (`router.wire.native_usage`): a Response's or a
Message's own report, whole or at the end of its stream however the stream is split, Anthropic's
cache reads and writes counted into the input; without a report, the content deltas counted. The
streams are the simulated cloud's (`loadtest.mock_cloud.wire_responses`, `wire_messages`) and the
router's own ingress translations."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterable
from typing import Any

import pytest

from loadtest.mock_cloud.answers import NativeAnswer, tool_argument_pieces
from loadtest.mock_cloud.parsing_responses import responses_request
from loadtest.mock_cloud.wire_messages import MessagesStream, message_body
from loadtest.mock_cloud.wire_responses import ResponsesStream, response_body
from router.wire.messages.events import MessagesEvents
from router.wire.messages.request import MessagesRequest
from router.wire.native import NativeApi
from router.wire.native_usage import (
    NativeStreamUsageCounter,
    native_response_model_in,
    usage_from_native_body,
)
from router.wire.responses.events import ResponsesEvents
from router.wire.responses.request import ResponsesRequest
from router.wire.usage import Usage
from tests.chat_streams import chunk, sse, usage_chunk
from tests.simulated_streams import (
    REGION,
    simulated_messages_stream,
    simulated_responses_stream,
    whole_stream,
)

PIECES = ("Hello", " there", ", world")
TEXT = NativeAnswer("text", "".join(PIECES), PIECES, "end")
TOOL_CALL = NativeAnswer("tool_call", "".join(PIECES), tool_argument_pieces(PIECES), "end")
ESTIMATE = 77  # the router's estimate of the input, used when nothing is reported
CHAT_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def responses_stream(answer: NativeAnswer = TEXT) -> ResponsesStream:
    return simulated_responses_stream(answer, input_tokens=40, cached_tokens=32)


def messages_stream(answer: NativeAnswer = TEXT) -> MessagesStream:
    return simulated_messages_stream(answer, input_tokens=40, cached_tokens=32)


def counted(api: NativeApi, chunks: Iterable[bytes]) -> Usage:
    counter = NativeStreamUsageCounter(api)
    for piece in chunks:
        counter.feed(piece)
    return counter.usage(estimated_input_tokens=ESTIMATE)


def at_every_split(api: NativeApi, stream: bytes) -> Usage:
    """The usage of `stream` fed whole, in two pieces cut at every byte, and byte by byte: the
    same every time, which is returned."""
    usage = counted(api, [stream])
    for cut in range(len(stream) + 1):
        assert counted(api, [stream[:cut], stream[cut:]]) == usage, f"cut at byte {cut}"
    assert counted(api, (stream[k : k + 1] for k in range(len(stream)))) == usage
    return usage


# Whole answers.


def test_a_responses_body_reports_its_input_output_and_cached_tokens() -> None:
    request = responses_request({"model": "gpt-4o-mini", "input": "hi"}, REGION)
    body = response_body(
        request,
        TEXT,
        response_id="resp_1",
        item_id="msg_1",
        created_at=1,
        completed_at=2,
        input_tokens=40,
        cached_tokens=32,
    )
    assert usage_from_native_body("responses", body) == Usage(40, 3, cached_input_tokens=32)


def test_a_messages_body_counts_cache_reads_and_writes_into_the_input() -> None:
    body = message_body(TEXT, message_id="msg_1", model="claude", input_tokens=40, cached_tokens=32)
    assert body["usage"]["input_tokens"] == 8  # Anthropic's count leaves the cache reads out
    assert usage_from_native_body("messages", body) == Usage(40, 3, cached_input_tokens=32)
    usage = {
        "input_tokens": 3,
        "cache_read_input_tokens": 4,
        "cache_creation_input_tokens": 5,
        "output_tokens": 7,
    }
    assert usage_from_native_body("messages", {"usage": usage}) == Usage(
        12, 7, cached_input_tokens=4
    )


@pytest.mark.parametrize("api", ["responses", "messages"])
@pytest.mark.parametrize(
    "body",
    [None, [], {"id": "x"}, {"usage": None}, {"usage": {"output_tokens": 3}}],
    ids=["null", "array", "no usage", "usage null", "no input count"],
)
def test_a_body_without_an_input_count_reports_nothing(api: NativeApi, body: Any) -> None:
    assert usage_from_native_body(api, body) is None


# Streams with their report.


@pytest.mark.parametrize("answer", [TEXT, TOOL_CALL], ids=["text", "tool call"])
def test_a_responses_stream_reports_in_its_final_event_however_it_is_split(
    answer: NativeAnswer,
) -> None:
    stream = whole_stream(responses_stream(answer))
    assert stream.rstrip().rsplit(b"\n", 1)[1].startswith(b'data: {"type":"response.completed"')
    assert at_every_split("responses", stream) == Usage(40, 3, cached_input_tokens=32)


@pytest.mark.parametrize("answer", [TEXT, TOOL_CALL], ids=["text", "tool call"])
def test_a_messages_stream_takes_its_input_from_the_start_and_its_output_from_the_end(
    answer: NativeAnswer,
) -> None:
    stream = whole_stream(messages_stream(answer))
    # message_start: 8 uncached, 32 read from the cache, 1 output so far; message_delta: 3 out.
    assert at_every_split("messages", stream) == Usage(40, 3, cached_input_tokens=32)


def test_a_messages_delta_that_repeats_the_input_counts_overwrites_the_starts() -> None:
    """As the router's own Messages ingress writes its stream: `message_start` counts 0, and
    `message_delta` carries every count."""
    request = MessagesRequest(
        body={"model": "claude-sonnet-4-5", "max_tokens": 9, "messages": [], "stream": True},
        chat_body=CHAT_BODY,
        stream=True,
    )
    events = MessagesEvents(request, message_id="msg_1")
    chat = sse([chunk({"content": "Hi"}), chunk({}, "stop"), usage_chunk()])
    stream = events.feed(chat) + events.finish(True)
    assert b'"input_tokens":0' in stream
    # The chat usage: 9 prompt tokens, 4 of them cached, 12 completion tokens.
    assert at_every_split("messages", stream) == Usage(9, 12, cached_input_tokens=4)


def test_a_responses_stream_of_the_routers_own_ingress_reports_its_usage() -> None:
    request = ResponsesRequest(
        body={"model": "gpt-4o-mini", "input": "hi", "stream": True},
        chat_body=CHAT_BODY,
        stream=True,
    )
    events = ResponsesEvents(request, response_id="resp_1", created_at=1, new_id=lambda kind: kind)
    chat = sse([chunk({"content": "Hi"}), chunk({}, "stop"), usage_chunk()])
    stream = events.feed(chat) + events.finish(True)
    assert at_every_split("responses", stream) == Usage(9, 12, cached_input_tokens=4)


def test_the_report_is_found_after_much_more_than_the_kept_tail() -> None:
    pieces = tuple(f" word{i}" for i in range(5_000))  # a final event of about 70 KB
    answer = NativeAnswer("text", "".join(pieces), pieces, "end")
    stream = whole_stream(responses_stream(answer))
    assert len(stream) > 1_000_000
    assert counted("responses", [stream[k : k + 4096] for k in range(0, len(stream), 4096)]) == (
        Usage(40, 5_000, cached_input_tokens=32)
    )
    messages = whole_stream(messages_stream(answer))
    assert counted("messages", [messages[k : k + 100] for k in range(0, len(messages), 100)]) == (
        Usage(40, 5_000, cached_input_tokens=32)
    )


@pytest.mark.parametrize("api", ["responses", "messages"])
def test_the_memory_kept_stays_bounded_however_long_the_stream(api: NativeApi) -> None:
    pieces = tuple(f" word{i}" for i in range(20_000))
    answer = NativeAnswer("text", "".join(pieces), pieces, "end")
    stream = whole_stream(
        responses_stream(answer) if api == "responses" else messages_stream(answer)
    )
    chunks = [stream[k : k + 1000] for k in range(0, len(stream), 1000)]
    assert len(stream) > 2_000_000
    tracemalloc.start()
    try:
        counter = NativeStreamUsageCounter(api)
        for piece in chunks:
            counter.feed(piece)
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept < 100_000
    assert counter.usage(ESTIMATE) == Usage(40, 20_000, cached_input_tokens=32)


# Streams without their report.


def test_a_responses_stream_cut_before_its_final_event_counts_its_deltas() -> None:
    source = responses_stream()
    stream = source.head() + source.opening() + source.token(0) + source.token(1)
    assert at_every_split("responses", stream) == Usage(ESTIMATE, 2, counted=True)


def test_a_messages_stream_cut_before_its_delta_keeps_the_input_it_reported() -> None:
    source = messages_stream()
    stream = source.head() + source.opening() + source.token(0) + source.token(1)
    assert at_every_split("messages", stream) == Usage(40, 2, counted=True, cached_input_tokens=32)


def test_a_messages_stream_without_its_start_is_estimated() -> None:
    source = messages_stream()
    stream = source.opening() + source.token(0) + source.token(1) + source.token(2)
    assert at_every_split("messages", stream) == Usage(ESTIMATE, 3, counted=True)


@pytest.mark.parametrize("api", ["responses", "messages"])
def test_text_that_reads_like_a_report_is_not_taken_for_one(api: NativeApi) -> None:
    # In a JSON string the quotes are escaped: `"usage":{` in a model's text never matches.
    text = '"usage":{"input_tokens":999,"output_tokens":999} "delta":"x"'
    answer = NativeAnswer("text", text, (text,), "end")
    source = responses_stream(answer) if api == "responses" else messages_stream(answer)
    stream = source.head() + source.opening() + source.token(0)
    usage = counted(api, [stream])
    assert (usage.output_tokens, usage.counted) == (1, True)
    assert usage.input_tokens == (ESTIMATE if api == "responses" else 40)


def test_a_report_cut_short_falls_back_to_the_count() -> None:
    stream = whole_stream(responses_stream())
    cut = stream[: stream.rindex(b'"total_tokens"')]
    assert counted("responses", [cut]) == Usage(ESTIMATE, 3, counted=True)


# The model a stream answers with.


def test_the_model_is_read_from_the_opening_event() -> None:
    responses = whole_stream(responses_stream())
    assert native_response_model_in("responses", responses) == "gpt-4o-mini"
    messages = whole_stream(messages_stream())
    assert native_response_model_in("messages", messages) == "claude-sonnet-4-5"
    assert native_response_model_in("messages", messages[:40]) == ""
    assert native_response_model_in("responses", messages) == ""


def test_the_model_is_not_taken_from_the_instructions() -> None:
    instructions = 'Answer as if "model":"impostor" were set.'
    request = responses_request(
        {"model": "gpt-4o-mini", "input": "hi", "instructions": instructions}, REGION
    )
    stream = ResponsesStream(
        request, TEXT, response_id="r", item_id="m", created_at=1, input_tokens=1, now=lambda: 1.0
    )
    head = stream.head()
    assert b'\\"model\\":\\"impostor\\"' in head  # the instructions, echoed first
    assert native_response_model_in("responses", head) == "gpt-4o-mini"
