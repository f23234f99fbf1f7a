"""A concurrency slot admitted in Redis is released in Redis when a stall ends, not held until it
expires: a 10 s Redis stall once left 37 slots held for about 180 s, and an idle tenant was then
refused."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from loadtest.mock_cloud.settings import RegionSettings
from tests.redis_server import redis_process
from tests.stack import running_stack
from tests.tenant_policies import policy_yaml

SLOW = (RegionSettings(name="us-east", tokens_per_s=20.0, completion_tokens=20),)


async def _held_slots(client: aioredis.Redis) -> int:
    keys = [key async for key in client.scan_iter(match="*leases*")]
    return sum([await client.zcard(key) for key in keys])


@pytest.mark.asyncio
async def test_a_slot_admitted_in_redis_is_released_there_once_a_stall_ends(
    tmp_path: Path,
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "acme.yaml").write_text(
        policy_yaml("acme", "models:\n  - alias: gpt-4o-mini\nlimits:\n  concurrent_requests: 4\n")
    )
    with redis_process(tmp_path) as (url, server):
        overrides = {
            "policies": {"directory": str(policies), "watch": False},
            "limits": {
                "backend": "redis",
                "redis": {"url": url, "timeout_ms": 200, "retry_interval_s": 0.3},
            },
        }
        async with running_stack(regions=SLOW, overrides=overrides) as stack:
            inspector = aioredis.from_url(url)
            try:
                client = stack.client(api_key="sk-acme")
                stream = await client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": "hi"}],
                    stream=True,
                )
                assert await _held_slots(inspector) == 1  # admitted in Redis, in flight
                server.send_signal(signal.SIGSTOP)
                try:
                    async for _chunk in stream:
                        pass  # the answer ends while Redis cannot settle it
                    await asyncio.sleep(1.5)  # at least one settlement try fails meanwhile
                finally:
                    server.send_signal(signal.SIGCONT)
                for _ in range(100):
                    if await _held_slots(inspector) == 0:
                        break
                    await asyncio.sleep(0.1)
                assert await _held_slots(inspector) == 0
            finally:
                await inspector.aclose()
