"""An endpoint of Anthropic's kind speaks only the Messages API: the router sends it Chat
Completions requests translated (router/forwarding/upstream_format.py), with Anthropic's headers,
and reads its answers, JSON and streamed, back as Chat Completions; requests that do not
translate go elsewhere, and the reason says when a request was translated."""

from __future__ import annotations

from typing import Any

import anthropic
import orjson
import pytest

from loadtest.mock_cloud.settings import RegionSettings
from tests.stack import API_KEY, Stack, running_stack

CLAUDE = "claude-sonnet"
REGIONS = (
    RegionSettings(
        name="claude-east", rtt_ms=1.0, apis=("messages",), models=(CLAUDE,), api_key="sk-ant"
    ),
    RegionSettings(name="us-east", rtt_ms=30.0, models=(CLAUDE,)),
)
ANTHROPIC = {
    "claude-east": {"kind": "anthropic", "models": [{"name": CLAUDE}]},
    "us-east": {"models": [{"name": CLAUDE}]},
}
LATENCY_FIRST = {"x-router-objective": "latency"}
ASK = {
    "model": CLAUDE,
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}],
}


def _stack() -> Any:
    return running_stack(
        regions=REGIONS, endpoint_fields=ANTHROPIC, endpoint_keys={"claude-east": "sk-ant"}
    )


async def _messages_received(stack: Stack) -> list[dict[str, Any]]:
    received = await stack.received("claude-east")
    return [r for r in received if r["path"] == "/v1/messages"]


@pytest.mark.asyncio
async def test_a_chat_request_is_sent_as_a_messages_request_and_answered_as_chat() -> None:
    async with _stack() as stack:
        client = stack.client(default_headers=LATENCY_FIRST)
        raw = await client.chat.completions.with_raw_response.create(**ASK, max_tokens=50)
        completion = raw.parse()
        assert raw.headers["x-router-endpoint"] == "claude-east"
        assert "translated=anthropic" in raw.headers["x-router-reason"]
        assert completion.object == "chat.completion"
        assert completion.choices[0].message.content
        assert completion.usage is not None and completion.usage.completion_tokens > 0
        (request,) = await _messages_received(stack)
        body = orjson.loads(request["body"])
        assert body["system"] == "Be brief." and body["max_tokens"] == 50
        assert body["messages"] == [{"role": "user", "content": "hello"}]
        assert request["headers"].get("anthropic-version") == "2023-06-01"
        assert request["auth"] == "valid"  # the provider key, as x-api-key

        stream = await client.chat.completions.create(
            **ASK, max_tokens=50, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == completion.choices[0].message.content
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


@pytest.mark.asyncio
async def test_a_request_with_no_messages_form_goes_to_an_openai_endpoint() -> None:
    async with _stack() as stack:
        client = stack.client(default_headers=LATENCY_FIRST)
        raw = await client.chat.completions.with_raw_response.create(**ASK, n=2)  # no Messages form
        assert raw.headers["x-router-endpoint"] == "us-east"
        assert len(raw.parse().choices) == 2
        assert await _messages_received(stack) == []


@pytest.mark.asyncio
async def test_anthropics_client_reaches_an_anthropic_endpoint_through_the_router() -> None:
    async with _stack() as stack:
        client = anthropic.AsyncAnthropic(
            base_url=stack.url, api_key=API_KEY, max_retries=0, default_headers=LATENCY_FIRST
        )
        async with client.messages.stream(
            model=CLAUDE, max_tokens=40, messages=[{"role": "user", "content": "hello"}]
        ) as stream:
            final = await stream.get_final_message()
        assert final.content[0].type == "text" and final.content[0].text
        assert final.usage.output_tokens > 0
        (request,) = await _messages_received(stack)
        assert orjson.loads(request["body"])["messages"] == [{"role": "user", "content": "hello"}]


@pytest.mark.asyncio
async def test_a_responses_client_reaches_an_anthropic_endpoint_through_two_translations() -> None:
    """Responses in, Messages out and back: the pair of formats with no common wire."""
    async with _stack() as stack:
        client = stack.client(default_headers=LATENCY_FIRST)
        response = await client.responses.create(
            model=CLAUDE, instructions="Be brief.", input="hello", max_output_tokens=40
        )
        assert response.output_text and response.usage is not None
        streamed = await client.responses.create(
            model=CLAUDE, input="hello", max_output_tokens=40, stream=True
        )
        events = [event async for event in streamed]
        assert events[-1].type in ("response.completed", "response.incomplete")
        first, second = await _messages_received(stack)
        assert orjson.loads(first["body"])["system"] == "Be brief."
        assert orjson.loads(second["body"])["stream"] is True
