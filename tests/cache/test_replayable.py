"""Which answers the cache may store, JSON and streamed, including the shapes the mock cloud does
not make (Azure's content filter results, a `function_call`, an `error` key), and what it adopts
from the shared tier."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from router.cache.answer_cache import AnswerCache
from router.cache.exact import CachedAnswer
from router.cache.replay import StreamAssembler, complete_json_answer
from router.cache.scope import exact_key_of
from router.cache.shared_entry import SharedEntry
from router.config.model import CacheSettings
from tests.fake_clock import FakeClock


def _answer(**message: Any) -> dict[str, Any]:
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": "Paris.", **message},
        "finish_reason": "stop",
    }
    return {"object": "chat.completion", "choices": [choice]}


def _with_choice(**fields: Any) -> dict[str, Any]:
    answer = _answer()
    answer["choices"][0].update(fields)
    return answer


def test_a_whole_text_answer_is_stored() -> None:
    assert complete_json_answer(_answer())
    assert complete_json_answer(_answer(refusal=None, tool_calls=[]))
    assert complete_json_answer(
        _with_choice(content_filter_results={"hate": {"filtered": False, "severity": "safe"}})
    )


@pytest.mark.parametrize(
    "answer",
    [
        _with_choice(finish_reason="length"),
        _with_choice(finish_reason="content_filter"),
        _with_choice(finish_reason="tool_calls"),
        _with_choice(finish_reason=None),
        _with_choice(content_filter_results={"violence": {"filtered": True}}),
        _answer(content=None, refusal="I can't help with that."),
        _answer(content="", refusal="I can't help with that."),
        _answer(content="", tool_calls=[{"id": "call_1", "type": "function"}]),
        _answer(function_call={"name": "lookup", "arguments": "{}"}),
        _answer(content="  \n"),
        {**_answer(), "error": {"message": "overloaded"}},
        {"error": {"message": "overloaded", "type": "server_error"}},
        {"object": "chat.completion", "choices": []},
    ],
)
def test_an_answer_that_must_not_be_replayed_is_not_stored(answer: dict[str, Any]) -> None:
    assert not complete_json_answer(answer)


def _stream(*deltas: dict[str, Any], finish: str = "stop", **choice: Any) -> bytes:
    events: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas
    ]
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish, **choice}]})
    body = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)
    return body + b"data: [DONE]\n\n"


def _assembled(stream: bytes) -> bytes | None:
    assembler = StreamAssembler()
    for i in range(0, len(stream), 7):  # in pieces, as the network delivers it
        assembler.feed(stream[i : i + 7])
    return assembler.answer()


def test_a_whole_streamed_text_answer_is_stored() -> None:
    answer = _assembled(_stream({"role": "assistant", "content": ""}, {"content": "Paris."}))
    assert answer is not None
    assert orjson.loads(answer)["choices"][0]["message"]["content"] == "Paris."


@pytest.mark.parametrize(
    "stream",
    [
        _stream({"content": "Par"}, finish="length"),
        _stream({"content": "Par"}, finish="content_filter"),
        _stream({"content": "Paris."}, content_filter_results={"sexual": {"filtered": True}}),
        _stream({"role": "assistant", "content": ""}, {"refusal": "I can't help."}),
        _stream({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f"}}]}),
        _stream({"function_call": {"name": "f", "arguments": ""}}),
        _stream({"role": "assistant", "content": ""}),
        _stream({"content": "Paris."}).replace(b"data: [DONE]\n\n", b""),
        _stream({"content": "Paris."}).replace(b"data: [DONE]", b'data: {"error": {}}'),
    ],
)
def test_a_stream_that_must_not_be_replayed_is_not_stored(stream: bytes) -> None:
    assert _assembled(stream) is None


@pytest.mark.parametrize(("finish", "kept"), [("stop", True), ("length", False)])
def test_an_entry_from_the_shared_tier_is_checked_again(finish: str, kept: bool) -> None:
    """A router of an older version may have shared an answer this one never replays."""
    clock = FakeClock()
    cache = AnswerCache(CacheSettings(), clock, None)
    body = orjson.dumps(_with_choice(finish_reason=finish))
    answer = CachedAnswer(body, None, clock.wall(), clock.wall() + 60, "acme")
    key = exact_key_of("partition-1", "What is the capital of France?")
    cache.adopt(SharedEntry(key, "partition-1", "What is the capital of France?", None, answer))
    assert (key in cache.exact) is kept
