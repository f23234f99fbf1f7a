"""The event loop's lag is at `/metrics`: a request that held the loop shows as a late timer."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from tests.stack import Stack, running_stack

BLOCK_S = 0.6


async def _lag_samples(stack: Stack) -> dict[str, float]:
    async with stack.http.get(f"{stack.url}/metrics") as response:
        text = await response.text()
    pattern = r'router_event_loop_lag_milliseconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)'
    return {le: float(count) for le, count in re.findall(pattern, text)}


@pytest.mark.asyncio
async def test_a_blocked_loop_shows_in_the_lag_histogram() -> None:
    async with running_stack() as stack:
        for _ in range(100):
            if (await _lag_samples(stack)).get("+Inf", 0) > 0:
                break
            await asyncio.sleep(0.05)
        before = await _lag_samples(stack)
        late_before = before["+Inf"] - before["250.0"]
        # What a request that holds the loop does to every other one.
        time.sleep(BLOCK_S)  # noqa: ASYNC251 - holding the loop is the point
        for _ in range(100):
            after = await _lag_samples(stack)
            if after["+Inf"] - after["250.0"] > late_before:
                break
            await asyncio.sleep(0.05)
        assert after["+Inf"] - after["250.0"] > late_before  # a timer ran over 250 ms late
