"""Reporting a wrong hit through the client: every hit names its entry, the tenant's report purges
it (exact and semantic, here and at every router through the shared tier) and is counted;
another tenant's report, an unknown entry and a malformed body change nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from loadtest.mock_cloud.cloud import MockCloud
from loadtest.mock_cloud.settings import CloudSettings, ControlSettings
from router.state import STATE
from tests.cache.cache_stack import QUESTION, cloud_calls, write_tenants
from tests.openai_clients import async_openai
from tests.redis_server import free_port, redis_server
from tests.router_process import router_process
from tests.stack import ADMIN_HEADERS, DEFAULT_REGIONS, Stack, node_config, running_stack

REWORDING = {"role": "user", "content": "Which city is the capital of France?"}
REWORDED = {**QUESTION, "messages": [QUESTION["messages"][0], REWORDING]}
ONLY_CACHED = {"x-router-cache": "only-if-cached"}
ENTRY = "x-router-cache-entry"


def _tenants(directory: Path) -> dict[str, Any]:
    write_tenants(directory, {"acme": "{ttl_s: 600, semantic: true}", "beta": "{}"})
    return {"policies": {"directory": str(directory), "watch": False}, "cache": {"enabled": True}}


async def _report(
    url: str, body: Any, *, key: str = "sk-acme", path: str = "/v1/cache/wrong_hits"
) -> tuple[int, dict[str, Any]]:
    headers = ADMIN_HEADERS if key == "admin" else {"Authorization": f"Bearer {key}"}
    data = body if isinstance(body, bytes) else None
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            url + path, json=None if data is not None else body, data=data, headers=headers
        ) as response,
    ):
        return response.status, await response.json()


async def _hit(client: openai.AsyncOpenAI, request: dict[str, Any]) -> tuple[str, str]:
    """(x-router-cache, x-router-cache-entry) of a request only the cache may answer."""
    try:
        raw = await client.chat.completions.with_raw_response.create(
            **request, extra_headers=ONLY_CACHED
        )
    except openai.APIStatusError as error:
        assert error.status_code == 504, error
        return "miss", ""
    return raw.headers["x-router-cache"], raw.headers[ENTRY]


async def _metrics(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
        return await response.text()


async def _cached_question(stack: Stack) -> str:
    """Ask QUESTION as acme (a miss, stored); the id its hits carry."""
    client = stack.client(api_key="sk-acme")
    first = await client.chat.completions.with_raw_response.create(**QUESTION)
    assert first.headers["x-router-cache"] == "miss"
    assert ENTRY not in first.headers
    await stack.app[STATE].cache.drain()
    verdict, entry = await _hit(client, QUESTION)
    assert verdict == "hit-exact"
    return entry


@pytest.mark.asyncio
async def test_a_reported_hit_is_purged_exactly_and_by_meaning_and_counted(
    tmp_path: Path,
) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        client = stack.client(api_key="sk-acme")
        entry = await _cached_question(stack)
        assert len(entry) == 64 and "France" not in entry
        assert await _hit(client, REWORDED) == ("hit-semantic", entry)  # the same entry

        assert await _report(stack.url, {"entry": entry}) == (200, {"entry": entry, "purged": 1})
        assert await _hit(client, REWORDED) == ("miss", "")
        assert await _hit(client, QUESTION) == ("miss", "")
        again = await client.chat.completions.with_raw_response.create(**QUESTION)
        assert again.headers["x-router-cache"] == "miss"
        assert await cloud_calls(stack) == 2

        text = await _metrics(stack.url)
    assert 'router_cache_wrong_hit_reports_total{reporter="client"} 1.0' in text
    assert 'router_cache_wrong_hit_reports_total{reporter="operator"} 0.0' in text
    assert "acme" not in text


@pytest.mark.asyncio
async def test_another_tenants_report_and_an_unknown_entry_are_the_same_404(
    tmp_path: Path,
) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        entry = await _cached_question(stack)
        unknown = "0" * 64
        status, theirs = await _report(stack.url, {"entry": entry}, key="sk-beta")
        assert status == 404
        assert theirs["error"]["code"] == "cache_entry_not_found"
        status, missing = await _report(stack.url, {"entry": unknown})
        assert status == 404
        assert theirs["error"]["message"].replace(entry, unknown) == missing["error"]["message"]

        assert await _hit(stack.client(api_key="sk-acme"), QUESTION) == ("hit-exact", entry)
        text = await _metrics(stack.url)
    assert 'router_cache_wrong_hit_reports_total{reporter="client"} 0.0' in text


@pytest.mark.asyncio
async def test_a_malformed_report_is_400_and_a_report_needs_a_key(tmp_path: Path) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        entry = await _cached_question(stack)
        for body in (b"{not json", [entry], {}, {"entry": 7}, {"entry": entry.upper()},
                     {"entry": entry + "0"}, {"entry": "*"}):  # fmt: skip
            status, answer = await _report(stack.url, body)
            assert status == 400, body
            assert answer["error"]["type"] == "invalid_request_error"
        status, answer = await _report(stack.url, {"entry": entry}, key="sk-unknown")
        assert status == 401
        assert await _hit(stack.client(api_key="sk-acme"), QUESTION) == ("hit-exact", entry)


@pytest.mark.asyncio
async def test_an_operator_reports_any_tenants_hit_with_the_admin_token(tmp_path: Path) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        entry = await _cached_question(stack)
        admin_path = "/admin/cache/wrong_hits"
        status, _ = await _report(stack.url, {"entry": entry}, path=admin_path)  # a tenant key
        assert status == 401
        assert await _report(stack.url, {"entry": entry}, key="admin", path=admin_path) == (
            200,
            {"entry": entry, "purged": 1},
        )
        assert await _hit(stack.client(api_key="sk-acme"), QUESTION) == ("miss", "")
        text = await _metrics(stack.url)
    assert 'router_cache_wrong_hit_reports_total{reporter="operator"} 1.0' in text


async def _eventually(client: openai.AsyncOpenAI, verdict: str) -> str:
    for _ in range(100):
        seen, entry = await _hit(client, QUESTION)
        if seen == verdict:
            return entry
        await asyncio.sleep(0.05)
    raise AssertionError(f"never {verdict} (last: {seen})")


@pytest.mark.asyncio
async def test_a_report_at_one_router_purges_the_entry_at_every_router(tmp_path: Path) -> None:
    settings = CloudSettings(control=ControlSettings(port=0), regions=DEFAULT_REGIONS)
    policies = tmp_path / "policies"
    policies.mkdir()
    write_tenants(policies, {"acme": "{ttl_s: 600}", "beta": "{ttl_s: 600}"})
    with redis_server(tmp_path) as redis_url:
        async with MockCloud(settings, seed=3) as cloud:
            config = node_config(cloud)
            config.pop("auth")
            config["policies"] = {"directory": str(policies), "watch": False}
            config["cache"] = {
                "enabled": True,
                "shared": {
                    "enabled": True,
                    "redis": {"url": redis_url, "timeout_ms": 300, "retry_interval_s": 0.3},
                },
            }
            async with (
                router_process(config, tmp_path, "a") as a,
                router_process(config, tmp_path, "b") as b,
            ):
                acme_at_a = async_openai(f"{a}/v1", api_key="sk-acme")
                await acme_at_a.chat.completions.create(**QUESTION)
                acme_at_b = async_openai(f"{b}/v1", api_key="sk-acme")
                entry = await _eventually(acme_at_b, "hit-exact")
                assert await _hit(acme_at_a, QUESTION) == ("hit-exact", entry)

                status, _ = await _report(b, {"entry": entry}, key="sk-beta")
                assert status == 404
                assert await _hit(acme_at_a, QUESTION) == ("hit-exact", entry)

                assert await _report(b, {"entry": entry}) == (
                    200,
                    {"entry": entry, "purged": 1, "shared_purged": 1},
                )
                assert await _hit(acme_at_b, QUESTION) == ("miss", "")
                await _eventually(acme_at_a, "miss")
                async with router_process(config, tmp_path, "late") as late:  # Redis forgot it
                    acme_late = async_openai(f"{late}/v1", api_key="sk-acme")
                    assert await _hit(acme_late, QUESTION) == ("miss", "")
                text = await _metrics(b)
    assert 'router_cache_wrong_hit_reports_total{reporter="client"} 1.0' in text


@pytest.mark.asyncio
async def test_without_redis_a_report_purges_here_and_answers_503(tmp_path: Path) -> None:
    overrides = _tenants(tmp_path)
    overrides["cache"] = {
        "enabled": True,
        "shared": {
            "enabled": True,
            "redis": {"url": f"redis://127.0.0.1:{free_port()}/0", "timeout_ms": 300},
        },
    }
    async with running_stack(overrides=overrides) as stack:
        entry = await _cached_question(stack)
        status, answer = await _report(stack.url, {"entry": entry})
        assert status == 503  # purged here; the reporter is told to retry for the rest
        assert answer["error"]["code"] == "shared_cache_unavailable"
        assert await _hit(stack.client(api_key="sk-acme"), QUESTION) == ("miss", "")
        text = await _metrics(stack.url)
    assert 'router_cache_wrong_hit_reports_total{reporter="client"} 1.0' in text
