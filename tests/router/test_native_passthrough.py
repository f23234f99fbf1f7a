"""A request that arrived in Responses or Messages goes in that API, its own body, to an endpoint
that speaks it (`apis`), and its answer comes back as the endpoint sent it: with the official
clients, on real sockets, against the simulated cloud's native APIs. Anthropic's headers pass
through unchanged; the router prefers a native endpoint; PII is redacted in the native body and
restored in the native answer; an error in band before content fails over; a request that
continues a stored response goes to the endpoint that produced it, or fails clearly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson
import pytest
from anthropic._constants import ANTHROPIC_API_VERSION

from loadtest.mock_cloud.settings import RegionSettings
from router.state import STATE
from tests.redis_server import redis_server
from tests.stack import API_KEY, Stack, running_stack
from tests.tenant_policies import ONE_MODEL, write_policies

MODEL = "gpt-4o-mini"
LATENCY_FIRST = {"x-router-objective": "latency"}
BETA = "context-1m-2025-08-07,fine-grained-tool-streaming-2025-05-14"


def _regions(**native: Any) -> tuple[RegionSettings, ...]:
    """A near region that speaks only chat, and two far ones that speak every API."""
    return (
        RegionSettings(name="near-chat", rtt_ms=1.0, apis=("chat",), models=(MODEL,)),
        RegionSettings(name="far-a", rtt_ms=20.0, models=(MODEL,), **native),
        RegionSettings(name="far-b", rtt_ms=25.0, models=(MODEL,), **native),
    )


ENDPOINTS = {
    "near-chat": {"models": [{"name": MODEL}]},
    "far-a": {"apis": ["chat", "responses"], "models": [{"name": MODEL}]},
    "far-b": {"apis": ["chat", "responses"], "models": [{"name": MODEL}]},
}
ANTHROPIC_ENDPOINTS = {
    "near-chat": {"models": [{"name": MODEL}]},
    "far-a": {"kind": "anthropic", "models": [{"name": MODEL}]},
    "far-b": {"kind": "anthropic", "models": [{"name": MODEL}]},
}


def _stack(fields: dict[str, Any], tmp: Path | None = None, **native: Any) -> Any:
    overrides = None
    if tmp is not None:
        overrides = {"policies": {"directory": str(tmp), "watch": False}}
    return running_stack(
        regions=_regions(**native),
        endpoint_fields=fields,
        overrides=overrides,
        endpoint_keys={"far-a": "sk-far-a", "far-b": "sk-far-b"},
    )


async def _received(stack: Stack, region: str, path: str) -> list[dict[str, Any]]:
    return [r for r in await stack.received(region) if r["path"] == path]


def _anthropic(stack: Stack, **options: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=stack.url,
        api_key=options.pop("api_key", API_KEY),
        max_retries=0,
        default_headers={**LATENCY_FIRST, **options.pop("default_headers", {})},
        **options,
    )


@pytest.mark.asyncio
async def test_a_messages_request_is_passed_through_with_anthropics_headers() -> None:
    async with _stack(ANTHROPIC_ENDPOINTS) as stack:
        client = _anthropic(stack, default_headers={"anthropic-beta": BETA})
        ask: dict[str, Any] = {
            "model": MODEL,
            "max_tokens": 40,
            "system": [
                {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}
            ],
            "messages": [{"role": "user", "content": "hello"}],
            "metadata": {"user_id": "u-42"},
        }
        raw = await client.messages.with_raw_response.create(**ask)
        message = await raw.parse()
        # Native beats near: the chat region is 20 times nearer, but would need a translation.
        assert raw.headers["x-router-endpoint"] == "far-a"
        assert "translated" not in raw.headers["x-router-reason"]
        assert message.id.startswith("msg_") and message.content[0].type == "text"
        assert message.usage.output_tokens > 0
        (sent,) = await _received(stack, "far-a", "/v1/messages")
        # Passed through: the client's own body (cache_control, metadata and all) and headers.
        assert orjson.loads(sent["body"]) == ask
        # The client's own version (not the router's default, 2023-06-01).
        assert sent["headers"]["anthropic-version"] == ANTHROPIC_API_VERSION != "2023-06-01"
        assert sent["headers"]["anthropic-beta"] == BETA
        # The provider's key, as x-api-key; the client's own key never goes on.
        assert sent["headers"]["x-api-key"] == "valid" and "authorization" not in sent["headers"]

        async with client.messages.stream(**ask) as stream:
            final = await stream.get_final_message()
        assert final.content[0].type == "text" and final.usage.output_tokens > 0
        assert await _received(stack, "near-chat", "/v1/chat/completions") == []


@pytest.mark.asyncio
async def test_a_responses_request_is_passed_through_and_its_answer_kept_whole() -> None:
    async with _stack(ENDPOINTS) as stack:
        client = stack.client(default_headers=LATENCY_FIRST)
        raw = await client.responses.with_raw_response.create(
            model=MODEL, instructions="Be brief.", input="hello", max_output_tokens=40
        )
        response = raw.parse()
        assert raw.headers["x-router-endpoint"] == "far-a"
        assert "translated" not in raw.headers["x-router-reason"]
        assert response.output_text and response.usage is not None
        (sent,) = await _received(stack, "far-a", "/v1/responses")
        assert orjson.loads(sent["body"]) == {
            "model": MODEL,
            "instructions": "Be brief.",
            "input": "hello",
            "max_output_tokens": 40,
        }
        stream = await client.responses.create(model=MODEL, input="hello", stream=True)
        events = [event async for event in stream]
        assert events[0].type == "response.created"
        assert events[-1].type == "response.completed"
        numbers = [event.sequence_number for event in events]
        assert numbers == sorted(set(numbers))


@pytest.mark.asyncio
async def test_without_a_native_endpoint_the_request_is_translated_and_says_so() -> None:
    fields = {name: {"models": [{"name": MODEL}]} for name in ENDPOINTS}  # chat only, all three
    async with _stack(fields) as stack:
        raw = await stack.client(default_headers=LATENCY_FIRST).responses.with_raw_response.create(
            model=MODEL, input="hello"
        )
        assert raw.headers["x-router-endpoint"] == "near-chat"
        assert "translated=chat" in raw.headers["x-router-reason"]
        assert raw.parse().output_text


@pytest.mark.asyncio
async def test_a_continued_response_goes_to_the_endpoint_that_produced_it() -> None:
    async with _stack(ENDPOINTS) as stack:
        client = stack.client(default_headers=LATENCY_FIRST)
        first = await client.responses.with_raw_response.create(model=MODEL, input="hello")
        producer = first.headers["x-router-endpoint"]
        other = "far-b" if producer == "far-a" else "far-a"
        # The other native endpoint is now much nearer: a fresh request would go there.
        await stack.control(other, rtt_ms=0.0)
        await stack.control(producer, rtt_ms=60.0)
        for _ in range(3):
            await client.responses.create(model=MODEL, input="warm the estimators")
        previous = first.parse().id
        followed = await client.responses.with_raw_response.create(
            model=MODEL, input="and then?", previous_response_id=previous
        )
        assert followed.headers["x-router-endpoint"] == producer
        assert "producer=" in followed.headers["x-router-reason"]
        assert followed.parse().output_text
        streamed = await client.responses.create(
            model=MODEL, input="and then?", previous_response_id=previous, stream=True
        )
        assert [e async for e in streamed][-1].type == "response.completed"
        sent = await _received(stack, producer, "/v1/responses")
        assert orjson.loads(sent[-1]["body"])["previous_response_id"] == previous


@pytest.mark.asyncio
async def test_a_response_the_router_never_passed_on_is_not_found(tmp_path: Path) -> None:
    write_policies(tmp_path, {"alpha": ONE_MODEL, "beta": ONE_MODEL})
    async with _stack(ENDPOINTS, tmp_path) as stack:
        alpha = stack.client(api_key="sk-alpha", default_headers=LATENCY_FIRST)
        beta = stack.client(api_key="sk-beta", default_headers=LATENCY_FIRST)
        produced = await alpha.responses.create(model=MODEL, input="hello")
        for client, previous in ((alpha, "resp_never_made"), (beta, produced.id)):
            # Another tenant's response is as unknown as one never made.
            with pytest.raises(openai.BadRequestError) as refused:
                await client.responses.create(
                    model=MODEL, input="and then?", previous_response_id=previous
                )
            assert refused.value.code == "previous_response_not_found"
            assert refused.value.param == "previous_response_id"
            assert previous in refused.value.message


@pytest.mark.asyncio
async def test_a_response_made_by_a_translation_cannot_be_continued() -> None:
    fields = {name: {"models": [{"name": MODEL}]} for name in ENDPOINTS}  # chat only
    async with _stack(fields) as stack:
        client = stack.client()
        made = await client.responses.create(model=MODEL, input="hello")
        with pytest.raises(openai.BadRequestError) as refused:
            await client.responses.create(model=MODEL, input="more", previous_response_id=made.id)
        assert refused.value.code == "previous_response_not_found"


@pytest.mark.asyncio
async def test_pii_is_redacted_in_the_native_body_and_restored_in_the_native_answer(
    tmp_path: Path,
) -> None:
    write_policies(tmp_path, {"acme": f"{ONE_MODEL}privacy:\n  on_pii: redact\n"})
    email = "jane.doe@example.org"
    async with _stack(ANTHROPIC_ENDPOINTS, tmp_path, echo=True) as stack:
        client = _anthropic(stack, api_key="sk-acme")
        ask: dict[str, Any] = {
            "model": MODEL,
            "max_tokens": 200,
            "messages": [{"role": "user", "content": f"Write to {email} today"}],
            "metadata": {"user_id": email},
        }
        message = await client.messages.create(**ask)
        async with client.messages.stream(**ask) as stream:
            streamed = await stream.get_final_message()
        for answer in (message, streamed):
            block = answer.content[0]
            assert block.type == "text" and email in block.text  # echoed, then restored
        for sent in await _received(stack, "far-a", "/v1/messages"):
            assert email not in sent["body"]
            body = orjson.loads(sent["body"])
            assert "<EMAIL_1>" in body["messages"][0]["content"]
            assert body["metadata"]["user_id"] == "<EMAIL_1>"


@pytest.mark.asyncio
async def test_an_error_in_band_before_content_fails_over_to_the_next_native_endpoint() -> None:
    async with _stack(ENDPOINTS) as stack:
        await stack.control("far-a", inband_error_rate=1.0, inband_error_after_events=0)
        client = stack.client(default_headers=LATENCY_FIRST)
        raw = await client.responses.with_raw_response.create(
            model=MODEL, input="hello", stream=True
        )
        events = [event async for event in raw.parse()]
        assert raw.headers["x-router-endpoint"] == "far-b"
        assert "failover_after=far-a" in raw.headers["x-router-reason"]
        assert events[-1].type == "response.completed"

    async with _stack(ANTHROPIC_ENDPOINTS) as stack:
        await stack.control("far-a", inband_error_rate=1.0, inband_error_after_events=0)
        messages = _anthropic(stack)
        async with messages.messages.stream(
            model=MODEL, max_tokens=40, messages=[{"role": "user", "content": "hello"}]
        ) as stream:
            final = await stream.get_final_message()
        assert final.content[0].type == "text" and final.usage.output_tokens > 0
        assert len(await _received(stack, "far-a", "/v1/messages")) == 1
        assert len(await _received(stack, "far-b", "/v1/messages")) == 1


@pytest.mark.asyncio
async def test_a_tenant_that_forbids_provider_storage_sends_store_false(tmp_path: Path) -> None:
    write_policies(tmp_path, {"private": f"{ONE_MODEL}privacy:\n  provider_storage: never\n"})
    async with _stack(ENDPOINTS, tmp_path) as stack:
        client = stack.client(api_key="sk-private", default_headers=LATENCY_FIRST)
        await client.responses.create(model=MODEL, input="hello")  # store defaults to true
        await client.responses.create(model=MODEL, input="hello", store=True)
        sent = await _received(stack, "far-a", "/v1/responses")
        assert [orjson.loads(r["body"])["store"] for r in sent] == [False, False]


WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.mark.asyncio
async def test_tool_calls_come_back_as_the_native_endpoint_made_them() -> None:
    async with _stack(ENDPOINTS, answer_kind="tool_call") as stack:
        client = stack.client(default_headers=LATENCY_FIRST)
        response = await client.responses.create(
            model=MODEL, input="Weather in Lisbon?", tools=[WEATHER]
        )
        (call,) = [item for item in response.output if item.type == "function_call"]
        assert call.call_id and call.name and orjson.loads(call.arguments) is not None
        streamed = await client.responses.create(
            model=MODEL, input="Weather in Lisbon?", tools=[WEATHER], stream=True
        )
        events = [event async for event in streamed]
        assert any(e.type == "response.function_call_arguments.delta" for e in events)
        (sent, _) = await _received(stack, "far-a", "/v1/responses")
        assert orjson.loads(sent["body"])["tools"] == [WEATHER]

    async with _stack(ANTHROPIC_ENDPOINTS, answer_kind="tool_call") as stack:
        tool = {
            "name": "get_weather",
            "description": "The weather in a city.",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
        message = await _anthropic(stack).messages.create(
            model=MODEL,
            max_tokens=100,
            tools=[tool],
            messages=[{"role": "user", "content": "Weather in Lisbon?"}],
        )
        assert message.stop_reason == "tool_use"
        (use,) = [block for block in message.content if block.type == "tool_use"]
        assert use.id and use.name


@pytest.mark.asyncio
async def test_routers_sharing_redis_send_a_continued_response_to_its_producer(
    tmp_path: Path,
) -> None:
    """A response passed on by one router is continued through another (another process of the
    PoP) that shares its Redis: without the shared record it would be not found."""
    with redis_server(tmp_path) as redis_url:
        shared = {"limits": {"backend": "redis", "redis": {"url": redis_url, "timeout_ms": 500}}}
        keys = {"far-a": "sk-far-a", "far-b": "sk-far-b"}
        async with (
            running_stack(
                regions=_regions(), endpoint_fields=ENDPOINTS, overrides=shared, endpoint_keys=keys
            ) as first,
            running_stack(
                endpoint_fields=ENDPOINTS, overrides=shared, endpoint_keys=keys, cloud=first.cloud
            ) as second,
        ):
            made = await first.client(
                default_headers=LATENCY_FIRST
            ).responses.with_raw_response.create(model=MODEL, input="hello")
            for table in first.app[STATE].shared_affinity:
                await table.flush()  # as its task does every 0.1 s
            followed = await second.client().responses.with_raw_response.create(
                model=MODEL, input="and then?", previous_response_id=made.parse().id
            )
            assert followed.headers["x-router-endpoint"] == made.headers["x-router-endpoint"]
            assert followed.parse().output_text


@pytest.mark.asyncio
async def test_tokens_are_counted_by_an_endpoint_that_speaks_messages(tmp_path: Path) -> None:
    write_policies(tmp_path, {"acme": f"{ONE_MODEL}privacy:\n  on_pii: redact\n"})
    email = "jane.doe@example.org"
    ask: dict[str, Any] = {
        "model": MODEL,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": f"Write to {email} about the weather " * 20}],
    }
    async with _stack(ANTHROPIC_ENDPOINTS, tmp_path) as stack:
        client = _anthropic(stack, api_key="sk-acme", default_headers={"anthropic-beta": BETA})
        raw = await client.messages.with_raw_response.count_tokens(**ask)
        counted = await raw.parse()
        assert "x-router-count" not in raw.headers
        (sent,) = await _received(stack, "far-a", "/v1/messages/count_tokens")
        assert sent["headers"]["anthropic-beta"] == BETA
        body = orjson.loads(sent["body"])
        assert email not in sent["body"] and "<EMAIL_1>" in body["messages"][0]["content"]
        # The endpoint's own count of what it was sent (the router's estimate differs).
        direct = anthropic.AsyncAnthropic(
            base_url=stack.cloud.regions["far-a"].anthropic_base_url, api_key="sk-far-a"
        )
        assert counted.input_tokens == (await direct.messages.count_tokens(**body)).input_tokens
        estimated = await client.messages.with_raw_response.count_tokens(
            **ask,
            extra_headers={"x-router-privacy-tags": "nowhere"},  # no endpoint may take it
        )
        assert estimated.headers["x-router-count"] == "estimate"
        assert (await estimated.parse()).input_tokens != counted.input_tokens
        # Nothing was generated, nothing was stored.
        assert await _received(stack, "far-a", "/v1/messages") == []
        assert await _received(stack, "near-chat", "/v1/chat/completions") == []


@pytest.mark.asyncio
async def test_what_no_translation_carries_goes_to_a_native_endpoint_or_is_refused() -> None:
    hosted = [WEATHER, {"type": "web_search"}, {"type": "custom", "name": "apply_patch"}]
    async with _stack(ENDPOINTS) as stack:
        client = stack.client(default_headers=LATENCY_FIRST)
        raw = await client.responses.with_raw_response.create(
            model=MODEL, input="hello", tools=hosted, extra_body={"future_field": 1}
        )
        assert raw.headers["x-router-endpoint"] in ("far-a", "far-b")
        (sent,) = await _received(stack, raw.headers["x-router-endpoint"], "/v1/responses")
        body = orjson.loads(sent["body"])
        assert body["tools"] == hosted and body["future_field"] == 1

    async with _stack(ANTHROPIC_ENDPOINTS) as stack:
        server_tool = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
        ask: dict[str, Any] = {
            "model": MODEL,
            "max_tokens": 40,
            "tools": [server_tool],
            "messages": [{"role": "user", "content": "hello"}],
        }
        # The client takes no `top_k` argument (Chat Completions has no such sampling either).
        await _anthropic(stack).messages.create(**ask, extra_body={"top_k": 5})
        (sent,) = await _received(stack, "far-a", "/v1/messages")
        assert orjson.loads(sent["body"]) == {**ask, "top_k": 5}

    fields = {name: {"models": [{"name": MODEL}]} for name in ENDPOINTS}  # chat only
    async with _stack(fields) as stack:
        with pytest.raises(openai.BadRequestError) as refused:
            await stack.client().responses.create(model=MODEL, input="hello", tools=hosted)
        assert refused.value.param == "tools[1].type"
        assert "only 'function' tools translate" in refused.value.message
        assert await _received(stack, "near-chat", "/v1/chat/completions") == []
