"""What the cache must never replay, through the router and the official client: error answers,
truncated answers, refusals, content-filter stops, tool calls, and answers to requests that offer
tools unless the tenant's policy allows it. Each case is asked twice, identically: the mock cloud
must see both, and a normal answer asked the same way still hits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from tests.cache.cache_stack import QUESTION, REGIONS, cloud_calls, write_tenants
from tests.stack import Stack, running_stack

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a fact up.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]


def _tenants(directory: Path) -> dict[str, Any]:
    write_tenants(directory, {"acme": "{}", "tooler": "{tools: true}"})
    return {
        "policies": {"directory": str(directory), "watch": False},
        "cache": {"enabled": True, "semantic": False},
    }


async def _everywhere(stack: Stack, **fields: Any) -> None:
    for region in REGIONS:
        await stack.control(region, **fields)


async def _ask(client: openai.AsyncOpenAI, request: dict[str, Any], stream: bool) -> str:
    """The answer's `x-router-cache` verdict (the answer read to its end)."""
    if not stream:
        raw = await client.chat.completions.with_raw_response.create(**request)
        raw.parse()
        return str(raw.headers["x-router-cache"])
    raw = await client.chat.completions.with_raw_response.create(**request, stream=True)
    async for _chunk in raw.parse():
        pass
    return str(raw.headers["x-router-cache"])


async def _asked_twice_upstream_twice(
    stack: Stack, client: openai.AsyncOpenAI, request: dict[str, Any], stream: bool
) -> None:
    before = await cloud_calls(stack)
    assert await _ask(client, request, stream) == "miss"
    assert await _ask(client, request, stream) == "miss"
    assert await cloud_calls(stack) == before + 2


async def _a_normal_answer_still_hits(
    stack: Stack, client: openai.AsyncOpenAI, request: dict[str, Any]
) -> None:
    await _everywhere(stack, answer_kind="text", error_rate=0)
    before = await cloud_calls(stack)
    assert await _ask(client, request, stream=False) == "miss"
    assert await _ask(client, request, stream=False) == "hit-exact"
    assert await _ask(client, request, stream=True) == "hit-exact"
    assert await cloud_calls(stack) == before + 1


@pytest.mark.asyncio
@pytest.mark.parametrize("answer_kind", ["refusal", "content_filter"])
async def test_refusals_and_content_filter_stops_are_never_replayed(
    tmp_path: Path, answer_kind: str
) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        client = stack.client(api_key="sk-acme")
        await _everywhere(stack, answer_kind=answer_kind)
        for stream in (False, True):
            await _asked_twice_upstream_twice(stack, client, QUESTION, stream)
        await _a_normal_answer_still_hits(stack, client, QUESTION)


@pytest.mark.asyncio
async def test_a_truncated_answer_is_never_replayed(tmp_path: Path) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        client = stack.client(api_key="sk-acme")
        cut = {**QUESTION, "max_tokens": 4}  # the mock cloud stops at the limit: `length`
        answer = await client.chat.completions.create(**cut)
        assert answer.choices[0].finish_reason == "length"
        for stream in (False, True):
            await _asked_twice_upstream_twice(stack, client, cut, stream)
        await _a_normal_answer_still_hits(stack, client, QUESTION)


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [400, 500])
async def test_an_error_answer_is_never_replayed(tmp_path: Path, status: int) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        client = stack.client(api_key="sk-acme")
        await _everywhere(stack, error_rate=1, error_status=status)
        for stream in (False, True):
            for _ in range(2):
                before = await cloud_calls(stack)
                with pytest.raises(openai.APIStatusError):
                    await _ask(client, QUESTION, stream)
                assert await cloud_calls(stack) > before  # asked upstream each time
        await _a_normal_answer_still_hits(stack, client, QUESTION)


@pytest.mark.asyncio
@pytest.mark.parametrize("answer_kind", ["tool_call", "tool_call_stop"])
async def test_a_tool_call_is_never_replayed_even_where_tools_are_cached(
    tmp_path: Path, answer_kind: str
) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        client = stack.client(api_key="sk-tooler")
        await _everywhere(stack, answer_kind=answer_kind)
        with_tools = {**QUESTION, "tools": TOOLS}
        answer = await client.chat.completions.create(**with_tools)
        assert answer.choices[0].message.tool_calls
        for stream in (False, True):
            await _asked_twice_upstream_twice(stack, client, with_tools, stream)
        without_tools = await client.chat.completions.create(**QUESTION)
        assert without_tools.choices[0].message.tool_calls  # a call, even unasked: not kept
        assert await _ask(client, QUESTION, stream=False) == "miss"
        await _a_normal_answer_still_hits(stack, client, with_tools)


@pytest.mark.asyncio
async def test_a_request_offering_tools_bypasses_the_cache_unless_the_policy_allows_it(
    tmp_path: Path,
) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        acme = stack.client(api_key="sk-acme")
        for request in (
            {**QUESTION, "tools": TOOLS},
            {**QUESTION, "tools": TOOLS, "tool_choice": "none"},
            {**QUESTION, "functions": [TOOLS[0]["function"]]},
        ):
            before = await cloud_calls(stack)
            for stream in (False, True, False):
                assert await _ask(acme, request, stream) == "bypass"
            assert await cloud_calls(stack) == before + 3
            with pytest.raises(openai.APIStatusError) as missed:
                await acme.chat.completions.create(
                    **request, extra_headers={"x-router-cache": "only-if-cached"}
                )
            assert missed.value.status_code == 504
        await _a_normal_answer_still_hits(stack, acme, QUESTION)
        # A tenant whose policy has `cache.tools`: a text answer to a request with tools hits.
        await _a_normal_answer_still_hits(stack, stack.client(api_key="sk-tooler"), {
            **QUESTION, "tools": TOOLS,
        })  # fmt: skip
