"""Two real router processes share one tenant's limits and budget through a real redis-server, and
keep serving on local limits when Redis goes away."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from loadtest.mock_cloud.cloud import MockCloud
from loadtest.mock_cloud.settings import CloudSettings, ControlSettings
from tests.openai_clients import async_openai
from tests.redis_server import free_port, redis_server
from tests.router_process import router_process
from tests.stack import ADMIN_HEADERS, ADMIN_TOKEN_ENV, DEFAULT_REGIONS, node_config
from tests.tenant_policies import policy_yaml

CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": 20,
}


def _shared_config(
    cloud: MockCloud, directory: Path, redis_url: str, limits: str
) -> dict[str, Any]:
    policies = directory / "policies"
    policies.mkdir(exist_ok=True)
    (policies / "acme.yaml").write_text(
        policy_yaml("acme", f"models:\n  - alias: gpt-4o-mini\nlimits:\n{limits}")
    )
    config = node_config(cloud)
    config.pop("auth")
    config["admin"] = {"token_env": ADMIN_TOKEN_ENV}
    config["policies"] = {"directory": str(policies), "watch": False}
    config["limits"] = {
        "backend": "redis",
        "redis": {"url": redis_url, "timeout_ms": 200, "retry_interval_s": 0.3},
    }
    return config


def _client(url: str) -> AsyncOpenAI:
    return async_openai(f"{url}/v1", api_key="sk-acme", max_retries=0)


async def _admitted(client: AsyncOpenAI) -> str:
    try:
        await client.chat.completions.create(**CHAT)
    except openai.RateLimitError as refused:
        return str(refused.code)
    return "ok"


async def _usage(url: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/admin/tenants/acme/usage", headers=ADMIN_HEADERS) as response,
    ):
        assert response.status == 200
        report: dict[str, Any] = await response.json()
        return report


async def _settled(url: str, requests: int) -> dict[str, Any]:
    for _ in range(200):
        report = await _usage(url)
        if report["today"]["requests"] >= requests:
            return report
        await asyncio.sleep(0.02)
    raise AssertionError(f"never saw {requests} settled requests")


@pytest.mark.asyncio
async def test_two_router_processes_share_one_rate_limit_and_one_budget(tmp_path: Path) -> None:
    settings = CloudSettings(control=ControlSettings(port=0), regions=DEFAULT_REGIONS)
    with redis_server(tmp_path) as redis_url:
        async with MockCloud(settings, seed=3) as cloud:
            config = _shared_config(
                cloud, tmp_path, redis_url, "  requests_per_minute: 4\n  daily_budget_usd: 1.0\n"
            )
            async with (
                router_process(config, tmp_path, "a") as a,
                router_process(config, tmp_path, "b") as b,
            ):
                clients = [_client(a), _client(b)]
                outcomes = [await _admitted(clients[i % 2]) for i in range(8)]
                # Four per minute between them, not four each.
                assert outcomes == ["ok"] * 4 + ["rate_limit_exceeded"] * 4
                report = await _settled(a, 4)
                assert report["backend"] == "redis"
                assert report["today"]["refused"] == {"requests_per_minute": 4}
                assert (await _usage(b))["today"] == report["today"]


@pytest.mark.asyncio
async def test_a_shared_budget_stops_both_processes_together(tmp_path: Path) -> None:
    settings = CloudSettings(control=ControlSettings(port=0), regions=DEFAULT_REGIONS)
    with redis_server(tmp_path) as redis_url:
        async with MockCloud(settings, seed=3) as cloud:
            # A request costs about $0.00001 here: the budget lasts a handful of requests.
            config = _shared_config(cloud, tmp_path, redis_url, "  daily_budget_usd: 0.00005\n")
            async with (
                router_process(config, tmp_path, "a") as a,
                router_process(config, tmp_path, "b") as b,
            ):
                clients = [_client(a), _client(b)]
                served = 0
                for i in range(200):
                    outcome = await _admitted(clients[i % 2])
                    if outcome != "ok":
                        assert outcome == "insufficient_quota"
                        break
                    served += 1
                    await _settled(a, served)  # one after another: each sees the last spend
                assert 2 <= served < 200
                # Once spent, both refuse.
                assert await _admitted(clients[0]) == "insufficient_quota"
                assert await _admitted(clients[1]) == "insufficient_quota"
                today = (await _usage(b))["today"]
                assert today["spend_usd"] >= 0.00005
                # Sequential requests overshoot by at most the last one's cost.
                last_cost = today["spend_usd"] / served
                assert today["spend_usd"] < 0.00005 + 2 * last_cost


@pytest.mark.asyncio
async def test_limits_fall_back_to_local_while_redis_is_down_and_say_so(tmp_path: Path) -> None:
    settings = CloudSettings(control=ControlSettings(port=0), regions=DEFAULT_REGIONS)
    port = free_port()
    async with MockCloud(settings, seed=3) as cloud:
        redis = contextlib.ExitStack()
        redis_url = redis.enter_context(redis_server(tmp_path, port))
        config = _shared_config(cloud, tmp_path, redis_url, "  requests_per_minute: 1000\n")
        async with router_process(config, tmp_path, "a") as a:
            client = _client(a)
            assert await _admitted(client) == "ok"
            assert (await _settled(a, 1))["backend"] == "redis"
            redis.close()
            # Redis is gone: requests are still served, limits enforced locally.
            for _ in range(3):
                assert await _admitted(client) == "ok"
            report = await _settled(a, 3)
            assert report["backend"] == "memory"
            assert report["degraded"] is True
            metrics = await _metrics(a)
            assert "router_limits_backend_degraded 1.0" in metrics
            assert "router_limits_backend_fallbacks_total" in metrics
            assert "enforcing limits locally" in (tmp_path / "a.log").read_text()
            # Redis is back on the same port: after the retry interval, limits are shared again.
            with redis_server(tmp_path, port):
                await asyncio.sleep(0.4)
                assert await _admitted(client) == "ok"
                for _ in range(100):
                    if "router_limits_backend_degraded 0.0" in await _metrics(a):
                        break
                    await asyncio.sleep(0.02)
                else:
                    raise AssertionError("the router never went back to Redis")
                assert "limits are shared" in (tmp_path / "a.log").read_text()
                # What was served locally meanwhile is added to this Redis (new, so empty):
                # the three requests of the outage and the one since.
                report = await _settled(a, 4)
                assert report["backend"] == "redis" and "local_fallback" not in report, report
                assert report["today"]["requests"] == 4
                assert "usage recorded locally" in (tmp_path / "a.log").read_text()


async def _metrics(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
        return await response.text()
