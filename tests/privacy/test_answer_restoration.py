"""Placeholders restored in answers: whole JSON answers, and SSE streams cut anywhere, down to one
byte at a time and inside multi-byte characters, read back the way a client would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from router.privacy.answer_restoration import (
    SseRestorer,
    restore_json_answer,
    restore_json_body,
)
from router.privacy.redaction import Redactor

EMAIL, PHONE, CPF = "joao.silva@exemplo.com.br", "+55 11 91234-5678", "529.982.247-25"
# No detector finds names; a value with multi-byte characters is issued by hand below.
NAME = "José Ñúñez-Gonçalves ✓😀"
# A value JSON must escape, also issued by hand: a PEM block's newlines, a quote, a backslash.
KEY = '-----BEGIN PRIVATE KEY-----\nMIIEvQIB"ADAN\\BgkqhkiG9w0\n-----END PRIVATE KEY-----'
HEAD = {
    "id": "chatcmpl-7",
    "object": "chat.completion.chunk",
    "created": 1_700_000_000,
    "model": "gpt-4o-mini",
    "system_fingerprint": "fp_test",
}


def redactor_with_values() -> Redactor:
    """Issues <EMAIL_2>, <PHONE_1>, <CPF_1>, <NAME_1> and <SECRET_1>; <EMAIL_1> is the user's own
    text."""
    redactor = Redactor()
    redacted = redactor.redact(f"template <EMAIL_1>; me: {EMAIL}, {PHONE}, CPF {CPF}")
    assert redacted == "template <EMAIL_1>; me: <EMAIL_2>, <PHONE_1>, CPF <CPF_1>"
    for value, placeholder in ((NAME, "<NAME_1>"), (KEY, "<SECRET_1>")):
        redactor.placeholder_of[value] = placeholder
        redactor.value_of[placeholder] = value
    return redactor


# What the upstream writes (placeholders) and what the client must read (values).
ANSWER = "Olá <NAME_1>! Ação: write to <EMAIL_2> or call <PHONE_1> (CPF <CPF_1>). Not <EMAIL_1>."
RESTORED = f"Olá {NAME}! Ação: write to {EMAIL} or call {PHONE} (CPF {CPF}). Not <EMAIL_1>."
SECOND = "<CPF_1><NAME_1>✓ 2 < 3 and <b>bold</b>, a <NAME_"
SECOND_RESTORED = f"{CPF}{NAME}✓ 2 < 3 and <b>bold</b>, a <NAME_"
ARGUMENTS = '{"to": "<EMAIL_2>", "name": "<NAME_1>", "cc": "<EMAIL_1>"}'
ARGUMENTS_RESTORED = f'{{"to": "{EMAIL}", "name": "{NAME}", "cc": "<EMAIL_1>"}}'
OTHER_ARGUMENTS = '{"phone": "<PHONE_1>"}'
OTHER_ARGUMENTS_RESTORED = f'{{"phone": "{PHONE}"}}'
# Arguments are JSON source: the client reads them with `json.loads`, and must get KEY back.
KEY_TEXT = "Your key: <SECRET_1>"
KEY_ARGUMENTS = '{"key": "<SECRET_1>", "to": "<EMAIL_2>", "cc": "<EMAIL_1>"}'
KEY_CALL = {"key": KEY, "to": EMAIL, "cc": "<EMAIL_1>"}


# --- JSON answers --------------------------------------------------------------------------------


def test_json_chat_answer_has_content_refusal_and_call_arguments_restored() -> None:
    answer = {
        **HEAD,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": ANSWER,
                    "refusal": "no <PHONE_1>",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "send", "arguments": ARGUMENTS},
                        }
                    ],
                    "function_call": {"name": "old", "arguments": OTHER_ARGUMENTS},
                },
                "logprobs": {"content": [{"token": "<EMAIL_2>", "logprob": -0.1, "bytes": []}]},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14},
    }
    body = orjson.dumps(answer)

    restored = orjson.loads(restore_json_body(body, redactor_with_values()))

    message = restored["choices"][0]["message"]
    assert message["content"] == RESTORED
    assert message["refusal"] == f"no {PHONE}"
    assert message["tool_calls"][0]["function"] == {"name": "send", "arguments": ARGUMENTS_RESTORED}
    assert message["function_call"]["arguments"] == OTHER_ARGUMENTS_RESTORED
    # Tokens are as generated; everything outside the text is untouched.
    assert restored["choices"][0]["logprobs"] == answer["choices"][0]["logprobs"]
    assert {k: v for k, v in restored.items() if k != "choices"} == {
        k: v for k, v in answer.items() if k != "choices"
    }


def test_json_text_completion_has_every_choice_restored() -> None:
    answer = {
        "id": "cmpl-1",
        "object": "text_completion",
        "choices": [
            {"text": ANSWER, "index": 0, "logprobs": None, "finish_reason": "stop"},
            {"text": SECOND, "index": 1, "logprobs": None, "finish_reason": "length"},
        ],
    }

    restored = orjson.loads(restore_json_body(orjson.dumps(answer), redactor_with_values()))

    assert [c["text"] for c in restored["choices"]] == [RESTORED, SECOND_RESTORED]


def test_json_answer_with_nothing_to_restore_is_returned_as_it_came() -> None:
    redactor = redactor_with_values()
    plain = orjson.dumps({"choices": [{"index": 0, "message": {"content": "no values here"}}]})
    angled = orjson.dumps({"choices": [{"index": 0, "message": {"content": "1 < 2, <b>"}}]})
    user_literal = orjson.dumps({"choices": [{"index": 0, "text": "keep <EMAIL_1> <X_1>"}]})
    outside_choices = orjson.dumps({"choices": [], "note": "<EMAIL_2>"})

    for body in (plain, angled, user_literal, outside_choices, b"not json <EMAIL_2>"):
        assert restore_json_body(body, redactor) is body
    with_placeholder = orjson.dumps({"choices": [{"index": 0, "text": "<EMAIL_2>"}]})
    assert restore_json_body(with_placeholder, Redactor()) is with_placeholder  # none issued


def test_json_answer_restoration_leaves_the_parsed_answer_unchanged() -> None:
    answer = {"choices": [{"index": 0, "message": {"content": ANSWER}}, {"index": 1, "text": "x"}]}
    before = orjson.dumps(answer)

    restored = restore_json_answer(answer, redactor_with_values())

    assert restored["choices"][0]["message"]["content"] == RESTORED
    assert restored["choices"][1] is answer["choices"][1]  # unchanged parts are shared
    assert orjson.dumps(answer) == before
    unchanged = {"choices": [{"index": 0, "message": {"content": "<EMAIL_1> stays"}}]}
    assert restore_json_answer(unchanged, redactor_with_values()) is unchanged


def test_json_call_arguments_get_values_json_escaped_and_content_gets_them_raw() -> None:
    function = {"name": "store", "arguments": KEY_ARGUMENTS}
    message = {
        "role": "assistant",
        "content": KEY_TEXT,
        "tool_calls": [{"id": "call_1", "type": "function", "function": function}],
        "function_call": function,
    }
    answer = {"object": "chat.completion", "choices": [{"index": 0, "message": message}]}

    restored = orjson.loads(restore_json_body(orjson.dumps(answer), redactor_with_values()))

    message = restored["choices"][0]["message"]
    assert message["content"] == f"Your key: {KEY}"
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == KEY_CALL
    assert json.loads(message["function_call"]["arguments"]) == KEY_CALL
    assert message["tool_calls"][0]["function"]["name"] == "store"


def test_a_key_found_escaped_in_json_goes_into_arguments_as_it_was_found() -> None:
    """A key in an earlier tool call's arguments was found with `\\n` escapes: the model's new
    call gets it as it was written there, not escaped twice."""
    lines = ["MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" + "x" * 12] * 3
    pem = "\n".join(["-----BEGIN PRIVATE KEY-----", *lines, "-----END PRIVATE KEY-----"])
    redactor = Redactor()
    earlier_call = redactor.redact(json.dumps({"key": pem}))
    assert earlier_call == '{"key": "<SECRET_1>"}'
    function = {"name": "store", "arguments": '{"key": "<SECRET_1>", "again": true}'}
    answer = {"choices": [{"index": 0, "message": {"tool_calls": [{"function": function}]}}]}

    restored = orjson.loads(restore_json_body(orjson.dumps(answer), redactor))

    arguments = restored["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(arguments) == {"key": pem, "again": True}


def test_json_placeholder_escaped_as_unicode_is_restored() -> None:
    body = b'{"choices":[{"index":0,"text":"\\u003cEMAIL_2\\u003e"}]}'
    assert orjson.loads(restore_json_body(body, redactor_with_values()))["choices"][0]["text"] == (
        EMAIL
    )


# --- SSE streams: building them and reading them as a client ------------------------------------


def event(payload: dict[str, Any] | str, line_end: bytes = b"\n") -> bytes:
    data = payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
    return b"data: " + data + line_end + line_end


def chat_event(index: int, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
    return event({**HEAD, "choices": [choice], **extra})


def pieces_of(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def chat_stream(
    contents: list[str], piece_chars: int = 3, tool_arguments: tuple[str, ...] = ()
) -> bytes:
    """A chat stream as OpenAI sends one: roles, the choices' pieces interleaved, choice 0's tool
    calls, a finish per choice, the usage chunk and [DONE]."""
    events = [
        chat_event(i, {"role": "assistant", "content": "", "refusal": None})
        for i in range(len(contents))
    ]
    split = [pieces_of(text, piece_chars) for text in contents]
    for j in range(max(len(pieces) for pieces in split)):
        events.extend(
            chat_event(i, {"content": pieces[j]})
            for i, pieces in enumerate(split)
            if j < len(pieces)
        )
    for k, arguments in enumerate(tool_arguments):
        opening = {"index": k, "id": f"call_{k}", "type": "function"}
        function = {"name": "send", "arguments": ""}
        events.append(chat_event(0, {"tool_calls": [{**opening, "function": function}]}))
        events.extend(
            chat_event(0, {"tool_calls": [{"index": k, "function": {"arguments": piece}}]})
            for piece in pieces_of(arguments, piece_chars)
        )
    finish = "tool_calls" if tool_arguments else "stop"
    events.extend(chat_event(i, {}, finish) for i in range(len(contents)))
    usage = {"prompt_tokens": 9, "completion_tokens": 40, "total_tokens": 49}
    events.append(event({**HEAD, "choices": [], "usage": usage}))
    events.append(b"data: [DONE]\n\n")
    return b"".join(events)


@dataclass
class Received:
    """A stream as the client reads it."""

    texts: dict[tuple[int, str], str] = field(default_factory=dict)  # (choice, field) -> text
    finish_reasons: dict[int, str] = field(default_factory=dict)
    chunks: list[dict[str, Any]] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)
    done: bool = False


def received(stream: bytes) -> Received:
    seen = Received()
    normalized = stream.replace(b"\r\n", b"\n")
    *blocks, rest = normalized.split(b"\n\n")
    assert rest == b"", "the stream must end with a complete event"
    for block in blocks:
        assert not seen.done, "nothing may follow [DONE]"
        data = b"\n".join(line[6:] for line in block.split(b"\n") if line.startswith(b"data: "))
        if not data:
            continue
        if data == b"[DONE]":
            seen.done = True
            continue
        chunk = orjson.loads(data)
        if "error" in chunk:
            seen.errors.append(chunk["error"])
            continue
        seen.chunks.append(chunk)
        for choice in chunk["choices"]:
            _read_choice(seen, choice)
    return seen


def _read_choice(seen: Received, choice: dict[str, Any]) -> None:
    index = choice["index"]

    def add(name: str, text: str | None) -> None:
        if text:
            seen.texts[index, name] = seen.texts.get((index, name), "") + text

    add("text", choice.get("text"))
    delta = choice.get("delta") or {}
    add("content", delta.get("content"))
    add("refusal", delta.get("refusal"))
    for call in delta.get("tool_calls") or []:
        add(f"tool_call {call['index']}", call.get("function", {}).get("arguments"))
    if choice.get("finish_reason"):
        seen.finish_reasons[index] = choice["finish_reason"]


def through(redactor: Redactor, chunks: list[bytes]) -> bytes:
    restorer = SseRestorer(redactor)
    return b"".join(restorer.feed(chunk) for chunk in chunks) + restorer.flush()


def cut_in_two_everywhere(stream: bytes) -> Iterator[list[bytes]]:
    for offset in range(len(stream) + 1):
        yield [stream[:offset], stream[offset:]]


def one_byte_at_a_time(stream: bytes) -> list[bytes]:
    return [stream[i : i + 1] for i in range(len(stream))]


# --- SSE streams ---------------------------------------------------------------------------------


# Cutting a stream at every offset costs its length times its events: the streams cut so stay
# around thirty events, and the long one goes one byte at a time.


def test_chat_stream_of_two_choices_cut_at_every_offset_reads_back_the_values() -> None:
    redactor = redactor_with_values()
    stream = chat_stream([ANSWER, SECOND], piece_chars=5)
    expected = {(0, "content"): RESTORED, (1, "content"): SECOND_RESTORED}
    assert received(stream).texts != expected  # the upstream's stream has placeholders

    for chunks in cut_in_two_everywhere(stream):
        seen = received(through(redactor, chunks))
        assert seen.texts == expected, [len(c) for c in chunks]
        assert seen.finish_reasons == {0: "stop", 1: "stop"}
        assert seen.done
        assert seen.chunks[-1]["usage"]["total_tokens"] == 49


def test_tool_call_arguments_cut_at_every_offset_are_restored_per_call() -> None:
    redactor = redactor_with_values()
    stream = chat_stream(["On it."], piece_chars=5, tool_arguments=(ARGUMENTS, OTHER_ARGUMENTS))

    for chunks in cut_in_two_everywhere(stream):
        seen = received(through(redactor, chunks))
        assert seen.texts == {
            (0, "content"): "On it.",
            (0, "tool_call 0"): ARGUMENTS_RESTORED,
            (0, "tool_call 1"): OTHER_ARGUMENTS_RESTORED,
        }
        assert seen.finish_reasons == {0: "tool_calls"}


def test_long_stream_fed_one_byte_at_a_time_reads_back_the_values() -> None:
    stream = chat_stream([ANSWER, SECOND], piece_chars=2, tool_arguments=(ARGUMENTS,))

    seen = received(through(redactor_with_values(), one_byte_at_a_time(stream)))

    assert seen.texts == {
        (0, "content"): RESTORED,
        (1, "content"): SECOND_RESTORED,
        (0, "tool_call 0"): ARGUMENTS_RESTORED,
    }
    assert seen.done


def test_streamed_call_arguments_cut_at_every_offset_get_values_json_escaped() -> None:
    stream = chat_stream([KEY_TEXT], piece_chars=5, tool_arguments=(KEY_ARGUMENTS,))

    for chunks in [*cut_in_two_everywhere(stream), one_byte_at_a_time(stream)]:
        seen = received(through(redactor_with_values(), chunks))
        assert seen.texts[0, "content"] == f"Your key: {KEY}"
        assert json.loads(seen.texts[0, "tool_call 0"]) == KEY_CALL
        assert seen.finish_reasons == {0: "tool_calls"}


def test_streamed_function_call_arguments_get_values_json_escaped() -> None:
    pieces = pieces_of(KEY_ARGUMENTS, 4)
    stream = b"".join(
        [
            *(chat_event(0, {"function_call": {"arguments": piece}}) for piece in pieces),
            chat_event(0, {}, "function_call"),
            b"data: [DONE]\n\n",
        ]
    )

    for chunks in cut_in_two_everywhere(stream):
        seen = received(through(redactor_with_values(), chunks))
        deltas = [c["choices"][0]["delta"] for c in seen.chunks]
        arguments = "".join(d["function_call"]["arguments"] for d in deltas if d)
        assert json.loads(arguments) == KEY_CALL


def test_text_completion_stream_is_restored_per_choice() -> None:
    head = {**HEAD, "id": "cmpl-7", "object": "text_completion"}

    def completion_event(index: int, text: str, finish: str | None = None) -> bytes:
        choice = {"text": text, "index": index, "logprobs": None, "finish_reason": finish}
        return event({**head, "choices": [choice]})

    events = [
        completion_event(index, piece)
        for pieces in zip_longest(pieces_of(ANSWER, 5), pieces_of(SECOND, 5))
        for index, piece in enumerate(pieces)
        if piece is not None
    ]
    events += [completion_event(0, "", "length"), completion_event(1, "", "stop")]
    stream = b"".join(events) + b"data: [DONE]\n\n"

    for chunks in cut_in_two_everywhere(stream):
        seen = received(through(redactor_with_values(), chunks))
        assert seen.texts == {(0, "text"): RESTORED, (1, "text"): SECOND_RESTORED}
        assert seen.finish_reasons == {0: "length", 1: "stop"}
        # SECOND ends in "<NAME_": held, then sent with choice 1's finish.
        assert seen.chunks[-1]["choices"][0]["text"] == "<NAME_"


def test_held_text_goes_out_with_its_choices_finish_reason() -> None:
    stream = b"".join(
        [
            chat_event(0, {"content": "ends with <NAME_1> and <PHONE_"}),
            chat_event(1, {"content": "other"}),
            chat_event(0, {}, "stop"),
            chat_event(1, {"content": " <EMAIL_"}),
            chat_event(1, {"content": "2"}, "length"),
            b"data: [DONE]\n\n",
        ]
    )

    out = through(redactor_with_values(), [stream])

    first, other, finish, second_held, second_finish, done = out.split(b"\n\n")[:-1]
    assert orjson.loads(first[6:])["choices"][0]["delta"]["content"] == f"ends with {NAME} and "
    assert other == chat_event(1, {"content": "other"}).rstrip(b"\n")
    finish_choice = orjson.loads(finish[6:])["choices"][0]
    assert finish_choice == {
        "index": 0,
        "delta": {"content": "<PHONE_"},  # not a placeholder after all: as the upstream wrote it
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert orjson.loads(second_held[6:])["choices"][0]["delta"]["content"] == " "
    assert orjson.loads(second_finish[6:])["choices"][0]["delta"]["content"] == "<EMAIL_2"
    assert done == b"data: [DONE]"


def test_held_text_of_an_unfinished_choice_goes_out_as_a_chunk_before_done() -> None:
    stream = chat_event(0, {"content": "write to <EMA"}) + b"data: [DONE]\n\n"

    out = through(redactor_with_values(), [stream])

    *chunks, done = out.split(b"\n\n")[:-1]
    assert done == b"data: [DONE]"
    synthetic = orjson.loads(chunks[-1][6:])
    assert synthetic == {
        "id": HEAD["id"],
        "object": HEAD["object"],
        "created": HEAD["created"],
        "model": HEAD["model"],
        "choices": [
            {"index": 0, "delta": {"content": "<EMA"}, "logprobs": None, "finish_reason": None}
        ],
    }
    assert received(out).texts == {(0, "content"): "write to <EMA"}


def test_held_text_goes_out_before_an_error_event_which_passes_unchanged() -> None:
    error = b'data: {"error": {"message": "upstream broke", "type": "server_error"}}\n\n'
    stream = (
        chat_event(0, {"content": "mail <EMAIL_2> and <PHO"})
        + chat_event(1, {"content": "<CPF_"})
        + error
    )

    for chunks in cut_in_two_everywhere(stream):
        out = through(redactor_with_values(), chunks)
        assert out.endswith(error)
        seen = received(out)
        assert seen.texts == {(0, "content"): f"mail {EMAIL} and <PHO", (1, "content"): "<CPF_"}
        assert seen.errors == [{"message": "upstream broke", "type": "server_error"}]


def test_flush_sends_held_text_and_drops_an_incomplete_last_event() -> None:
    restorer = SseRestorer(redactor_with_values())
    sent = restorer.feed(
        chat_event(0, {"content": "see <NAME_1> <NA"}) + b'data: {"unfinished": "ev'
    )

    sent += restorer.flush()

    assert received(sent).texts == {(0, "content"): f"see {NAME} <NA"}
    assert b"unfinished" not in sent


def test_stream_with_nothing_to_restore_passes_byte_for_byte() -> None:
    plain = "Plain answer: ação ✓ 😀 -> fine, x > y."
    crlf_events = [
        b": keep-alive\r\n\r\n",
        event({**HEAD, "choices": [{"index": 0, "delta": {"content": "crlf ✓"}}]}, b"\r\n"),
        b"event: note\r\nid: 4\r\ndata: {}\r\n\r\n",
    ]
    stream = chat_stream([plain, "second choice"], piece_chars=5) + b"".join(crlf_events)

    for chunks in cut_in_two_everywhere(stream):
        assert through(redactor_with_values(), chunks) == stream
    assert through(redactor_with_values(), one_byte_at_a_time(stream)) == stream
    # With nothing redacted every piece goes out at once, complete event or not.
    restorer = SseRestorer(Redactor())
    assert [restorer.feed(c) for c in (stream[:5], stream[5:])] == [stream[:5], stream[5:]]


def test_changed_events_keep_crlf_line_endings_and_their_other_lines() -> None:
    stream = (
        b": keep-alive\r\n\r\n"
        b"id: 1\r\n"
        + event({**HEAD, "choices": [{"index": 0, "delta": {"content": "<CPF_1>"}}]}, b"\r\n")
        + event({**HEAD, "choices": [{"index": 0, "delta": {"content": "<EMAIL"}}]}, b"\r\n")
        + b"data: [DONE]\r\n\r\n"
    )

    for chunks in cut_in_two_everywhere(stream):
        out = through(redactor_with_values(), chunks)
        assert out.startswith(b": keep-alive\r\n\r\nid: 1\r\ndata: ")
        assert b"\n" not in out.replace(b"\r\n", b"")
        assert out.endswith(b"\r\n\r\ndata: [DONE]\r\n\r\n")
        assert received(out).texts == {(0, "content"): f"{CPF}<EMAIL"}


def test_a_stream_of_unissued_placeholders_reads_back_as_written() -> None:
    text = "<EMAIL_1> <b>x</b> <EMAIL_3 <NAME_12> 1<2 <"
    stream = chat_stream([text], piece_chars=3)

    for chunks in cut_in_two_everywhere(stream):
        assert received(through(redactor_with_values(), chunks)).texts == {(0, "content"): text}


# --- property ------------------------------------------------------------------------------------

PARTS = st.sampled_from(
    [
        "Olá, ",
        " ação ",
        "😀",
        "\n",
        " < ",
        "<b>",
        "<EMAIL_1>",
        "<EMAIL_",
        " obrigado",
        "<EMAIL_2>",
        "<PHONE_1>",
        "<CPF_1>",
        "<NAME_1>",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.lists(PARTS, min_size=1, max_size=10).map("".join), min_size=1, max_size=3),
    piece_chars=st.integers(min_value=1, max_value=7),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12),
)
def test_any_stream_cut_anywhere_reads_back_the_restored_text(
    texts: list[str], piece_chars: int, cuts: list[int]
) -> None:
    redactor = redactor_with_values()
    stream = chat_stream(texts, piece_chars, tool_arguments=(texts[0],))
    offsets = sorted({min(c, len(stream)) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *offsets], [*offsets, len(stream)], strict=True)]

    seen = received(through(redactor, chunks))

    expected = {(i, "content"): redactor.restore(text) for i, text in enumerate(texts)}
    expected[0, "tool_call 0"] = redactor.restore_in_json(texts[0])
    assert seen.texts == expected
    assert seen.done
