"""The start of a stream in a native API (OpenAI's Responses, Anthropic's Messages), read before
the client is committed to it (`router.wire.stream_start`): held through the events that only
open the answer, relayed at the first with content, and an error before then returned as the
OpenAI error object the forwarding stage fails over on (or refuses with, when the request itself
is at fault). The streams are the simulated cloud's (`loadtest.mock_cloud.wire_responses`,
`wire_messages`) and the router's own ingress translations."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from loadtest.mock_cloud.answers import NativeAnswer, tool_argument_pieces
from loadtest.mock_cloud.parsing_responses import responses_request
from loadtest.mock_cloud.wire_messages import MessagesStream
from loadtest.mock_cloud.wire_responses import ResponsesStream, response_object
from router.wire.messages.events import MessagesEvents
from router.wire.messages.request import MessagesRequest
from router.wire.native import NativeApi
from router.wire.responses.events import ResponsesEvents
from router.wire.responses.request import ResponsesRequest
from router.wire.stream_start import PEEK_BYTES, StartVerdict, stream_start
from tests.chat_streams import chunk, sse
from tests.simulated_streams import (
    REGION,
    simulated_messages_stream,
    simulated_responses_stream,
)
from tests.sse_events import sse_event

PIECES = ("Hello", " there")
TEXT = NativeAnswer("text", "".join(PIECES), PIECES, "end")
REFUSAL = NativeAnswer("refusal", "".join(PIECES), PIECES, "end")
TOOL_CALL = NativeAnswer("tool_call", "".join(PIECES), tool_argument_pieces(PIECES), "end")
PING = b'event: ping\ndata: {"type":"ping"}\n\n'
KEEP_ALIVE = b": keep-alive\n\n"


def responses_stream(answer: NativeAnswer = TEXT, **body: Any) -> ResponsesStream:
    return simulated_responses_stream(answer, input_tokens=5, **body)


def messages_stream(answer: NativeAnswer = TEXT) -> MessagesStream:
    return simulated_messages_stream(answer, input_tokens=5)


def event(event_type: str, **fields: Any) -> bytes:
    return sse_event(event_type, {"type": event_type, **fields})


def response_failed(error: dict[str, Any] | None) -> bytes:
    request = responses_request({"model": "gpt-4o-mini", "input": "hi"}, REGION)
    response = response_object(
        request, response_id="resp_1", created_at=1, status="failed", output=[]
    )
    return event("response.failed", sequence_number=4, response={**response, "error": error})


def data_of(one_event: bytes) -> Any:
    return orjson.loads(one_event.split(b"data: ", 1)[1])


def assert_held_until(head: bytes, decided_at: int, verdict: StartVerdict, api: NativeApi) -> None:
    """`head` cut at every byte: read on until its first `decided_at` bytes are in, then
    `verdict` (as an upstream may split its bytes anywhere)."""
    for cut in range(len(head) + 1):
        expected = verdict if cut >= decided_at else "read_more"
        assert stream_start(head[:cut], api) == expected, f"cut at byte {cut}"


# Responses: what the stream is at its first event with content.


@pytest.mark.parametrize("answer", [TEXT, REFUSAL], ids=["text", "refusal"])
def test_a_responses_stream_is_held_through_its_opening_events_and_relayed_at_its_first_delta(
    answer: NativeAnswer,
) -> None:
    stream = responses_stream(answer)
    opening = stream.head() + stream.opening()  # created, in_progress, item and part added
    assert stream_start(opening, "responses") == "read_more"
    first_delta = stream.token(0)
    assert_held_until(
        opening + first_delta + stream.token(1), len(opening + first_delta), "relay", "responses"
    )


def test_a_responses_tool_call_is_content_from_its_item_on() -> None:
    stream = responses_stream(TOOL_CALL)
    head = stream.head()
    item_added = stream.opening()  # a function_call item: no content part
    assert item_added.startswith(b"event: response.output_item.added\n")
    assert_held_until(
        head + item_added + stream.token(0), len(head + item_added), "relay", "responses"
    )


def test_a_responses_item_or_part_with_content_already_is_relayed() -> None:
    head = responses_stream().head()
    message = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed"}
    whole_item = event(
        "response.output_item.added",
        output_index=0,
        item={**message, "content": [{"type": "output_text", "text": "Hi", "annotations": []}]},
    )
    assert stream_start(head + whole_item, "responses") == "relay"
    whole_part = event(
        "response.content_part.added",
        item_id="msg_1",
        output_index=0,
        content_index=0,
        part={"type": "output_text", "text": "Hi", "annotations": []},
    )
    empty_item = event(
        "response.output_item.added", output_index=0, item={**message, "content": []}
    )
    assert stream_start(head + empty_item, "responses") == "read_more"
    assert stream_start(head + empty_item + whole_part, "responses") == "relay"


def test_a_reasoning_item_and_its_empty_summary_part_are_read_through() -> None:
    head = responses_stream().head()
    reasoning = event(
        "response.output_item.added",
        output_index=0,
        item={"type": "reasoning", "id": "rs_1", "summary": []},
    )
    summary_part = event(
        "response.reasoning_summary_part.added",
        item_id="rs_1",
        output_index=0,
        summary_index=0,
        part={"type": "summary_text", "text": ""},
    )
    summary_delta = event(
        "response.reasoning_summary_text.delta", item_id="rs_1", output_index=0, delta="Think"
    )
    assert stream_start(head + reasoning + summary_part, "responses") == "read_more"
    assert stream_start(head + reasoning + summary_part + summary_delta, "responses") == "relay"


def test_a_queued_background_response_is_read_through() -> None:
    stream = responses_stream()
    created, in_progress = stream.head().split(b"\n\n", 1)
    queued = event("response.queued", sequence_number=1, response={"status": "queued"})
    head = created + b"\n\n" + queued + in_progress + stream.opening()
    assert stream_start(head, "responses") == "read_more"
    assert stream_start(head + stream.token(0), "responses") == "relay"


# Responses: an error before content.

RESPONSES_ERRORS = [
    (429, "requests", 429),
    (500, "server_error", 500),
    (400, "invalid_request_error", 400),
]


@pytest.mark.parametrize(("status", "error_type", "code"), RESPONSES_ERRORS)
def test_a_responses_error_event_after_the_opening_is_the_attempts_error(
    status: int, error_type: str, code: int
) -> None:
    stream = responses_stream()
    opening = stream.head() + stream.opening()
    error = stream.error(status)
    verdict = stream_start(opening + error, "responses")
    assert isinstance(verdict, dict)
    assert verdict == {
        "message": data_of(error)["message"],
        "type": error_type,
        "param": None,
        "code": code,
    }
    assert_held_until(opening + error, len(opening + error), verdict, "responses")


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        ("server_error", "server_error"),
        ("rate_limit_exceeded", "requests"),
        ("vector_store_timeout", "timeout"),
        ("invalid_prompt", "invalid_request_error"),
        ("context_length_exceeded", "invalid_request_error"),
        ("invalid_image_url", "invalid_request_error"),
    ],
)
def test_a_failed_response_before_content_is_typed_by_its_code(code: str, error_type: str) -> None:
    stream = responses_stream()
    opening = stream.head() + stream.opening()
    failed = response_failed({"code": code, "message": "It failed."})
    verdict = stream_start(opening + failed, "responses")
    assert isinstance(verdict, dict)
    assert (verdict["type"], verdict["message"]) == (error_type, "It failed.")
    assert_held_until(opening + failed, len(opening + failed), verdict, "responses")


def test_a_failed_response_without_its_error_is_the_upstreams_failure() -> None:
    verdict = stream_start(responses_stream().head() + response_failed(None), "responses")
    assert isinstance(verdict, dict)
    assert (verdict["type"], verdict["code"]) == ("server_error", 500)


def test_an_error_after_the_first_delta_is_relayed_too_late_to_fail_over() -> None:
    stream = responses_stream()
    head = stream.head() + stream.opening() + stream.token(0) + stream.error(500)
    assert stream_start(head, "responses") == "relay"


@pytest.mark.parametrize(
    ("chat_error", "error_type"),
    [
        (
            {"message": "Bad tools.", "type": "invalid_request_error", "code": None},
            "invalid_request_error",
        ),
        (
            {"message": "No quota.", "type": "insufficient_quota", "code": None},
            "insufficient_quota",
        ),
    ],
)
def test_an_error_relayed_by_another_routers_responses_ingress_keeps_its_kind(
    chat_error: dict[str, Any], error_type: str
) -> None:
    request = ResponsesRequest(
        body={"model": "gpt-4o-mini", "input": "hi", "stream": True},
        chat_body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        stream=True,
    )
    events = ResponsesEvents(request, response_id="resp_1", created_at=1, new_id=lambda kind: kind)
    head = events.feed(sse([{"error": chat_error}], done=False))
    verdict = stream_start(head, "responses")
    assert isinstance(verdict, dict)
    assert (verdict["type"], verdict["message"]) == (error_type, chat_error["message"])


# Messages.


def test_a_messages_stream_is_held_through_its_opening_events_and_relayed_at_its_first_delta() -> (
    None
):
    stream = messages_stream()
    opening = stream.head() + stream.opening()  # message_start, an empty text block, a ping
    assert opening.count(b"\n\n") == 3
    first_delta = stream.token(0)
    assert_held_until(
        opening + first_delta + stream.token(1), len(opening + first_delta), "relay", "messages"
    )


@pytest.mark.parametrize(
    "block",
    [
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
        {"type": "thinking", "thinking": "", "signature": ""},
        {"type": "text", "text": "Hi"},
    ],
    ids=["tool_use", "thinking", "text with text"],
)
def test_a_messages_block_other_than_an_empty_text_is_content(block: dict[str, Any]) -> None:
    head = messages_stream().head()
    start = event("content_block_start", index=0, content_block=block)
    assert_held_until(head + start, len(head + start), "relay", "messages")


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [
        (529, "service_unavailable", 529),
        (429, "requests", 429),
        (500, "server_error", 500),
        (400, "invalid_request_error", 400),
        (413, "invalid_request_error", 413),
    ],
)
def test_a_messages_error_event_is_typed_as_its_translation_to_chat_types_it(
    status: int, error_type: str, code: int
) -> None:
    stream = messages_stream()
    opening = stream.head() + stream.opening()
    error = stream.error(status)
    verdict = stream_start(opening + error, "messages")
    assert isinstance(verdict, dict)
    assert verdict == {
        "message": data_of(error)["error"]["message"],
        "type": error_type,
        "param": None,
        "code": code,
    }
    assert_held_until(opening + error, len(opening + error), verdict, "messages")


def test_a_messages_error_as_the_first_event_and_one_without_its_body_fail_the_attempt() -> None:
    overloaded = stream_start(messages_stream().error(529), "messages")
    assert isinstance(overloaded, dict) and overloaded["type"] == "service_unavailable"
    bare = stream_start(b'event: error\ndata: {"type":"error"}\n\n', "messages")
    assert isinstance(bare, dict)
    assert (bare["type"], bare["code"]) == ("server_error", 500)


def test_an_error_relayed_by_another_routers_messages_ingress_keeps_its_kind() -> None:
    request = MessagesRequest(
        body={"model": "claude-sonnet-4-5", "max_tokens": 9, "messages": [], "stream": True},
        chat_body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        stream=True,
    )
    refused = {"message": "Bad tools.", "type": "invalid_request_error", "code": 400}
    head = MessagesEvents(request, message_id="msg_1").feed(sse([{"error": refused}], done=False))
    assert stream_start(head, "messages") == {
        "message": "Bad tools.",
        "type": "invalid_request_error",
        "param": None,
        "code": 400,
    }
    content = sse([chunk({"role": "assistant", "content": ""}), chunk({"content": "Hi"})])
    assert (
        stream_start(MessagesEvents(request, message_id="msg_1").feed(content), "messages")
        == "relay"
    )


# Both APIs: how events are framed, and the bounds.


def opening_and_first_delta(api: NativeApi) -> tuple[bytes, bytes]:
    stream = responses_stream() if api == "responses" else messages_stream()
    return stream.head() + stream.opening(), stream.token(0)


def error_event(api: NativeApi) -> bytes:
    return responses_stream().error(500) if api == "responses" else messages_stream().error(529)


@pytest.mark.parametrize("api", ["responses", "messages"])
def test_events_without_event_lines_or_with_crlf_are_read_by_their_data(api: NativeApi) -> None:
    opening, first_delta = opening_and_first_delta(api)
    data_only = re.sub(rb"event: [^\n]*\n", b"", opening + first_delta)
    assert b"event:" not in data_only
    assert_held_until(data_only, len(data_only), "relay", api)
    crlf = (opening + first_delta).replace(b"\n", b"\r\n")
    assert_held_until(crlf, len(crlf), "relay", api)
    data_only_error = re.sub(rb"event: [^\n]*\n", b"", opening + error_event(api))
    assert isinstance(stream_start(data_only_error, api), dict)


@pytest.mark.parametrize("api", ["responses", "messages"])
def test_past_six_events_without_content_the_stream_is_relayed(api: NativeApi) -> None:
    opening, _ = opening_and_first_delta(api)
    five = opening + KEEP_ALIVE * (5 - opening.count(b"\n\n"))
    assert stream_start(five, api) == "read_more"
    assert isinstance(stream_start(five + error_event(api), api), dict)
    # Six events looked at, none with content: relayed, even with an error right after them.
    six = five + KEEP_ALIVE
    assert stream_start(six, api) == "relay"
    assert stream_start(six + error_event(api), api) == "relay"


def test_messages_pings_count_toward_the_bound() -> None:
    stream = messages_stream()
    head = stream.head() + stream.opening()  # three events
    assert stream_start(head + PING * 2, "messages") == "read_more"
    assert stream_start(head + PING * 3, "messages") == "relay"


@pytest.mark.parametrize("api", ["responses", "messages"])
def test_an_opening_event_longer_than_the_peek_is_relayed_rather_than_held(api: NativeApi) -> None:
    if api == "responses":
        head = responses_stream(instructions="Be brief. " * (PEEK_BYTES // 10)).head()
        assert len(head) > PEEK_BYTES
    else:
        head = event("message_start", message={"id": "msg_1", "content": [], "x": "y" * PEEK_BYTES})
    assert stream_start(head[: PEEK_BYTES - 1], api) == "read_more"
    assert stream_start(head[:PEEK_BYTES], api) == "relay"
    assert stream_start(head, api) == "relay"  # whole, yet no content within the peek


def test_the_api_decides_what_opens_a_stream() -> None:
    # Read as chat, `message_start` is a chunk with more than a role: the error after it is
    # relayed. Read as Messages, it only opens the answer: the error fails the attempt.
    stream = messages_stream()
    head = stream.head() + stream.error(529)
    assert stream_start(head) == "relay"
    verdict = stream_start(head, "messages")
    assert isinstance(verdict, dict) and verdict["type"] == "service_unavailable"
