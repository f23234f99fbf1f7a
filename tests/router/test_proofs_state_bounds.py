"""Proof through a real router process: `model` strings a client makes up leave no state behind,
in the Redis every router shares nor in the router's memory (docs/security.md, "State a client
cannot grow"). Before, 500 requests with 100 KB model names left 444 MB in Redis, and 2,000 of them
220 MiB in the process, kept for 62 days.

The router runs as its own process so that its resident memory is its own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from loadtest.mock_cloud.cloud import MockCloud
from loadtest.mock_cloud.settings import CloudSettings, ControlSettings, RegionSettings
from tests.redis_server import redis_server
from tests.router_process import running_router
from tests.stack import ADMIN_HEADERS, node_config
from tests.tenant_policies import policy_yaml

NAME_BYTES = 100_000
REQUESTS = 500
WARM_UP = 100  # made-up names first, so the allocator's arenas are grown before measuring
PARALLEL = 8
# Bounds far under what the bug left (444 MB in Redis, about 55 MiB of process for 500 names)
# and far over what counters and allocator noise need.
REDIS_GROWTH_BYTES = 1_000_000
RSS_GROWTH_BYTES = 30 * 1024 * 1024
LONGEST_NAME_IN_REDIS = 1_000
USAGE_REPORT_BYTES = 10_000
_WAIT_S = 240.0  # the whole flood of 60 MB of request bodies, on a shared machine


def _config(cloud: MockCloud, directory: Path, redis_url: str) -> dict[str, Any]:
    policies = directory / "policies"
    policies.mkdir()
    (policies / "acme.yaml").write_text(
        policy_yaml(
            "acme", "models:\n  - alias: gpt-4o-mini\nlimits:\n  requests_per_minute: 1000000\n"
        )
    )
    config = node_config(cloud)
    config["policies"] = {"directory": str(policies), "watch": False}
    config["limits"] = {"backend": "redis", "redis": {"url": redis_url, "timeout_ms": 1000}}
    config["server"] = {"max_body_bytes": 4 * NAME_BYTES}
    return config


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


async def _redis_state(redis: aioredis.Redis) -> tuple[int, int]:
    """Keys and `used_memory` of the Redis the routers share."""
    info = await redis.info("memory")
    return int(await redis.dbsize()), int(info["used_memory"])


async def _longest_name_in_redis(redis: aioredis.Redis) -> int:
    """The longest key, hash field or set member: where a client's string would be kept."""
    longest = 0
    async for key in redis.scan_iter(count=1000):
        longest = max(longest, len(key))
        kind = await redis.type(key)  # bytes: the client does not decode
        names: list[Any] = []
        if kind == b"hash":
            names = await redis.hkeys(key)
        elif kind == b"zset":
            names = await redis.zrange(key, 0, -1)
        longest = max([longest, *(len(name) for name in names)])
    return longest


async def _flood(http: aiohttp.ClientSession, url: str, first: int, count: int) -> None:
    """`count` chat requests, each naming a different 100 KB model; each is refused."""
    gate = asyncio.Semaphore(PARALLEL)
    headers = {"Authorization": "Bearer sk-acme", "Content-Type": "application/json"}

    async def one(number: int) -> None:
        model = f"{number:08d}" + "m" * (NAME_BYTES - 8)
        body = orjson.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]})
        async with (
            gate,
            http.post(f"{url}/v1/chat/completions", data=body, headers=headers) as response,
        ):
            await response.read()
            assert response.status in (400, 404), response.status

    await asyncio.gather(*(one(n) for n in range(first, first + count)))


async def _settled_usage(http: aiohttp.ClientSession, url: str, requests: int) -> bytes:
    """The tenant's usage report, as bytes, once `requests` requests have settled."""
    raw = b""
    for _ in range(1000):
        async with http.get(f"{url}/admin/tenants/acme/usage", headers=ADMIN_HEADERS) as response:
            assert response.status == 200
            raw = await response.read()
        report = orjson.loads(raw)
        # Settled locally instead, this process only: Redis stopped answering in time.
        assert not report["degraded"], f"the router fell back from Redis: {raw[:300]!r}"
        if report["today"]["requests"] >= requests:
            return raw
        await asyncio.sleep(0.05)
    raise AssertionError(f"never saw {requests} settled requests: {raw[:500]!r}")


@pytest.mark.asyncio
async def test_made_up_model_names_leave_redis_and_the_router_process_flat(
    tmp_path: Path,
) -> None:
    settings = CloudSettings(
        control=ControlSettings(port=0), regions=(RegionSettings(name="us-east"),)
    )
    with redis_server(tmp_path) as redis_url:
        redis = aioredis.from_url(redis_url)
        try:
            async with (
                MockCloud(settings, seed=5) as cloud,
                running_router(_config(cloud, tmp_path, redis_url), tmp_path, "r") as router,
                aiohttp.ClientSession() as http,
            ):
                pid = router.process.pid
                await asyncio.wait_for(_flood(http, router.url, 0, WARM_UP), _WAIT_S)
                await _settled_usage(http, router.url, WARM_UP)
                keys_before, memory_before = await _redis_state(redis)
                rss_before = _rss_bytes(pid)

                await asyncio.wait_for(_flood(http, router.url, WARM_UP, REQUESTS), _WAIT_S)
                report = await _settled_usage(http, router.url, WARM_UP + REQUESTS)

                keys_after, memory_after = await _redis_state(redis)
                rss_after = _rss_bytes(pid)
                assert keys_after - keys_before <= 0, (keys_before, keys_after)
                assert memory_after - memory_before < REDIS_GROWTH_BYTES, (
                    memory_before,
                    memory_after,
                )
                assert await _longest_name_in_redis(redis) < LONGEST_NAME_IN_REDIS
                assert rss_after - rss_before < RSS_GROWTH_BYTES, (rss_before, rss_after)

                assert len(report) < USAGE_REPORT_BYTES, len(report)
                today = orjson.loads(report)["today"]
                assert set(today["by_model"]) == {"(unrouted)"}
                assert today["by_model"]["(unrouted)"]["requests"] == WARM_UP + REQUESTS
        finally:
            await redis.aclose()
