"""Requests the sampling ratio left out are traced all the same when they fail or are slow:
written after they end, with their true times, a span per attempt under the request's, and
`router.kept` saying why. The others cost no span."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan

from loadtest.mock_cloud.settings import RegionSettings
from tests.stack import Stack, running_stack

CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Where does the Tagus reach the sea?"}],
}
UNSAMPLED = {"telemetry": {"tracing": {"sample_ratio": 0.0}}}


def _servers(stack: Stack) -> list[ReadableSpan]:
    return [s for s in stack.spans.get_finished_spans() if s.kind.name == "SERVER"]


@pytest.mark.asyncio
async def test_an_unsampled_request_that_fails_is_traced_and_one_that_succeeds_is_not() -> None:
    async with running_stack(overrides=UNSAMPLED) as stack:
        client = stack.client()
        await client.chat.completions.create(**CHAT)
        assert stack.spans.get_finished_spans() == ()
        for region in ("us-east", "eu-west", "ap-south"):
            await stack.control(region, error_rate=1.0)
        with pytest.raises(openai.APIStatusError):
            await client.chat.completions.create(**CHAT)
        spans = stack.spans.get_finished_spans()
    (server,) = [s for s in spans if s.kind.name == "SERVER"]
    attributes = dict(server.attributes or {})
    assert attributes["router.kept"] == "error"
    assert server.status.status_code.name == "ERROR"
    assert attributes["error.type"].startswith("upstream_status_5")
    attempts = [s for s in spans if s.kind.name == "CLIENT"]
    assert len(attempts) == attributes["router.attempts"] >= 2
    for attempt in attempts:
        assert attempt.parent is not None and attempt.parent.span_id == server.context.span_id
        assert attempt.context.trace_id == server.context.trace_id
        assert server.start_time is not None and server.end_time is not None
        assert attempt.start_time is not None and attempt.end_time is not None
        assert server.start_time <= attempt.start_time <= attempt.end_time <= server.end_time
        assert attempt.status.status_code.name == "ERROR"


@pytest.mark.asyncio
async def test_an_unsampled_request_slower_than_the_bound_is_traced_as_slow() -> None:
    overrides = {"telemetry": {"tracing": {"sample_ratio": 0.0, "keep_slower_than_ms": 0.001}}}
    async with running_stack(overrides=overrides) as stack:
        await stack.client().chat.completions.create(**CHAT)
        (server,) = _servers(stack)
    attributes = dict(server.attributes or {})
    assert attributes["router.kept"] == "slow"
    assert server.status.status_code.name == "UNSET"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["router.endpoint"]


@pytest.mark.asyncio
async def test_keeping_errors_can_be_turned_off_and_sampled_requests_are_not_marked() -> None:
    overrides = {"telemetry": {"tracing": {"sample_ratio": 0.0, "keep_errors": False}}}
    async with running_stack(overrides=overrides) as stack:
        with pytest.raises(openai.NotFoundError):
            await stack.client().chat.completions.create(**{**CHAT, "model": "no-such-model"})
        assert _servers(stack) == []
    async with running_stack() as stack:  # every request sampled
        with pytest.raises(openai.NotFoundError):
            await stack.client().chat.completions.create(**{**CHAT, "model": "no-such-model"})
        (server,) = _servers(stack)
    assert "router.kept" not in (server.attributes or {})


@pytest.mark.asyncio
async def test_a_stream_that_breaks_after_its_first_byte_is_kept_as_an_error() -> None:
    slow = (RegionSettings(name="us-east", tokens_per_s=20.0, completion_tokens=400),)
    async with running_stack(regions=slow, overrides=UNSAMPLED) as stack:
        stream = await stack.client().chat.completions.create(
            **{**CHAT, "max_tokens": 400}, stream=True
        )
        with pytest.raises(openai.APIError):
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    await stack.control("us-east", down=True)
        (server,) = _servers(stack)
    attributes = dict(server.attributes or {})
    assert attributes["router.kept"] == "error"
    assert attributes["error.type"] == "upstream_connect_error_mid_stream"
    assert attributes["http.response.status_code"] == 200  # the answer had started
