"""One JSON truth: the body the router checks is the body an upstream reads.

A repeated key is refused wherever it is (orjson keeps the last, an upstream may keep the first),
every output cap an upstream may read is checked, and the admission estimate takes the larger cap
times the choices generated. The parser's own cases first, then the same through a running router
on real sockets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from router.errors import InvalidRequest
from router.wire.requests import MAX_OUTPUT_TOKENS, Operation, parse_request
from tests.stack import API_KEY, DEFAULT_REGIONS, Stack, running_stack
from tests.tenant_policies import policy_yaml

CHAT_PATH = "/v1/chat/completions"
MESSAGES = b'"messages":[{"role":"user","content":"hi"}]'


def _chat(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **fields}


def _refused(operation: Operation, raw: bytes) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as raised:
        parse_request(operation, raw)
    assert raised.value.status == 400 and raised.value.error_type == "invalid_request_error"
    return raised.value


@pytest.mark.parametrize(
    ("raw", "message", "param"),
    [
        (
            b'{"model":"m","messages":[{"role":"user","content":"card 4111111111111111",'
            b'"content":"hi"}]}',
            "Duplicate key 'content' in messages[0]",
            "messages[0].content",
        ),
        (b'{"model":"m","model":"n",' + MESSAGES + b"}", "in the request body", "model"),
        (
            b'{"model":"m",' + MESSAGES + b',"max_tokens":1,"max_tokens":100000}',
            "Duplicate key 'max_tokens'",
            "max_tokens",
        ),
        (
            b'{"model":"m",' + MESSAGES + b',"tools":[{"type":"function","function":{"name":"f",'
            b'"parameters":{"properties":{"a":{},"a":{}}}}}]}',
            "in tools[0].function.parameters.properties",
            "tools[0].function.parameters.properties.a",
        ),
        # The same key written two ways is the same key to every JSON parser.
        (b'{"model":"m",' + MESSAGES + b',"x":[[{"a":1,"\\u0061":2}]]}', "in x[0][0]", "x[0][0].a"),
    ],
)
def test_a_repeated_key_is_refused_naming_the_key_and_where(
    raw: bytes, message: str, param: str
) -> None:
    error = _refused(Operation.CHAT, raw)
    assert message in error.message
    assert (error.param, error.code) == (param, "duplicate_key")


def test_a_repeated_key_that_may_be_personal_data_is_not_echoed() -> None:
    raw = b'{"model":"m",' + MESSAGES + b',"metadata":{"a@b.example":1,"a@b.example":2}}'
    error = _refused(Operation.CHAT, raw)
    assert "a@b.example" not in error.message and "a@b.example" not in str(error.param)
    assert error.param == "metadata.<key 2>"


def test_the_same_key_in_different_objects_is_no_repeat() -> None:
    raw = orjson.dumps(
        _chat(
            messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
            metadata={"content": "x", "nested": {"content": "y"}},
        )
    )
    assert parse_request(Operation.CHAT, raw).body_for("gpt-4o-mini") is raw


def test_repeats_are_refused_in_completions_and_embeddings_too() -> None:
    completion = b'{"model":"m","prompt":"a","prompt":"b"}'
    assert _refused(Operation.COMPLETION, completion).param == "prompt"
    embedding = b'{"model":"m","input":"a","input":"b"}'
    assert _refused(Operation.EMBEDDINGS, embedding).param == "input"


def test_nesting_past_the_key_checkers_depth_is_a_400_not_a_crash() -> None:
    deep = b"[" * 1000 + b"]" * 1000
    raw = b'{"model":"m",' + MESSAGES + b',"x":' + deep + b"}"
    assert "nested too deeply" in _refused(Operation.CHAT, raw).message


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"max_tokens": 2**63}, "max_tokens"),
        ({"max_completion_tokens": 2**63}, "max_completion_tokens"),
        ({"max_completion_tokens": MAX_OUTPUT_TOKENS + 1}, "max_completion_tokens"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"max_completion_tokens": "9"}, "max_completion_tokens"),
        ({"max_tokens": 10, "max_completion_tokens": 2**40}, "max_completion_tokens"),
        ({"n": 2**63}, "n"),
        ({"n": 0}, "n"),
        ({"n": 129}, "n"),
    ],
)
def test_absurd_output_caps_are_refused_naming_the_field(
    fields: dict[str, Any], param: str
) -> None:
    assert _refused(Operation.CHAT, json.dumps(_chat(**fields)).encode()).param == param


def test_a_cap_beyond_64_bits_is_refused_naming_the_field() -> None:
    raw = json.dumps(_chat(max_completion_tokens=2**64)).encode()  # orjson reads a float
    assert _refused(Operation.CHAT, raw).param == "max_completion_tokens"


def test_completions_check_both_token_fields() -> None:
    raw = orjson.dumps({"model": "m", "prompt": "a", "max_completion_tokens": 2**63})
    assert _refused(Operation.COMPLETION, raw).param == "max_completion_tokens"


def test_the_output_estimate_is_the_larger_cap_times_the_choices() -> None:
    parsed = parse_request(
        Operation.CHAT, orjson.dumps(_chat(max_tokens=10, max_completion_tokens=400, n=3))
    )
    assert parsed.max_output_tokens == 400
    assert parsed.estimated_output_tokens(assumed_per_choice=256) == 1200
    unstated = parse_request(Operation.CHAT, orjson.dumps(_chat(n=2)))
    assert unstated.estimated_output_tokens(assumed_per_choice=256) == 512
    best_of = parse_request(
        Operation.COMPLETION,
        orjson.dumps({"model": "m", "prompt": "a", "max_tokens": 5, "n": 2, "best_of": 6}),
    )
    assert best_of.estimated_output_tokens(assumed_per_choice=256) == 30


def _one_megabyte_chat() -> bytes:
    turn = 'lorem ipsum: dolor "sit" amet, consectetur adipiscing elit ' * 50
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"{i} {turn}"}
        for i in range(360)
    ]
    raw = orjson.dumps(_chat(messages=messages))
    assert len(raw) > 1_000_000
    return raw


async def _post(stack: Stack, raw: bytes, key: str = API_KEY) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with stack.http.post(f"{stack.url}{CHAT_PATH}", data=raw, headers=headers) as response:
        body: dict[str, Any] = await response.json(content_type=None)
        return response.status, body


async def _chat_bodies_received(stack: Stack) -> list[str]:
    return [
        record["body"]
        for region in DEFAULT_REGIONS
        for record in await stack.received(region.name)
        if record["path"].endswith("/chat/completions")
    ]


@pytest.mark.asyncio
async def test_repeated_keys_and_absurd_caps_get_400_through_the_router_and_nothing_leaves() -> (
    None
):
    refused = [
        b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"a","content":"b"}]}',
        orjson.dumps(_chat(max_tokens=2**63)),
        orjson.dumps(_chat(max_completion_tokens=2**63)),
        orjson.dumps(_chat(n=2**63)),
    ]
    async with running_stack() as stack:
        for raw in refused:
            status, body = await _post(stack, raw)
            assert status == 400, body
            assert body["error"]["type"] == "invalid_request_error"
            assert body["error"]["param"]
        assert await _chat_bodies_received(stack) == []


@pytest.mark.asyncio
async def test_a_one_megabyte_body_without_repeats_is_forwarded_byte_for_byte() -> None:
    raw = _one_megabyte_chat()
    async with running_stack() as stack:
        status, body = await _post(stack, raw)
        assert status == 200, body
        (received,) = await _chat_bodies_received(stack)
        assert received.encode() == raw


@pytest.mark.asyncio
async def test_admission_charges_the_larger_cap_times_n(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(
        policy_yaml(
            "acme", "models:\n  - alias: gpt-4o-mini\nlimits:\n  tokens_per_minute: 100000\n"
        )
    )
    policies = {"policies": {"directory": str(tmp_path), "watch": False}}
    async with running_stack(overrides=policies) as stack:
        client = stack.client(api_key="sk-acme")
        raw = await client.chat.completions.with_raw_response.create(
            **_chat(max_tokens=10, max_completion_tokens=400, n=3)
        )
        remaining = int(raw.headers["x-ratelimit-remaining-tokens"])
        # 1,200 output tokens (400 x 3) plus a small input estimate; reading max_tokens alone
        # (10) or ignoring n (400) would leave more than 98,800.
        assert 100000 - 1200 - 100 < remaining <= 100000 - 1200
