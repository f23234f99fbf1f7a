"""Request parsing: valid bodies pass untouched, invalid ones fail with the OpenAI param."""

from __future__ import annotations

import json

import orjson
import pytest

from router.errors import InvalidRequest
from router.responses_ingress import parse_responses
from router.wire.requests import Operation, parse_request

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _raw(**fields: object) -> bytes:
    return orjson.dumps({**CHAT, **fields})


def test_chat_body_is_kept_byte_for_byte_with_unknown_fields() -> None:
    raw = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"x_vendor":{"a":1}}'
    parsed = parse_request(Operation.CHAT, raw)
    assert parsed.body_for("m") is raw
    assert orjson.loads(parsed.body_for("other"))["x_vendor"] == {"a": 1}
    assert orjson.loads(parsed.body_for("other"))["model"] == "other"


def test_stream_and_usage_flags_are_read() -> None:
    parsed = parse_request(
        Operation.CHAT, _raw(stream=True, stream_options={"include_usage": True}, max_tokens=7)
    )
    assert parsed.stream and parsed.include_usage
    assert parsed.max_output_tokens == 7


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b"{not json", None),
        (b"[]", None),
        (orjson.dumps({"messages": CHAT["messages"]}), "model"),
        (_raw(messages=[]), "messages"),
        (_raw(messages=[{"role": "wizard", "content": "x"}]), "messages[0].role"),
        (_raw(messages=[{"role": "user"}]), "messages[0].content"),
        (_raw(temperature=3), "temperature"),
        (_raw(temperature="hot"), "temperature"),
        (_raw(max_tokens=0), "max_tokens"),
        (_raw(max_tokens=True), "max_tokens"),
        (_raw(n=500), "n"),
        (_raw(stop=["a", "b", "c", "d", "e"]), "stop"),
        (_raw(stream="yes"), "stream"),
        (_raw(stream_options={"include_usage": True}), "stream_options"),
    ],
)
def test_invalid_chat_bodies_name_the_param(raw: bytes, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_request(Operation.CHAT, raw)
    assert raised.value.param == param
    assert raised.value.status == 400


def test_embeddings_validate_input_and_encoding() -> None:
    assert parse_request(Operation.EMBEDDINGS, b'{"model":"e","input":["a","b"]}').model == "e"
    for body, param in [
        (b'{"model":"e"}', "input"),
        (b'{"model":"e","input":""}', "input"),
        (b'{"model":"e","input":[1,"a"]}', "input"),
        (b'{"model":"e","input":"a","encoding_format":"hex"}', "encoding_format"),
        (b'{"model":"e","input":"a","stream":true}', "stream"),
    ]:
        with pytest.raises(InvalidRequest) as raised:
            parse_request(Operation.EMBEDDINGS, body)
        assert raised.value.param == param, body


def test_completions_need_a_prompt() -> None:
    assert parse_request(Operation.COMPLETION, b'{"model":"c","prompt":[[1,2],[3]]}').model == "c"
    with pytest.raises(InvalidRequest) as raised:
        parse_request(Operation.COMPLETION, b'{"model":"c"}')
    assert raised.value.param == "prompt"


def test_a_body_nested_deeper_than_the_router_can_write_again_is_refused() -> None:
    deep: object = "x"
    for _ in range(300):  # orjson reads 1,024 levels, writes 254
        deep = [deep]
    tool = {"type": "function", "function": {"name": "f", "parameters": {"x": deep}}}
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [tool]}
    with pytest.raises(InvalidRequest, match="nested more than 254 levels"):
        parse_request(Operation.CHAT, json.dumps(body).encode())
    # Many brackets side by side are no depth: served.
    wide = {**body, "tools": [{**tool, "function": {"name": "f", "parameters": {"x": [[]] * 400}}}]}
    assert parse_request(Operation.CHAT, json.dumps(wide).encode()).body_for("other")


def test_a_translated_body_nested_too_deep_to_write_is_a_400_not_a_500() -> None:

    schema: object = {"type": "object"}
    for _ in range(251):  # within what is read; one level deeper once translated
        schema = {"x": schema}
    tool = {"type": "function", "name": "f", "parameters": schema}
    body = {"model": "m", "input": "hi", "tools": [tool]}
    with pytest.raises(InvalidRequest, match="nested more than 254 levels"):
        parse_responses(json.dumps(body).encode())
