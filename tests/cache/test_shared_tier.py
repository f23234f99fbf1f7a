"""The shared tier: an answer cached at one router process is served at another through a real
redis-server, exactly and by meaning, never to another tenant; a router that starts late warms
from Redis; a purge reaches every router; and without Redis the local tiers keep serving."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from loadtest.mock_cloud.cloud import MockCloud
from loadtest.mock_cloud.settings import CloudSettings, ControlSettings
from tests.cache.cache_stack import asking
from tests.openai_clients import async_openai
from tests.redis_server import free_port, redis_server
from tests.router_process import router_process
from tests.stack import ADMIN_HEADERS, DEFAULT_REGIONS, node_config, running_stack
from tests.tenant_policies import ONE_MODEL, write_policies

ONLY_CACHED = {"x-router-cache": "only-if-cached"}


def _policies(directory: Path) -> Path:
    cache = f"{ONE_MODEL}cache: {{ttl_s: 600, semantic: true}}\n"
    return write_policies(directory / "policies", {"acme": cache, "beta": cache})


def _shared(redis_url: str) -> dict[str, Any]:
    return {
        "enabled": True,
        "shared": {
            "enabled": True,
            "redis": {"url": redis_url, "timeout_ms": 300, "retry_interval_s": 0.3},
        },
    }


def _config(cloud: MockCloud, directory: Path, redis_url: str) -> dict[str, Any]:
    config = node_config(cloud)
    config.pop("auth")
    config["policies"] = {"directory": str(_policies(directory)), "watch": False}
    config["cache"] = _shared(redis_url)
    return config


def _client(url: str, tenant: str) -> AsyncOpenAI:
    return async_openai(f"{url}/v1", api_key=f"sk-{tenant}", max_retries=0)


async def _cached(client: AsyncOpenAI, question: str) -> tuple[str, str]:
    """(x-router-cache, the answer) for a request that may only be answered from the cache;
    ("miss", "") when nothing cached answers it."""
    try:
        raw = await client.chat.completions.with_raw_response.create(
            **asking(question), extra_headers=ONLY_CACHED
        )
    except openai.APIStatusError as error:
        assert error.status_code == 504, error
        return "miss", ""
    return raw.headers["x-router-cache"], raw.parse().choices[0].message.content or ""


async def _eventually(client: AsyncOpenAI, question: str, verdict: str) -> str:
    for _ in range(100):
        seen, answer = await _cached(client, question)
        if seen == verdict:
            return answer
        await asyncio.sleep(0.05)
    raise AssertionError(f"{question!r} never became {verdict} (last: {seen})")


async def _metrics(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
        return await response.text()


@pytest.mark.asyncio
async def test_an_answer_cached_at_one_router_is_served_at_another_and_never_to_another_tenant(
    tmp_path: Path,
) -> None:
    settings = CloudSettings(control=ControlSettings(port=0), regions=DEFAULT_REGIONS)
    question, reworded = "What is the capital of France?", "Which city is the capital of France?"
    with redis_server(tmp_path) as redis_url:
        async with MockCloud(settings, seed=3) as cloud:
            config = _config(cloud, tmp_path, redis_url)
            async with (
                router_process(config, tmp_path, "a") as a,
                router_process(config, tmp_path, "b") as b,
            ):
                answer = await _client(a, "acme").chat.completions.create(**asking(question))
                text = answer.choices[0].message.content

                acme_at_b = _client(b, "acme")
                assert await _eventually(acme_at_b, question, "hit-exact") == text
                assert await _cached(acme_at_b, reworded) == ("hit-semantic", text)
                for asked in (question, reworded):  # the other tenant, at either router
                    for router in (a, b):
                        assert await _cached(_client(router, "beta"), asked) == ("miss", "")

                async with router_process(config, tmp_path, "late") as late:
                    assert await _cached(_client(late, "acme"), question) == ("hit-exact", text)
                    assert await _cached(_client(late, "beta"), question) == ("miss", "")
                    metrics = await _metrics(late)
                    assert 'router_cache_shared_entries_total{direction="warmed"} 1.0' in metrics
                    assert "router_cache_shared_degraded 0.0" in metrics
                assert 'router_cache_shared_entries_total{direction="received"} 1.0' in (
                    await _metrics(b)
                )

                async with (
                    aiohttp.ClientSession() as http,
                    http.delete(
                        f"{b}/admin/cache", params={"tenant": "acme"}, headers=ADMIN_HEADERS
                    ) as purged,
                ):
                    assert purged.status == 200
                    assert (await purged.json())["shared_purged"] == 1
                await _eventually(_client(a, "acme"), question, "miss")
                assert await _cached(_client(a, "acme"), reworded) == ("miss", "")


@pytest.mark.asyncio
async def test_without_redis_the_local_tiers_keep_serving(tmp_path: Path) -> None:
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    overrides = {"policies": {"directory": str(_policies(tmp_path)), "watch": False},
                 "cache": _shared(unreachable)}  # fmt: skip
    async with running_stack(overrides=overrides) as stack:
        client = stack.client(api_key="sk-acme")
        first = await client.chat.completions.with_raw_response.create(**asking("Hello there?"))
        assert first.headers["x-router-cache"] == "miss"
        assert await _cached(client, "Hello there?") == (
            "hit-exact",
            first.parse().choices[0].message.content,
        )
        async with stack.http.delete(
            f"{stack.url}/admin/cache", params={"tenant": "acme"}, headers=ADMIN_HEADERS
        ) as response:  # purged here; the shared part could not be, and the operator is told
            assert response.status == 503
            assert (await response.json())["error"]["code"] == "shared_cache_unavailable"
        assert await _cached(client, "Hello there?") == ("miss", "")
