"""Placeholders restored in answers written in the Responses and Messages APIs
(`router.privacy.native_restoration`): whole `Response` and `Message` bodies, and their streams
as the simulated cloud and the router's own translations write them, cut at every byte, each
restored event read by the official clients' decoders and types and whole streams by the
clients themselves over a real socket; signed and encrypted values left as they came."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from functools import cache
from typing import Any

import anthropic
import orjson
import pytest
from anthropic._streaming import SSEDecoder as AnthropicDecoder
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from openai._streaming import SSEDecoder as OpenAIDecoder
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from loadtest.mock_cloud.answers import NativeAnswer, tool_argument_pieces
from loadtest.mock_cloud.parsing_responses import ResponsesRequest as MockResponsesRequest
from loadtest.mock_cloud.wire_messages import MessagesStream, message_body
from loadtest.mock_cloud.wire_responses import ResponsesStream, response_body, response_object
from router.privacy.native_restoration import (
    NativeApi,
    NativeRestoringFilter,
    NativeSseRestorer,
    restore_native_body,
)
from router.privacy.redaction import Redactor
from router.wire.messages.events import MessagesEvents
from router.wire.messages.request import MessagesRequest
from router.wire.responses.events import ResponsesEvents
from router.wire.responses.request import ResponsesRequest
from tests.chat_streams import (
    chunk,
    numbered_responses_events,
    same_at_every_split,
    sse,
    tool_piece,
    tool_start,
    usage_chunk,
)
from tests.openai_clients import async_openai
from tests.simulated_streams import whole_stream
from tests.sse_events import sse_event
from tests.sse_server import serving_sse

EMAIL, PHONE = "joao.silva@exemplo.com.br", "+55 11 91234-5678"
# A value JSON must escape, issued by hand: a PEM block's newlines, a quote, a backslash.
KEY = '-----BEGIN PRIVATE KEY-----\nMIIEvQIB"ADAN\\BgkqhkiG9w0\n-----END PRIVATE KEY-----'
RESPONSES_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
MESSAGES_EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)


def redactor_with_values() -> Redactor:
    """Issues <EMAIL_2>, <PHONE_1> and <SECRET_1>; <EMAIL_1> is the user's own text, never
    issued."""
    redactor = Redactor()
    redacted = redactor.redact(f"template <EMAIL_1>; me: {EMAIL}, {PHONE}")
    assert redacted == "template <EMAIL_1>; me: <EMAIL_2>, <PHONE_1>"
    redactor.placeholder_of[KEY] = "<SECRET_1>"
    redactor.value_of["<SECRET_1>"] = KEY
    return redactor


# What the upstream writes, in pieces (a placeholder split between two, and a text that ends on
# the start of one, which stays held until its text ends), and what the client must read.
TEXT_PIECES = ("Olá! Write to <EMA", "IL_2> or call <PHONE_1", "> today; ", "not <EMAIL_1>, a <")
TEXT = f"Olá! Write to {EMAIL} or call {PHONE} today; not <EMAIL_1>, a <"
ARGUMENT_PIECES = ('{"to": "<EMAIL', '_2>", "cc": "<EMAIL_1>", ', '"phone": "<PHONE_1>"}')
ARGUMENTS = f'{{"to": "{EMAIL}", "cc": "<EMAIL_1>", "phone": "{PHONE}"}}'
# A signature or encrypted content that happens to hold a placeholder's text.
SIGNATURE = "EqQBCkYIARgCKkA<EMAIL_2>zWq=="
ENCRYPTED = "gAAAAAB<PHONE_1>oU5w=="


def restoring(redactor: Redactor, api: NativeApi) -> Callable[..., bytes]:
    """`restore(pieces)`: the pieces fed to a new restorer, then flushed."""

    def restore(pieces: Iterable[bytes], *, complete: bool = True) -> bytes:
        restorer = NativeSseRestorer(redactor, api)
        return b"".join(restorer.feed(piece) for piece in pieces) + restorer.flush()

    return restore


def restored_events(api: NativeApi, stream: bytes) -> list[dict[str, Any]]:
    """The stream restored: the same bytes however it is split, with LF or CRLF line ends; each
    event read by its API's official decoder, named as its `type`, valid in the client's types;
    a Responses stream numbered 0..n-1."""
    restore = restoring(redactor_with_values(), api)
    out = same_at_every_split(restore, stream)
    assert restore([crlf(stream)]) == crlf(out)
    decoder = OpenAIDecoder() if api == "responses" else AnthropicDecoder()
    adapter = RESPONSES_EVENT if api == "responses" else MESSAGES_EVENT
    events = []
    for decoded in decoder.iter_bytes(iter([out])):
        data = decoded.json()
        assert decoded.event == data["type"]
        if data["type"] != "ping":  # which the anthropic client skips, as it has no type
            adapter.validate_python(data)
        events.append(data)
    if api == "responses":
        assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


def crlf(stream: bytes) -> bytes:
    return stream.replace(b"\n", b"\r\n")


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def joined(events: list[dict[str, Any]], event_type: str, **where: Any) -> str:
    """The pieces of the `event_type` deltas at `where` (fields of the event) joined."""
    deltas = [e for e in events if e["type"] == event_type]
    return "".join(e["delta"] for e in deltas if all(e[k] == v for k, v in where.items()))


def only(events: list[dict[str, Any]], event_type: str) -> dict[str, Any]:
    (event,) = [e for e in events if e["type"] == event_type]
    return event


# --- The router's translations of a chat stream: a message, then a tool call ---------------------


def chat_stream() -> bytes:
    """Text in pieces, then a call whose arguments carry placeholders, one split."""
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": piece}) for piece in TEXT_PIECES]
    chunks.append(tool_start(0, "call_1", "mail"))
    chunks += [tool_piece(0, piece) for piece in ARGUMENT_PIECES]
    return sse([*chunks, chunk({}, "tool_calls"), usage_chunk()])


def translated(translation: ResponsesEvents | MessagesEvents) -> bytes:
    return translation.feed(chat_stream()) + translation.finish(True)


def responses_translation() -> ResponsesEvents:
    request = ResponsesRequest(
        body={"model": "gpt-4o-mini", "input": "hi", "instructions": "Sign as <EMAIL_2>."},
        chat_body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        stream=True,
    )
    return numbered_responses_events(request)


def messages_translation() -> MessagesEvents:
    request = MessagesRequest(
        body={"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [], "stream": True},
        chat_body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        stream=True,
    )
    return MessagesEvents(request, message_id="msg_1")


@cache
def restored_translations(api: NativeApi) -> list[dict[str, Any]]:
    translation = responses_translation() if api == "responses" else messages_translation()
    return restored_events(api, translated(translation))


def test_responses_stream_has_its_texts_restored_however_it_is_split() -> None:
    events = restored_translations("responses")
    assert joined(events, "response.output_text.delta", output_index=0, content_index=0) == TEXT
    assert only(events, "response.output_text.done")["text"] == TEXT
    assert only(events, "response.content_part.done")["part"]["text"] == TEXT
    assert joined(events, "response.function_call_arguments.delta", output_index=1) == ARGUMENTS
    assert only(events, "response.function_call_arguments.done")["arguments"] == ARGUMENTS
    response = only(events, "response.completed")["response"]
    assert response["instructions"] == f"Sign as {EMAIL}."
    assert response["output"][0]["content"][0]["text"] == TEXT
    assert response["output"][1]["arguments"] == ARGUMENTS
    assert only(events, "response.created")["response"]["instructions"] == f"Sign as {EMAIL}."


def test_held_text_goes_out_as_a_delta_just_before_the_done_that_ends_its_text() -> None:
    events = restored_translations("responses")
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    # The last piece's "<" may still begin a placeholder: it follows alone, with no tokens.
    assert deltas == [
        "Olá! Write to ",
        f"{EMAIL} or call ",
        f"{PHONE} today; ",
        "not <EMAIL_1>, a ",
        "<",
    ]
    added = types(events).index("response.output_text.done") - 1
    assert events[added]["type"] == "response.output_text.delta"
    assert events[added]["delta"] == "<" and events[added]["logprobs"] == []
    assert events[added]["item_id"] == events[added - 1]["item_id"]


def test_messages_stream_has_its_texts_restored_however_it_is_split() -> None:
    events = restored_translations("messages")
    pieces = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert [d["text"] for d in pieces if d["type"] == "text_delta"] == [
        "Olá! Write to ",
        f"{EMAIL} or call ",
        f"{PHONE} today; ",
        "not <EMAIL_1>, a ",
        "<",
    ]
    assert "".join(d["partial_json"] for d in pieces if d["type"] == "input_json_delta") == (
        ARGUMENTS
    )
    stop = types(events).index("content_block_stop")
    assert events[stop - 1]["delta"] == {"type": "text_delta", "text": "<"}
    message = assemble_message(events)
    assert message.content[0].type == "text" and message.content[0].text == TEXT
    assert message.content[1].type == "tool_use"
    assert message.content[1].input == {"to": EMAIL, "cc": "<EMAIL_1>", "phone": PHONE}


def assemble_message(events: list[dict[str, Any]]) -> Any:
    """The message as the `anthropic` client's stream helper builds it from the events."""
    message = None
    json_bufs: dict[int, bytes] = {}
    for event in (e for e in events if e["type"] != "ping"):
        parsed = MESSAGES_EVENT.validate_python(event)
        message = accumulate_event(event=parsed, current_snapshot=message, json_bufs=json_bufs)
    return message


# --- The simulated cloud's streams: a text cut at its cap mid-placeholder, a tool call ----------

CUT_PIECES = ("Call ", "<PHO", "NE_1> or ", "<EMAIL_")
CUT_TEXT = f"Call {PHONE} or <EMAIL_"
QUERY_PIECES = ("to <EMA", "IL_2> now, not <EMAIL_1>")
QUERY = f"to {EMAIL} now, not <EMAIL_1>"


def native_answer(kind: str) -> NativeAnswer:
    if kind == "text":  # cut at the cap: the Response is incomplete
        return NativeAnswer("text", "".join(CUT_PIECES), CUT_PIECES, "cap")
    text = "".join(QUERY_PIECES)
    return NativeAnswer("tool_call", text, tool_argument_pieces(QUERY_PIECES), "end")


def mock_request() -> MockResponsesRequest:
    return MockResponsesRequest(
        body={"model": "gpt-4o-mini", "input": "hi", "instructions": "Sign as <EMAIL_2>."},
        model="gpt-4o-mini",
        stream=True,
        store=False,
        previous_response_id=None,
        max_output_tokens=16,
        input_tokens=2,
        tools=(),
    )


def mock_responses_stream(kind: str) -> bytes:
    stream = ResponsesStream(
        mock_request(),
        native_answer(kind),
        response_id="resp_2",
        item_id="msg_2",
        created_at=1_700_000_000,
        input_tokens=2,
        now=lambda: 1_700_000_001.0,
    )
    return whole_stream(stream)


def mock_messages_stream(kind: str) -> bytes:
    answer = native_answer(kind)
    return whole_stream(MessagesStream(answer, message_id="msg_2", model="claude", input_tokens=2))


def test_simulated_clouds_responses_text_cut_mid_placeholder_is_restored() -> None:
    events = restored_events("responses", mock_responses_stream("text"))
    assert joined(events, "response.output_text.delta") == CUT_TEXT
    assert only(events, "response.output_text.done")["text"] == CUT_TEXT
    done = types(events).index("response.output_text.done")
    assert events[done - 1]["delta"] == "<EMAIL_"  # held until its text ended
    response = only(events, "response.incomplete")["response"]
    assert response["output"][0]["content"][0]["text"] == CUT_TEXT
    assert response["instructions"] == f"Sign as {EMAIL}."
    assert types(events)[-1] == "response.incomplete"


def test_simulated_clouds_responses_tool_call_has_its_arguments_restored() -> None:
    events = restored_events("responses", mock_responses_stream("tool_call"))
    arguments = orjson.dumps({"q": QUERY}).decode()
    assert joined(events, "response.function_call_arguments.delta") == arguments
    assert only(events, "response.function_call_arguments.done")["arguments"] == arguments
    assert only(events, "response.completed")["response"]["output"][0]["arguments"] == arguments


@pytest.mark.parametrize("kind", ["text", "tool_call"])
def test_simulated_clouds_messages_stream_is_restored_and_pings_pass(kind: str) -> None:
    events = restored_events("messages", mock_messages_stream(kind))
    assert "ping" in types(events)
    message = assemble_message(events)
    (block,) = message.content
    if kind == "text":
        assert block.type == "text" and block.text == CUT_TEXT
        assert message.stop_reason == "max_tokens"
    else:
        assert block.type == "tool_use" and block.input == {"q": QUERY}


# --- Reasoning and thinking: texts restored, signatures and encrypted content untouched ---------

SUMMARY_PIECES = ("Mail <EMAIL", "_2>; <EMAIL_1> is their own.")
SUMMARY = f"Mail {EMAIL}; <EMAIL_1> is their own."
REASONING_PIECES = ("Call <PHONE_1> or", " <PHONE_")
REASONING = f"Call {PHONE} or <PHONE_"


def responses_events(*events: tuple[str, dict[str, Any]]) -> bytes:
    """The events as OpenAI writes them, numbered from 0."""
    return b"".join(
        sse_event(event_type, {"type": event_type, "sequence_number": number, **fields})
        for number, (event_type, fields) in enumerate(events)
    )


def messages_events(*events: tuple[str, dict[str, Any]]) -> bytes:
    return b"".join(
        sse_event(event_type, {"type": event_type, **fields}) for event_type, fields in events
    )


def reasoning_item(summary: str, reasoning: str) -> dict[str, Any]:
    return {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": summary}],
        "content": [{"type": "reasoning_text", "text": reasoning}],
        "encrypted_content": ENCRYPTED,
        "status": "completed",
    }


def mock_response(status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
    return response_object(
        mock_request(), response_id="resp_3", created_at=1_700_000_000, status=status, output=output
    )


def reasoning_stream() -> bytes:
    summary = {"item_id": "rs_1", "output_index": 0, "summary_index": 0}
    content = {"item_id": "rs_1", "output_index": 0, "content_index": 0}
    item = reasoning_item("".join(SUMMARY_PIECES), "".join(REASONING_PIECES))
    started = {**item, "summary": [], "content": [], "status": "in_progress"}
    return responses_events(
        ("response.created", {"response": mock_response("in_progress", [])}),
        ("response.output_item.added", {"output_index": 0, "item": started}),
        (
            "response.reasoning_summary_part.added",
            {**summary, "part": {"type": "summary_text", "text": ""}},
        ),
        *(
            ("response.reasoning_summary_text.delta", {**summary, "delta": p})
            for p in SUMMARY_PIECES
        ),
        ("response.reasoning_summary_text.done", {**summary, "text": item["summary"][0]["text"]}),
        ("response.reasoning_summary_part.done", {**summary, "part": item["summary"][0]}),
        (
            "response.content_part.added",
            {**content, "part": {"type": "reasoning_text", "text": ""}},
        ),
        *(("response.reasoning_text.delta", {**content, "delta": p}) for p in REASONING_PIECES),
        ("response.reasoning_text.done", {**content, "text": item["content"][0]["text"]}),
        ("response.content_part.done", {**content, "part": item["content"][0]}),
        ("response.output_item.done", {"output_index": 0, "item": item}),
        ("response.completed", {"response": mock_response("completed", [item])}),
    )


def test_reasoning_is_restored_and_its_encrypted_content_is_not() -> None:
    events = restored_events("responses", reasoning_stream())
    assert joined(events, "response.reasoning_summary_text.delta", summary_index=0) == SUMMARY
    assert only(events, "response.reasoning_summary_text.done")["text"] == SUMMARY
    assert joined(events, "response.reasoning_text.delta", content_index=0) == REASONING
    done = types(events).index("response.reasoning_text.done")
    assert events[done - 1]["delta"] == "<PHONE_"
    expected = reasoning_item(SUMMARY, REASONING)
    assert only(events, "response.output_item.done")["item"] == expected
    assert only(events, "response.completed")["response"]["output"] == [expected]


def started_message(message_id: str) -> dict[str, Any]:
    """A `message_start` event's message."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }


def thinking_stream() -> bytes:
    thinking = {"type": "thinking", "thinking": "", "signature": ""}
    redacted = {"type": "redacted_thinking", "data": "EmwKAhgB<EMAIL_2>=="}
    return messages_events(
        ("message_start", {"message": started_message("msg_3")}),
        ("content_block_start", {"index": 0, "content_block": thinking}),
        *(
            (
                "content_block_delta",
                {"index": 0, "delta": {"type": "thinking_delta", "thinking": p}},
            )
            for p in REASONING_PIECES
        ),
        (
            "content_block_delta",
            {"index": 0, "delta": {"type": "signature_delta", "signature": SIGNATURE}},
        ),
        ("content_block_stop", {"index": 0}),
        ("content_block_start", {"index": 1, "content_block": redacted}),
        ("content_block_stop", {"index": 1}),
        (
            "content_block_start",
            {"index": 2, "content_block": {"type": "text", "text": "For <EMAIL_2>"}},
        ),
        ("content_block_delta", {"index": 2, "delta": {"type": "text_delta", "text": ": done."}}),
        ("content_block_stop", {"index": 2}),
        (
            "message_delta",
            {
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 9},
            },
        ),
        ("message_stop", {}),
    )


def test_thinking_is_restored_before_its_signature_which_is_untouched() -> None:
    events = restored_events("messages", thinking_stream())
    signature = next(i for i, e in enumerate(events) if e.get("delta", {}).get("signature"))
    assert events[signature - 1]["delta"] == {"type": "thinking_delta", "thinking": "<PHONE_"}
    assert events[signature]["delta"]["signature"] == SIGNATURE
    message = assemble_message(events)
    assert [block.type for block in message.content] == ["thinking", "redacted_thinking", "text"]
    assert message.content[0].thinking == REASONING
    assert message.content[0].signature == SIGNATURE
    assert message.content[1].data == "EmwKAhgB<EMAIL_2>=="
    assert message.content[2].text == f"For {EMAIL}: done."


# --- A value JSON must escape: JSON-escaped in call arguments, raw in text --------------------

KEY_TEXT = "Your key: <SECRET_1>"
KEY_ARGUMENT_PIECES = ('{"key": "<SECR', 'ET_1>", "to": "<EMAIL_2>"}')
KEY_ARGUMENTS = "".join(KEY_ARGUMENT_PIECES)
KEY_CALL = {"key": KEY, "to": EMAIL}  # what the client's `json.loads` must read


def key_message_item() -> dict[str, Any]:
    text = {"type": "output_text", "text": KEY_TEXT, "annotations": []}
    return {
        "type": "message",
        "id": "msg_9",
        "status": "completed",
        "role": "assistant",
        "content": [text],
    }


def key_call_item() -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": "fc_9",
        "call_id": "call_9",
        "name": "store",
        "arguments": KEY_ARGUMENTS,
        "status": "completed",
    }


def key_responses_stream() -> bytes:
    """A message saying the key, then a call carrying it."""
    text = {"item_id": "msg_9", "output_index": 0, "content_index": 0}
    call = {"item_id": "fc_9", "output_index": 1}
    message, function_call = key_message_item(), key_call_item()
    return responses_events(
        ("response.created", {"response": mock_response("in_progress", [])}),
        ("response.output_item.added", {"output_index": 0, "item": {**message, "content": []}}),
        ("response.output_text.delta", {**text, "delta": KEY_TEXT, "logprobs": []}),
        ("response.output_text.done", {**text, "text": KEY_TEXT, "logprobs": []}),
        ("response.output_item.done", {"output_index": 0, "item": message}),
        (
            "response.output_item.added",
            {"output_index": 1, "item": {**function_call, "arguments": ""}},
        ),
        *(
            ("response.function_call_arguments.delta", {**call, "delta": p})
            for p in KEY_ARGUMENT_PIECES
        ),
        ("response.function_call_arguments.done", {**call, "arguments": KEY_ARGUMENTS}),
        ("response.output_item.done", {"output_index": 1, "item": function_call}),
        ("response.completed", {"response": mock_response("completed", [message, function_call])}),
    )


def test_responses_call_arguments_get_values_json_escaped_and_text_gets_them_raw() -> None:
    events = restored_events("responses", key_responses_stream())
    assert joined(events, "response.output_text.delta") == f"Your key: {KEY}"
    arguments = joined(events, "response.function_call_arguments.delta")
    assert json.loads(arguments) == KEY_CALL
    assert only(events, "response.function_call_arguments.done")["arguments"] == arguments
    items = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert items[0]["content"][0]["text"] == f"Your key: {KEY}"
    assert items[1]["arguments"] == arguments
    response = only(events, "response.completed")["response"]
    assert response["output"] == items


def key_mcp_stream() -> bytes:
    """An MCP tool call carrying the key in its arguments, streamed as OpenAI streams one."""
    call = {"item_id": "mcp_9", "output_index": 0}
    item = {
        "type": "mcp_call",
        "id": "mcp_9",
        "server_label": "vault",
        "name": "store",
        "arguments": KEY_ARGUMENTS,
    }
    return responses_events(
        ("response.created", {"response": mock_response("in_progress", [])}),
        ("response.output_item.added", {"output_index": 0, "item": {**item, "arguments": ""}}),
        *(("response.mcp_call_arguments.delta", {**call, "delta": p}) for p in KEY_ARGUMENT_PIECES),
        ("response.mcp_call_arguments.done", {**call, "arguments": KEY_ARGUMENTS}),
        ("response.output_item.done", {"output_index": 0, "item": item}),
        ("response.completed", {"response": mock_response("completed", [item])}),
    )


def test_mcp_call_arguments_get_values_json_escaped_in_a_stream_and_a_body() -> None:
    events = restored_events("responses", key_mcp_stream())
    arguments = joined(events, "response.mcp_call_arguments.delta")
    assert json.loads(arguments) == KEY_CALL
    assert json.loads(only(events, "response.mcp_call_arguments.done")["arguments"]) == KEY_CALL
    (item,) = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert json.loads(item["arguments"]) == KEY_CALL
    response = only(events, "response.completed")["response"]
    assert response["output"] == [item]
    approval = {**item, "type": "mcp_approval_request"}
    body = orjson.dumps(mock_response("completed", [item, approval]))
    restored = orjson.loads(restore_native_body(body, redactor_with_values(), "responses"))
    assert [json.loads(i["arguments"]) for i in restored["output"]] == [KEY_CALL, KEY_CALL]


def key_messages_stream() -> bytes:
    """A text saying the key, then a tool_use block carrying it."""
    tool_use = {"type": "tool_use", "id": "toolu_9", "name": "store", "input": {}}
    return messages_events(
        ("message_start", {"message": started_message("msg_9")}),
        ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": KEY_TEXT}}),
        ("content_block_stop", {"index": 0}),
        ("content_block_start", {"index": 1, "content_block": tool_use}),
        *(
            (
                "content_block_delta",
                {"index": 1, "delta": {"type": "input_json_delta", "partial_json": p}},
            )
            for p in KEY_ARGUMENT_PIECES
        ),
        ("content_block_stop", {"index": 1}),
        (
            "message_delta",
            {
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 9},
            },
        ),
        ("message_stop", {}),
    )


def test_messages_input_json_gets_values_json_escaped_and_text_gets_them_raw() -> None:
    events = restored_events("messages", key_messages_stream())
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    partial_json = "".join(d["partial_json"] for d in deltas if d["type"] == "input_json_delta")
    assert json.loads(partial_json) == KEY_CALL
    message = assemble_message(events)
    assert message.content[0].type == "text" and message.content[0].text == f"Your key: {KEY}"
    assert message.content[1].type == "tool_use" and message.content[1].input == KEY_CALL


def test_bodies_get_call_arguments_json_escaped_and_decoded_input_raw() -> None:
    response = mock_response("completed", [key_message_item(), key_call_item()])
    restored = orjson.loads(
        restore_native_body(orjson.dumps(response), redactor_with_values(), "responses")
    )
    assert Response.model_validate(restored).output_text == f"Your key: {KEY}"
    assert json.loads(restored["output"][1]["arguments"]) == KEY_CALL
    tool_use = {
        "type": "tool_use",
        "id": "toolu_9",
        "name": "store",
        "input": {"key": "<SECRET_1>"},
    }
    message = {
        **started_message("msg_9"),
        "content": [{"type": "text", "text": KEY_TEXT}, tool_use],
    }
    restored = orjson.loads(
        restore_native_body(orjson.dumps(message), redactor_with_values(), "messages")
    )
    Message.model_validate(restored)
    assert restored["content"][0]["text"] == f"Your key: {KEY}"
    assert restored["content"][1]["input"] == {"key": KEY}  # an object: its strings are no JSON


# --- Held text at the end of an item, of the response, of the stream ---------------------------


def unfinished_message_events() -> tuple[tuple[str, dict[str, Any]], ...]:
    """A message whose text stops on the start of a placeholder, its `.done` events missing."""
    fields = {"item_id": "msg_4", "output_index": 0, "content_index": 0}
    item = {"type": "message", "id": "msg_4", "status": "in_progress", "role": "assistant"}
    part = {"type": "output_text", "text": "", "annotations": []}
    return (
        ("response.created", {"response": mock_response("in_progress", [])}),
        ("response.output_item.added", {"output_index": 0, "item": {**item, "content": []}}),
        ("response.content_part.added", {**fields, "part": part}),
        ("response.output_text.delta", {**fields, "delta": "Mail <EMA", "logprobs": []}),
    )


@pytest.mark.parametrize("ending", ["response.output_item.done", "error"])
def test_held_text_goes_out_before_its_item_or_the_response_ends(ending: str) -> None:
    if ending == "error":
        fields: dict[str, Any] = {"code": "server_error", "message": "<EMAIL_2>?", "param": None}
    else:
        item = {"type": "message", "id": "msg_4", "status": "incomplete", "role": "assistant"}
        text = {"type": "output_text", "text": "Mail <EMA", "annotations": []}
        fields = {"output_index": 0, "item": {**item, "content": [text]}}
    stream = responses_events(*unfinished_message_events(), (ending, fields))
    events = restored_events("responses", stream)
    assert types(events)[-3:] == ["response.output_text.delta"] * 2 + [ending]
    assert [e["delta"] for e in events[-3:-1]] == ["Mail ", "<EMA"]
    if ending == "error":
        assert events[-1]["message"] == f"{EMAIL}?"


def test_messages_held_text_goes_out_before_an_error() -> None:
    stream = messages_events(
        ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "a <PHO"}}),
        ("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}}),
    )
    out = restoring(redactor_with_values(), "messages")([stream])
    assert out.split(b"\n\n")[1:3] == [
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        b'{"type":"text_delta","text":"a "}}',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        b'{"type":"text_delta","text":"<PHO"}}',
    ]
    assert out.endswith(stream.split(b"\n\n")[2] + b"\n\n")


def test_flush_sends_held_text_numbered_on_and_drops_an_incomplete_event() -> None:
    stream = responses_events(*unfinished_message_events(), ("response.output_item.done", {}))
    cut = stream.index(b"response.output_item.done") + 10
    restorer = NativeSseRestorer(redactor_with_values(), "responses")
    out = restorer.feed(stream[:cut])
    assert out.endswith(b'"delta":"Mail ","logprobs":[]}\n\n')
    flushed = restorer.flush()
    assert flushed == (
        b"event: response.output_text.delta\n"
        b'data: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_4",'
        b'"output_index":0,"content_index":0,"delta":"<EMA","logprobs":[]}\n\n'
    )
    assert restorer.flush() == b""


# --- What passes as it came ---------------------------------------------------------------------


def test_a_stream_with_nothing_to_restore_passes_byte_for_byte() -> None:
    plain = NativeAnswer("text", "No values 2 > 1 here.", ("No values", " 2 > 1 here."), "end")
    stream = whole_stream(MessagesStream(plain, message_id="msg_5", model="claude", input_tokens=2))
    restore = restoring(redactor_with_values(), "messages")
    assert same_at_every_split(restore, stream) == stream
    restorer = NativeSseRestorer(redactor_with_values(), "messages")
    assert restorer.feed(stream) is stream  # whole events, no "<": not even read
    unissued = stream.replace(b"No values", b"Not <EMAIL_1>")
    assert restore([unissued]) == unissued


def test_a_stream_when_nothing_was_redacted_passes_unread() -> None:
    stream = translated(responses_translation())
    restorer = NativeSseRestorer(Redactor(), "responses")
    pieces = [stream[k : k + 7] for k in range(0, len(stream), 7)]
    assert all(restorer.feed(piece) is piece for piece in pieces)
    assert restorer.flush() == b""


def test_a_placeholder_escaped_as_unicode_is_restored_in_a_stream() -> None:
    stream = (
        b"event: content_block_delta\r\n"
        b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
        b'"text":"\\u003cEMAIL_2\\u003e"}}\r\n\r\n'
    )
    out = restoring(redactor_with_values(), "messages")([stream])
    assert out == stream.replace(b"\\u003cEMAIL_2\\u003e", EMAIL.encode())


# --- Whole bodies -------------------------------------------------------------------------------


def test_a_response_body_has_its_texts_restored_but_not_its_encrypted_content() -> None:
    answer = NativeAnswer("text", "".join(CUT_PIECES), CUT_PIECES, "end")
    response = response_body(
        mock_request(),
        answer,
        response_id="resp_6",
        item_id="msg_6",
        created_at=1_700_000_000,
        completed_at=1_700_000_001,
        input_tokens=2,
    )
    reasoning = reasoning_item("".join(SUMMARY_PIECES), "".join(REASONING_PIECES))
    call = {
        "type": "function_call",
        "id": "fc_6",
        "call_id": "call_6",
        "name": "mail",
        "arguments": "".join(ARGUMENT_PIECES),
        "status": "completed",
    }
    response["output"] = [reasoning, *response["output"], call]
    restored = orjson.loads(
        restore_native_body(orjson.dumps(response), redactor_with_values(), "responses")
    )
    parsed = Response.model_validate(restored)
    assert parsed.output_text == CUT_TEXT
    assert restored["output"][0] == reasoning_item(SUMMARY, REASONING)
    assert restored["output"][2]["arguments"] == ARGUMENTS
    assert restored["instructions"] == f"Sign as {EMAIL}."


def test_a_message_body_has_its_texts_restored_but_not_its_signatures() -> None:
    answer = NativeAnswer("tool_call", "".join(QUERY_PIECES), (), "end")
    message = message_body(answer, message_id="msg_7", model="claude", input_tokens=2)
    thinking = {"type": "thinking", "thinking": "".join(REASONING_PIECES), "signature": SIGNATURE}
    redacted = {"type": "redacted_thinking", "data": "EmwKAhgB<EMAIL_2>=="}
    text = {"type": "text", "text": "".join(TEXT_PIECES)}
    message["content"] = [thinking, redacted, text, *message["content"]]
    restored = orjson.loads(
        restore_native_body(orjson.dumps(message), redactor_with_values(), "messages")
    )
    Message.model_validate(restored)
    assert restored["content"] == [
        {**thinking, "thinking": REASONING},
        redacted,
        {"type": "text", "text": TEXT},
        {**message["content"][3], "input": {"q": QUERY}},
    ]


def test_a_body_with_nothing_to_restore_is_returned_as_it_came() -> None:
    message = message_body(
        NativeAnswer("text", "Hi <EMAIL_1>", ("Hi <EMAIL_1>",), "end"),
        message_id="msg_8",
        model="claude",
        input_tokens=2,
    )
    body = orjson.dumps(message)
    assert (
        restore_native_body(body, redactor_with_values(), "messages") is body
    )  # only the user's own
    plain = body.replace(b"<EMAIL_1>", b"there")
    assert restore_native_body(plain, redactor_with_values(), "messages") is plain
    issued = body.replace(b"<EMAIL_1>", b"<EMAIL_2>")
    assert restore_native_body(issued, Redactor(), "messages") is issued
    assert restore_native_body(b"<EMAIL_2> not json", redactor_with_values(), "messages") == (
        b"<EMAIL_2> not json"
    )


def test_a_body_with_a_placeholder_escaped_as_unicode_is_restored() -> None:
    body = b'{"type":"message","content":[{"type":"text","text":"\\u003cPHONE_1\\u003e"}]}'
    restored = orjson.loads(restore_native_body(body, redactor_with_values(), "messages"))
    assert restored["content"][0]["text"] == PHONE


# --- The filter, and the official clients reading restored streams ------------------------------


def test_the_filter_restores_a_body_and_a_stream_cut_anywhere() -> None:
    redactor = redactor_with_values()
    body = orjson.dumps({"type": "message", "content": [{"type": "text", "text": "<EMAIL_2>"}]})
    assert NativeRestoringFilter(redactor, "messages").body(body) == body.replace(
        b"<EMAIL_2>", EMAIL.encode()
    )
    stream = thinking_stream()
    answer_filter = NativeRestoringFilter(redactor, "messages")
    out = b"".join(answer_filter.feed(stream[k : k + 5]) for k in range(0, len(stream), 5))
    assert out + answer_filter.finish(True) == restoring(redactor, "messages")([stream])
    assert NativeRestoringFilter(redactor, "responses").finish(False) == b""


@pytest.mark.asyncio
async def test_the_openai_client_reads_a_restored_stream() -> None:
    body = restoring(redactor_with_values(), "responses")([translated(responses_translation())])

    async def read(client: Any) -> tuple[list[Any], Any]:
        async with client.responses.stream(model="m", input="hi") as stream:
            events = [event async for event in stream]
            return events, await stream.get_final_response()

    events, response = await _with_server("/v1/responses", body, read)
    snapshots = [e.snapshot for e in events if e.type == "response.output_text.delta"]
    assert snapshots[-1] == TEXT
    assert response.output_text == TEXT
    assert response.output[1].arguments == ARGUMENTS


@pytest.mark.asyncio
async def test_the_anthropic_client_reads_a_restored_stream() -> None:
    body = restoring(redactor_with_values(), "messages")([translated(messages_translation())])

    async def read(client: Any) -> Any:
        async with client.messages.stream(model="m", max_tokens=10, messages=[]) as stream:
            return await stream.get_final_message()

    message = await _with_server("/v1/messages", body, read)
    assert message.content[0].text == TEXT
    assert message.content[1].input == {"to": EMAIL, "cc": "<EMAIL_1>", "phone": PHONE}


async def _with_server(path: str, body: bytes, use: Callable[[Any], Awaitable[Any]]) -> Any:
    async with serving_sse(path, body) as base_url:
        if path == "/v1/responses":
            client: Any = async_openai(base_url + "/v1", api_key="x", max_retries=0)
        else:
            client = anthropic.AsyncAnthropic(base_url=base_url, api_key="x", max_retries=0)
        try:
            return await use(client)
        finally:
            await client.close()
