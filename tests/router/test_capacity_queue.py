"""A request that finds every endpoint at its concurrency limit waits for a slot, within a bound,
instead of getting a 503 at once; past the wait or the queue's length it is refused."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

from loadtest.mock_cloud.settings import RegionSettings
from tests.stack import running_stack

# One region, two slots, answers that take about half a second.
SLOW = (RegionSettings(name="us-east", tokens_per_s=40.0, completion_tokens=20),)
CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _overrides(wait_s: float, queue: int) -> dict[str, Any]:
    return {"routing": {"capacity_wait_s": wait_s, "capacity_queue": queue}}


async def _outcomes(stack: Any, requests: int) -> list[str]:
    client = stack.client()

    async def one() -> str:
        try:
            await client.chat.completions.create(**CHAT)
        except openai.APIStatusError as refused:
            return str(refused.code)
        return "ok"

    return await asyncio.gather(*(one() for _ in range(requests)))


@pytest.mark.asyncio
async def test_requests_over_the_endpoints_limit_wait_for_a_slot_and_are_all_served() -> None:
    fields = {"us-east": {"max_concurrency": 2}}
    async with running_stack(
        regions=SLOW, overrides=_overrides(wait_s=30.0, queue=16), endpoint_fields=fields
    ) as stack:
        outcomes = await _outcomes(stack, 6)
        assert outcomes == ["ok"] * 6
        stats = await stack.region_stats("us-east")
        assert stats["completed"] >= 6


@pytest.mark.asyncio
async def test_past_the_queues_length_a_request_is_refused_at_once() -> None:
    fields = {"us-east": {"max_concurrency": 2}}
    async with running_stack(
        regions=SLOW, overrides=_overrides(wait_s=30.0, queue=0), endpoint_fields=fields
    ) as stack:
        outcomes = await _outcomes(stack, 4)
        assert sorted(outcomes) == ["capacity_exhausted"] * 2 + ["ok"] * 2


@pytest.mark.asyncio
async def test_a_request_that_waited_its_bound_is_refused() -> None:
    fields = {"us-east": {"max_concurrency": 1}}
    async with running_stack(
        regions=SLOW, overrides=_overrides(wait_s=0.05, queue=16), endpoint_fields=fields
    ) as stack:
        outcomes = await _outcomes(stack, 2)
        assert sorted(outcomes) == ["capacity_exhausted", "ok"]
