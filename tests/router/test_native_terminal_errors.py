"""A passed-through answer goes to the client as the endpoint sent it, and a passed-through stream
that breaks after its start ends with its own API's `error` event: Anthropic's, or the Responses
API's numbered after the last event relayed. Read with the official clients' types."""

from __future__ import annotations

import anthropic.types
import openai.types.responses
import orjson
import pydantic

from router.answer import Answer, ReadyChunks
from router.errors import UpstreamTimeout
from router.messages_ingress import parse_messages
from router.responses_ingress import parse_responses
from router.wire.event_reader import EventReader

RESPONSES_EVENTS = pydantic.TypeAdapter(openai.types.responses.ResponseStreamEvent)
BROKEN = UpstreamTimeout("The upstream stalled mid-stream.", endpoint="far-a")


def _event(name: str, **data: object) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data}) + b"\n\n"


def _relayed(answer: Answer, chunks: list[bytes]) -> bytes:
    out = b""
    for chunk in chunks:
        for answer_filter in answer.filters:
            chunk = answer_filter.feed(chunk)
        out += chunk
    return out


def test_a_passed_through_responses_stream_ends_with_an_error_numbered_after_its_last() -> None:
    _, translation = parse_responses(orjson.dumps({"model": "m", "input": "hi", "stream": True}))
    response = {"id": "resp_1", "object": "response", "created_at": 1, "status": "in_progress",
                "model": "m", "output": [], "parallel_tool_calls": True, "tool_choice": "auto",
                "tools": []}  # fmt: skip
    chunks = [
        _event("response.created", response=response, sequence_number=0),
        _event("response.in_progress", response=response, sequence_number=1),
        # The third event split between two reads, its number in the second.
        _event("response.output_text.delta", item_id="msg_1", output_index=0,
               content_index=0, delta="Hel", logprobs=[], sequence_number=2)[:60],
        _event("response.output_text.delta", item_id="msg_1", output_index=0,
               content_index=0, delta="Hel", logprobs=[], sequence_number=2)[60:],
    ]  # fmt: skip
    answer = Answer(chunks=ReadyChunks(*chunks), form="responses")
    translation.apply(answer)
    relayed = _relayed(answer, chunks)
    assert relayed == b"".join(chunks)  # as the endpoint sent it
    ending = answer.terminal_error(BROKEN)
    events = [orjson.loads(e.data) for e in EventReader().feed(relayed + ending)]
    for event in events:
        RESPONSES_EVENTS.validate_python(event)
    assert events[-1]["type"] == "error"
    assert events[-1]["sequence_number"] == 3
    assert events[-1]["message"] == BROKEN.message and events[-1]["code"] == "upstream_timeout"


def test_a_passed_through_json_response_is_the_endpoints_own() -> None:
    _, translation = parse_responses(orjson.dumps({"model": "m", "input": "hi"}))
    body = b'{"id":"resp_upstream","object":"response","output":[]}'
    answer = Answer(body=body, form="responses")
    translation.apply(answer)
    assert answer.filtered_body() == body


def test_a_passed_through_messages_stream_ends_with_anthropics_error_event() -> None:
    ask = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    _, translation = parse_messages(orjson.dumps({**ask, "stream": True}))
    start = _event(
        "message_start",
        message={"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                 "content": [], "stop_reason": None, "stop_sequence": None,
                 "usage": {"input_tokens": 3, "output_tokens": 0}},
    )  # fmt: skip
    answer = Answer(chunks=ReadyChunks(start), form="messages")
    translation.apply(answer)
    assert _relayed(answer, [start]) == start
    (event,) = EventReader().feed(answer.terminal_error(BROKEN))
    assert event.name == "error"
    error = anthropic.types.BetaErrorResponse.model_validate(orjson.loads(event.data))
    assert error.error.type == "timeout_error"
    assert orjson.loads(event.data)["error"] == {"type": "timeout_error", "message": BROKEN.message}
