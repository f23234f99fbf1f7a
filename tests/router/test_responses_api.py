"""OpenAI's Responses API through the router, with the official client on real sockets: translated
to Chat Completions for the simulated cloud and back, JSON and streamed, tools, every stage (the
cache, privacy, fail-over) as for chat, and what the router refuses because it keeps no state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from loadtest.mock_cloud.settings import RegionSettings
from loadtest.mock_cloud.wire import TOOL_CALL_ID, TOOL_NAME
from tests.cache.cache_stack import write_tenants
from tests.privacy.privacy_stack import CLOUD_REGIONS, privacy_stack
from tests.stack import Stack, running_stack

ONE_REGION = (RegionSettings(name="us-east", rtt_ms=1.0),)
LOOKUP = {
    "type": "function",
    "name": TOOL_NAME,
    "description": "Look a thing up.",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
}


async def _chat_bodies(stack: Stack, region: str = "us-east") -> list[dict[str, Any]]:
    """The Chat Completions bodies the region received, oldest first."""
    received = await stack.received(region)
    return [orjson.loads(r["body"]) for r in received if r["path"].endswith("/chat/completions")]


async def _received_chat(stack: Stack, region: str = "us-east") -> dict[str, Any]:
    (body,) = await _chat_bodies(stack, region)
    return body


@pytest.mark.asyncio
async def test_a_response_is_served_through_chat_completions_with_the_decision_in_headers() -> None:
    async with running_stack(regions=ONE_REGION) as stack:
        raw = await stack.client().responses.with_raw_response.create(
            model="gpt-4o-mini", instructions="Be brief.", input="hello"
        )
        response = raw.parse()
        assert response.object == "response" and response.id.startswith("resp_")
        assert response.status == "completed"
        assert response.output_text.startswith("Hello from ")
        assert response.usage is not None and response.usage.output_tokens == 16
        assert response.usage.total_tokens == response.usage.input_tokens + 16
        assert response.instructions == "Be brief." and response.max_output_tokens is None
        assert raw.headers["x-router-served-by"] == "cloud"
        assert raw.headers["x-router-endpoint"] == "us-east"
        chat = await _received_chat(stack)
        assert chat["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello"},
        ]
        # The cap reached: the chat answer's `length` is the Response's `incomplete`.
        capped = await stack.client().responses.create(
            model="gpt-4o-mini", input="hello", max_output_tokens=20
        )
        assert (await _chat_bodies(stack))[-1]["max_completion_tokens"] == 20
        assert capped.status == "incomplete" and capped.max_output_tokens == 20
        assert capped.usage is not None and capped.usage.output_tokens == 20
        assert capped.incomplete_details is not None
        assert capped.incomplete_details.reason == "max_output_tokens"


@pytest.mark.asyncio
async def test_a_streamed_response_comes_as_typed_events_ending_with_the_usage() -> None:
    async with running_stack(regions=ONE_REGION) as stack:
        stream = await stack.client().responses.create(
            model="gpt-4o-mini", input="hello", stream=True
        )
        events = [event async for event in stream]
        types = [event.type for event in events]
        assert types[:2] == ["response.created", "response.in_progress"]
        assert types[-1] == "response.completed"
        assert [event.sequence_number for event in events] == list(range(len(events)))
        deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        completed = events[-1].response  # type: ignore[union-attr]
        assert deltas.startswith("Hello from ") and completed.output_text == deltas
        assert completed.usage is not None and completed.usage.output_tokens == 16
        chat = await _received_chat(stack)
        assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}


@pytest.mark.asyncio
async def test_the_clients_stream_helper_assembles_the_final_response() -> None:
    async with running_stack(regions=ONE_REGION) as stack:
        async with stack.client().responses.stream(model="gpt-4o-mini", input="hi") as stream:
            texts = [event.delta async for event in stream if event.type.endswith("text.delta")]
            final = await stream.get_final_response()
        assert final.output_text == "".join(texts) and final.output_text


@pytest.mark.asyncio
async def test_a_tool_call_and_its_output_make_a_conversation_in_chat_completions_shape() -> None:
    regions = (RegionSettings(name="us-east", rtt_ms=1.0, answer_kind="tool_call"),)
    async with running_stack(regions=regions) as stack:
        client = stack.client()
        first = await client.responses.create(
            model="gpt-4o-mini", input="find cats", tools=[LOOKUP], tool_choice="auto"
        )
        (call,) = first.output
        assert call.type == "function_call"
        assert (call.call_id, call.name) == (TOOL_CALL_ID, TOOL_NAME)
        assert call.arguments.startswith('{"q":')

        streamed = await client.responses.create(
            model="gpt-4o-mini", input="find cats", tools=[LOOKUP], stream=True
        )
        events = [event async for event in streamed]
        arguments = "".join(
            e.delta for e in events if e.type == "response.function_call_arguments.delta"
        )
        (done,) = [e for e in events if e.type == "response.function_call_arguments.done"]
        assert done.arguments == arguments and arguments  # the simulator streams the text

        await client.responses.create(
            model="gpt-4o-mini",
            tools=[LOOKUP],
            input=[
                {"role": "user", "content": "find cats"},
                {
                    "type": "function_call",
                    "call_id": call.call_id,
                    "name": call.name,
                    "arguments": call.arguments,
                },
                {"type": "function_call_output", "call_id": call.call_id, "output": "3 cats"},
            ],
        )
        third = (await _chat_bodies(stack))[-1]
        assert third["tools"] == [
            {
                "type": "function",
                "function": {k: v for k, v in LOOKUP.items() if k != "type"},
            }
        ]
        assert third["messages"][1]["tool_calls"] == [
            {
                "id": call.call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
        ]
        assert third["messages"][2] == {
            "role": "tool",
            "tool_call_id": call.call_id,
            "content": "3 cats",
        }


@pytest.mark.asyncio
async def test_what_needs_a_providers_stored_state_is_refused_naming_the_parameter() -> None:
    async with running_stack(regions=ONE_REGION) as stack:
        client = stack.client()
        with pytest.raises(openai.BadRequestError) as refused:
            await client.responses.create(
                model="gpt-4o-mini", input="and then?", previous_response_id="resp_123"
            )
        assert refused.value.status_code == 400
        assert refused.value.body["param"] == "previous_response_id"  # type: ignore[index]
        with pytest.raises(openai.BadRequestError) as unsupported:
            await client.responses.create(
                model="gpt-4o-mini", input="hi", tools=[{"type": "web_search"}]
            )
        assert unsupported.value.body["param"] == "tools[0].type"  # type: ignore[index]
        assert await _chat_bodies(stack) == []


@pytest.mark.asyncio
async def test_a_failing_region_is_failed_over_as_for_chat() -> None:
    regions = (
        RegionSettings(name="us-east", rtt_ms=1.0, error_rate=1.0),
        RegionSettings(name="eu-west", rtt_ms=5.0),
    )
    async with running_stack(regions=regions) as stack:
        raw = await stack.client().responses.with_raw_response.create(
            model="gpt-4o-mini", input="hello", stream=True
        )
        events = [event async for event in raw.parse()]
        assert raw.headers["x-router-endpoint"] == "eu-west"
        assert events[-1].type == "response.completed"


@pytest.mark.asyncio
async def test_a_stream_cut_after_its_first_byte_ends_with_the_apis_error_event() -> None:
    slow = (RegionSettings(name="us-east", tokens_per_s=20.0, completion_tokens=400),)
    async with running_stack(regions=slow) as stack:
        stream = await stack.client().responses.create(
            model="gpt-4o-mini", input="hello", stream=True
        )
        seen: list[Any] = []
        async for event in stream:
            seen.append(event)
            if event.type == "response.output_text.delta" and len(seen) == 5:
                await stack.control("us-east", down=True)
        assert seen[-1].type == "error"
        assert seen[-1].code == "upstream_connect_error"
        assert "response.completed" not in {event.type for event in seen}


# The cache keeps answers to deterministic requests only.
ASKED: dict[str, Any] = {"model": "gpt-4o-mini", "input": "hi", "temperature": 0}


@pytest.mark.asyncio
async def test_a_repeat_is_answered_from_the_cache_in_the_responses_format(tmp_path: Path) -> None:
    write_tenants(tmp_path, {"acme": "{ttl_s: 600}"})
    overrides = {
        "policies": {"directory": str(tmp_path), "watch": False},
        "cache": {"enabled": True},
    }
    async with running_stack(regions=ONE_REGION, overrides=overrides) as stack:
        client = stack.client(api_key="sk-acme")
        first = await client.responses.with_raw_response.create(**ASKED)
        second = await client.responses.with_raw_response.create(**ASKED)
        assert second.headers["x-router-served-by"] == "cache"
        assert second.parse().output_text == first.parse().output_text
        assert second.parse().id != first.parse().id
        stream = await client.responses.create(**ASKED, stream=True)
        events = [event async for event in stream]
        assert events[-1].response.output_text == first.parse().output_text  # type: ignore[union-attr]
        assert len(await _chat_bodies(stack)) == 1


@pytest.mark.asyncio
async def test_pii_in_input_items_is_redacted_upstream_and_restored_in_the_events(
    tmp_path: Path,
) -> None:
    email = "jane.roe@example.org"
    async with privacy_stack(tmp_path) as stack:
        client = stack.client(api_key="sk-scrub")
        stream = await client.responses.create(
            model="gpt-4o-mini",
            input=[{"role": "user", "content": [{"type": "input_text", "text": f"mail {email}"}]}],
            stream=True,
        )
        events = [event async for event in stream]
        (upstream,) = [
            body for region in CLOUD_REGIONS for body in await _chat_bodies(stack, region)
        ]
        assert email not in orjson.dumps(upstream).decode()
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        assert email in text  # the echoed placeholder, restored across the events
        assert events[-1].response.output_text == text  # type: ignore[union-attr]
