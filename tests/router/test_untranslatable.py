"""A request's parts that no translation carries are left out of its Chat Completions form, one
by one by the param its refusal names, and the first refusal is kept
(router/wire/untranslatable.py)."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from router.errors import InvalidRequest, Untranslatable
from router.messages_ingress import parse_messages
from router.responses_ingress import parse_responses
from router.wire.untranslatable import MAX_LEFT_OUT, chat_form, without

BODY: dict[str, Any] = {
    "model": "m",
    "top_k": 5,
    "tools": [{"name": "a"}, {"type": "web_search"}],
    "input": [{"role": "user", "content": [{"type": "input_text"}, {"file_id": "f"}]}],
}


@pytest.mark.parametrize(
    ("param", "left"),
    [
        ("top_k", {k: v for k, v in BODY.items() if k != "top_k"}),
        ("tools[1].type", {**BODY, "tools": [{"name": "a"}]}),
        (
            "input[0].content[1].file_id",
            {**BODY, "input": [{"role": "user", "content": [{"type": "input_text"}]}]},
        ),
        ("reasoning.effort", None),  # names nothing in the body
        ("tools[7].type", None),
        ("", None),
        (None, None),
    ],
)
def test_a_part_is_left_out_by_its_param_and_the_body_is_never_changed(
    param: str | None, left: dict[str, Any] | None
) -> None:
    before = copy.deepcopy(BODY)
    assert without(BODY, param) == left
    assert before == BODY


def test_parts_are_left_out_until_the_parse_takes_the_rest_and_the_first_refusal_is_kept() -> None:
    def parse(body: dict[str, Any]) -> dict[str, Any]:
        for name in ("top_k", "tools"):
            if name in body:
                raise Untranslatable(f"Unsupported parameter: '{name}'.", param=name)
        return body

    chat, first = chat_form(parse, BODY)
    assert set(chat) == {"model", "input"}
    assert first is not None and first.param == "top_k"


def test_a_body_invalid_once_a_part_is_left_out_gets_the_parts_refusal() -> None:
    def parse(body: dict[str, Any]) -> dict[str, Any]:
        if "top_k" in body:
            raise Untranslatable("Unsupported parameter: 'top_k'.", param="top_k")
        raise InvalidRequest("Invalid 'input': nothing to send.", param="input")

    with pytest.raises(Untranslatable) as refused:
        chat_form(parse, BODY)
    assert refused.value.param == "top_k"


def test_at_most_so_many_parts_are_left_out() -> None:
    many = {f"x{i}": i for i in range(MAX_LEFT_OUT + 1)}

    def parse(body: dict[str, Any]) -> dict[str, Any]:
        for name in body:
            raise Untranslatable(f"Unsupported parameter: '{name}'.", param=name)
        return body

    with pytest.raises(Untranslatable) as refused:
        chat_form(parse, many)
    assert refused.value.param == "x0"
    assert chat_form(parse, {f"x{i}": i for i in range(MAX_LEFT_OUT)})[0] == {}


def test_the_ingresses_keep_the_whole_body_for_a_native_endpoint() -> None:
    responses = {
        "model": "m",
        "input": "hi",
        "tools": [{"type": "web_search"}, {"type": "custom", "name": "apply_patch"}],
        "tool_choice": {"type": "web_search_preview"},
    }
    parsed, translation = parse_responses(orjson.dumps(responses))
    assert not parsed.body.get("tools") and "tool_choice" not in parsed.body
    native = translation.native({})
    assert native.body == responses and not native.cacheable
    assert native.untranslatable is not None and native.untranslatable.param == "tools[0].type"

    messages = {
        "model": "m",
        "max_tokens": 10,
        "top_k": 3,
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        "messages": [{"role": "user", "content": "hi"}],
    }
    parsed, translation = parse_messages(orjson.dumps(messages))
    assert parsed.body["messages"] == [{"role": "user", "content": "hi"}]
    native = translation.native({"anthropic-beta": "x", "authorization": "Bearer sk-client"})
    assert native.body == messages and native.headers == {"anthropic-beta": "x"}
    assert native.untranslatable is not None and native.untranslatable.param == "top_k"


def test_a_malformed_request_is_refused_at_once() -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_responses(orjson.dumps({"model": "m", "input": "hi", "temperature": "hot"}))
    assert not isinstance(refused.value, Untranslatable)
    assert refused.value.param == "temperature"
