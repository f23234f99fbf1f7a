"""Anthropic's Messages API through the router, with the official `anthropic` client on real
sockets: translated to Chat Completions for the simulated cloud and back, JSON and streamed, tool
use, token counts, Anthropic's error shape on this ingress, and every stage (the cache, privacy,
fail-over) as for chat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import orjson
import pytest

from loadtest.mock_cloud.settings import RegionSettings
from loadtest.mock_cloud.wire import TOOL_CALL_ID, TOOL_NAME
from tests.cache.cache_stack import write_tenants
from tests.privacy.privacy_stack import CLOUD_REGIONS, privacy_stack
from tests.stack import API_KEY, Stack, running_stack

ONE_REGION = (RegionSettings(name="us-east", rtt_ms=1.0),)
LOOKUP = {
    "name": TOOL_NAME,
    "description": "Look a thing up.",
    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
}


def _client(stack: Stack, api_key: str = API_KEY) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=stack.url, api_key=api_key, max_retries=0)


async def _chat_bodies(stack: Stack, region: str = "us-east") -> list[dict[str, Any]]:
    """The Chat Completions bodies the region received, oldest first."""
    received = await stack.received(region)
    return [orjson.loads(r["body"]) for r in received if r["path"].endswith("/chat/completions")]


@pytest.mark.asyncio
async def test_a_message_is_served_through_chat_completions_with_the_decision_in_headers() -> None:
    async with running_stack(regions=ONE_REGION) as stack:
        raw = await _client(stack).messages.with_raw_response.create(
            model="gpt-4o-mini",
            max_tokens=100,
            system="Be brief.",
            messages=[{"role": "user", "content": "hello"}],
            stop_sequences=["\n\nHuman:"],
        )
        message = await raw.parse()
        assert message.type == "message" and message.role == "assistant"
        assert message.content[0].type == "text"
        assert message.content[0].text.startswith("Hello from ")
        assert message.stop_reason == "max_tokens"  # the simulator always reaches a given cap
        assert message.usage.output_tokens == 100 and message.usage.input_tokens > 0
        assert raw.headers["x-router-served-by"] == "cloud"
        (chat,) = await _chat_bodies(stack)
        assert chat["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello"},
        ]
        assert chat["max_completion_tokens"] == 100 and chat["stop"] == ["\n\nHuman:"]


@pytest.mark.asyncio
async def test_a_streamed_message_comes_as_anthropics_events_and_the_helper_assembles_it() -> None:
    async with running_stack(regions=ONE_REGION) as stack:
        client = _client(stack)
        stream = await client.messages.create(
            model="gpt-4o-mini",
            max_tokens=1000,
            messages=[{"role": "user", "content": "hello"}],
            stream=True,
        )
        events = [event async for event in stream]
        types = [event.type for event in events]
        assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
        text = "".join(
            e.delta.text
            for e in events
            if e.type == "content_block_delta" and e.delta.type == "text_delta"
        )
        assert text.startswith("Hello from ")
        async with client.messages.stream(
            model="gpt-4o-mini", max_tokens=1000, messages=[{"role": "user", "content": "hi"}]
        ) as helper:
            final = await helper.get_final_message()
        assert final.content[0].type == "text" and final.content[0].text == text
        assert final.stop_reason == "max_tokens" and final.usage.output_tokens == 1000
        assert (await _chat_bodies(stack))[-1]["stream_options"] == {"include_usage": True}


@pytest.mark.asyncio
async def test_tool_use_and_its_result_make_a_conversation_in_chat_completions_shape() -> None:
    regions = (RegionSettings(name="us-east", rtt_ms=1.0, answer_kind="tool_call"),)
    async with running_stack(regions=regions) as stack:
        client = _client(stack)
        first = await client.messages.create(
            model="gpt-4o-mini",
            max_tokens=200,
            tools=[LOOKUP],  # type: ignore[list-item]
            messages=[{"role": "user", "content": "find cats"}],
        )
        (use,) = [block for block in first.content if block.type == "tool_use"]
        assert (use.id, use.name) == (TOOL_CALL_ID, TOOL_NAME)
        assert first.stop_reason == "tool_use" and isinstance(use.input, dict)

        await client.messages.create(
            model="gpt-4o-mini",
            max_tokens=200,
            tools=[LOOKUP],  # type: ignore[list-item]
            messages=[
                {"role": "user", "content": "find cats"},
                {"role": "assistant", "content": first.content},  # as the client's users echo it
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "3"}],
                },
            ],
        )
        chat = (await _chat_bodies(stack))[-1]
        assert chat["tools"][0]["function"]["parameters"] == LOOKUP["input_schema"]
        assert chat["messages"][1]["tool_calls"][0]["id"] == use.id
        assert orjson.loads(chat["messages"][1]["tool_calls"][0]["function"]["arguments"]) == (
            use.input
        )
        assert chat["messages"][2] == {"role": "tool", "tool_call_id": use.id, "content": "3"}


@pytest.mark.asyncio
async def test_tokens_are_estimated_where_no_endpoint_speaks_messages() -> None:
    async with running_stack(regions=ONE_REGION) as stack:
        client = _client(stack)
        raw = await client.messages.with_raw_response.count_tokens(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.headers["x-router-count"] == "estimate"
        short = await raw.parse()
        long = await client.messages.count_tokens(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi " * 400}]
        )
        assert 0 < short.input_tokens < long.input_tokens
        assert await _chat_bodies(stack) == []  # nothing generated for a count


@pytest.mark.asyncio
async def test_a_key_is_taken_from_x_api_key_as_anthropics_clients_may_send_it() -> None:
    body = {
        "model": "gpt-4o-mini",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hi"}],
    }
    async with running_stack(regions=ONE_REGION) as stack:
        for key, status in ((API_KEY, 200), ("sk-nobody", 401)):
            headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
            async with stack.http.post(
                f"{stack.url}/v1/messages", json=body, headers=headers
            ) as response:
                assert response.status == status
                answer = await response.json()
            assert answer["type"] == ("message" if status == 200 else "error")


@pytest.mark.asyncio
async def test_errors_on_this_ingress_have_anthropics_shape() -> None:
    async with running_stack(regions=ONE_REGION) as stack:
        with pytest.raises(anthropic.AuthenticationError) as unknown_key:
            await _client(stack, api_key="sk-nobody").messages.create(
                model="gpt-4o-mini", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
        assert unknown_key.value.body == {
            "type": "error",
            "error": {"type": "authentication_error", "message": "Incorrect API key provided."},
        }
        with pytest.raises(anthropic.BadRequestError) as refused:
            await _client(stack).messages.create(
                model="gpt-4o-mini",
                max_tokens=10,
                messages=[{"role": "user", "content": "hi"}],
                extra_body={"top_k": 5},  # gone from the 2.x client's parameters; sent all the same
            )
        assert refused.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
        assert "top_k" in refused.value.message
        assert await _chat_bodies(stack) == []


@pytest.mark.asyncio
async def test_a_failing_region_is_failed_over_and_a_cut_stream_ends_with_an_error_event() -> None:
    regions = (
        RegionSettings(name="us-east", rtt_ms=1.0, error_rate=1.0),
        RegionSettings(name="eu-west", rtt_ms=5.0, tokens_per_s=20.0),
    )
    async with running_stack(regions=regions) as stack:
        client = _client(stack)
        raw = await client.messages.with_raw_response.create(
            model="gpt-4o-mini", max_tokens=20, messages=[{"role": "user", "content": "hello"}]
        )
        assert raw.headers["x-router-endpoint"] == "eu-west"
        stream = await client.messages.create(
            model="gpt-4o-mini",
            max_tokens=400,
            messages=[{"role": "user", "content": "hello"}],
            stream=True,
        )
        seen: list[str] = []
        with pytest.raises(anthropic.APIStatusError):
            async for event in stream:
                seen.append(event.type)
                if event.type == "content_block_delta" and seen.count(event.type) == 3:
                    await stack.control("eu-west", down=True)
        assert "message_stop" not in seen


# The cache keeps answers to deterministic requests only.
ASKED: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "hi"}],
    "extra_body": {"temperature": 0},  # gone from the 2.x client's parameters
}


@pytest.mark.asyncio
async def test_a_repeat_is_answered_from_the_cache_in_anthropics_format(tmp_path: Path) -> None:
    write_tenants(tmp_path, {"acme": "{ttl_s: 600}"})
    overrides = {
        "policies": {"directory": str(tmp_path), "watch": False},
        "cache": {"enabled": True},
    }
    # An echoing region ends its answer before `max_tokens` (a cut answer is never cached).
    echoing = (RegionSettings(name="us-east", rtt_ms=1.0, echo=True),)
    async with running_stack(regions=echoing, overrides=overrides) as stack:
        client = _client(stack, api_key="sk-acme")
        first = await client.messages.with_raw_response.create(**ASKED)
        second = await client.messages.with_raw_response.create(**ASKED)
        assert second.headers["x-router-served-by"] == "cache"
        assert (await second.parse()).content == (await first.parse()).content
        async with client.messages.stream(**ASKED) as stream:
            final = await stream.get_final_message()
        assert [block.text for block in final.content if block.type == "text"] == [
            block.text for block in (await first.parse()).content if block.type == "text"
        ]
        assert len(await _chat_bodies(stack)) == 1


@pytest.mark.asyncio
async def test_pii_is_redacted_upstream_and_restored_in_the_events(tmp_path: Path) -> None:
    email = "jane.roe@example.org"
    async with privacy_stack(tmp_path) as stack:
        client = _client(stack, api_key="sk-scrub")
        async with client.messages.stream(
            model="gpt-4o-mini",
            max_tokens=1000,
            messages=[{"role": "user", "content": [{"type": "text", "text": f"mail {email}"}]}],
        ) as stream:
            final = await stream.get_final_message()
        (upstream,) = [
            body for region in CLOUD_REGIONS for body in await _chat_bodies(stack, region)
        ]
        assert email not in orjson.dumps(upstream).decode()
        assert final.content[0].type == "text" and email in final.content[0].text
