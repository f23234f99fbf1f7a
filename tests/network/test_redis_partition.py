"""Issue 21's scenarios of a shared Redis over a real network: two PoPs keep one tenant's limits
and budget in a Redis of its own, 5 ms from each.

- Redis partitioned from one PoP: that PoP keeps serving on its local limits and says so (its
  usage report and `router_limits_backend_degraded`), the other keeps counting in Redis; after
  the heal, what the cut-off PoP served meanwhile is added to Redis and the two PoPs report the
  same usage.
- A budget shared by two PoPs under concurrent load is not overspent by more than the requests
  in flight; and a PoP cut off from Redis does not spend it a second time.

Hosts: the test (`here`) 1 ms from each PoP; each PoP 5 ms from `redis` and from one region,
`us-east`, of the simulated cloud (zero simulated latency)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from loadtest.network.testbed import HERE, TestBed, Topology
from tests.network.network_stack import (
    ADMIN_HEADERS,
    CHAT,
    REDIS_PORT,
    chat,
    node_config,
    start_redis,
    start_region,
    start_router,
    until_ready,
)
from tests.tenant_policies import key_of, write_policies

POPS = ("pop-a", "pop-b")
KEY = key_of("acme")
# Each answer is max_tokens long; at $0.6 per million output tokens a request costs $0.000012.
BODY: dict[str, Any] = {**CHAT, "max_tokens": 20}
REQUEST_USD = 20 * 0.6 / 1_000_000
# Fifty requests' worth: spent twice over if each PoP kept a budget of its own.
BUDGET_USD = 50 * REQUEST_USD
CLIENTS_PER_POP = 8
DEGRADED = "router_limits_backend_degraded"
FALLBACKS = "router_limits_backend_fallbacks_total"


@contextmanager
def two_pops(directory: Path, limits: str) -> Iterator[tuple[TestBed, dict[str, str]]]:
    """Both PoPs' routers, their limits in the Redis host's redis-server; their URLs by PoP."""
    links: list[dict[str, Any]] = [{"a": HERE, "b": pop, "delay_ms": 1} for pop in POPS]
    links += [{"a": pop, "b": far, "delay_ms": 5} for pop in POPS for far in ("redis", "us-east")]
    topology = Topology.of({"hosts": [HERE, *POPS, "redis", "us-east"], "links": links})
    policies = write_policies(
        directory / "policies",
        {"acme": f"models:\n  - alias: gpt-4o-mini\nlimits:\n{limits}"},
        explain=True,  # the endpoint is said in x-router-endpoint
    )
    with TestBed(topology) as bed:
        start_redis(bed, "redis", directory)
        start_region(bed, "us-east", directory)
        urls = {}
        for pop in POPS:
            redis_url = f"redis://{bed.address('redis', seen_from=pop)}:{REDIS_PORT}/0"
            config = node_config(
                bed,
                pop,
                ["us-east"],
                policies={"directory": str(policies), "watch": False},
                limits={
                    "backend": "redis",
                    "redis": {"url": redis_url, "timeout_ms": 200, "retry_interval_s": 0.5},
                },
            )
            config.pop("auth")
            urls[pop] = start_router(bed, pop, config, directory)
        yield bed, urls


async def _usage(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(f"{url}/admin/tenants/acme/usage", headers=ADMIN_HEADERS) as response:
        assert response.status == 200
        report: dict[str, Any] = await response.json()
        return report


async def _metric(http: aiohttp.ClientSession, url: str, name: str) -> float:
    async with http.get(f"{url}/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"no {name} series")


async def _served(http: aiohttp.ClientSession, url: str, requests: int) -> None:
    for _ in range(requests):
        status, endpoint = await chat(http, url, key=KEY, body=BODY)
        assert (status, endpoint) == (200, "us-east")


async def _until(http: aiohttp.ClientSession, url: str, requests: int) -> dict[str, Any]:
    """The usage report once it counts `requests` today (settling runs in the background)."""
    for _ in range(100):
        report = await _usage(http, url)
        if report["today"]["requests"] >= requests and "local_fallback" not in report:
            return report
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never reported {requests} requests: {report}")


@pytest.mark.asyncio
async def test_a_pop_cut_off_from_redis_serves_on_local_limits_and_agrees_after_the_heal(
    tmp_path: Path,
) -> None:
    with two_pops(tmp_path, "  requests_per_minute: 10000\n  daily_budget_usd: 10\n") as (
        bed,
        urls,
    ):
        a, b = urls["pop-a"], urls["pop-b"]
        async with aiohttp.ClientSession() as http:
            for url in (a, b):
                await until_ready(http, url)
                await _served(http, url, 5)
            before = await _until(http, b, 10)
            assert (await _usage(http, a))["today"] == before["today"]

            failed_before = await _metric(http, a, FALLBACKS)
            bed.partition("pop-a", "redis")
            for _ in range(10):  # over 2 s: four retry intervals
                await _served(http, a, 1)
                await asyncio.sleep(0.2)
            await _served(http, b, 10)
            # Only the first request found Redis gone; a probe, not requests, waits on it since.
            assert await _metric(http, a, FALLBACKS) - failed_before == 1
            cut_off = await _usage(http, a)
            assert cut_off["backend"] == "memory" and cut_off["degraded"] is True
            assert cut_off["today"]["requests"] == 10  # its own, since the cut
            assert await _metric(http, a, DEGRADED) == 1.0
            on_redis = await _until(http, b, 20)
            assert on_redis["backend"] == "redis" and on_redis["degraded"] is False
            assert await _metric(http, b, DEGRADED) == 0.0

            bed.heal("pop-a", "redis")
            await asyncio.sleep(0.6)  # the retry interval: the next call tries Redis again
            await _served(http, a, 1)
            healed_a = await _until(http, a, 31)
            healed_b = await _until(http, b, 31)
    print("after the heal:", healed_a["today"], healed_b["today"], sep="\n")
    assert healed_a["backend"] == "redis" and healed_a["degraded"] is False
    assert healed_a["today"] == healed_b["today"]
    assert healed_a["today"]["requests"] == 31  # 10 before, 20 during, 1 after: none lost
    assert healed_a["today"]["spend_usd"] == pytest.approx(31 * REQUEST_USD)
    # Nothing is held once every request has ended: an admission cut off mid-call and carried
    # out by Redis as the partition healed was released, not left reserving budget for good.
    assert healed_a["today"]["reserved_usd"] == 0


async def _spend_until_refused(http: aiohttp.ClientSession, url: str) -> list[int]:
    """Requests one after another until the budget refuses one; the statuses."""
    statuses = []
    for _ in range(200):
        status, _ = await chat(http, url, key=KEY, body=BODY)
        statuses.append(status)
        if status != 200:
            return statuses
    raise AssertionError("the budget never refused a request")


@pytest.mark.asyncio
async def test_a_budget_shared_by_two_pops_is_not_overspent_by_more_than_the_requests_in_flight(
    tmp_path: Path,
) -> None:
    with two_pops(tmp_path, f"  daily_budget_usd: {BUDGET_USD!r}\n") as (_, urls):
        async with aiohttp.ClientSession() as http:
            for url in urls.values():
                await until_ready(http, url)
            runs = await asyncio.gather(
                *(_spend_until_refused(http, url) for url in urls.values()
                  for _ in range(CLIENTS_PER_POP))
            )  # fmt: skip
            reports = [await _until(http, url, 1) for url in urls.values()]
    refused = {status for run in runs for status in run if status != 200}
    served = sum(run.count(200) for run in runs)
    spend_usd = reports[0]["today"]["spend_usd"]
    in_flight = len(POPS) * CLIENTS_PER_POP
    print(f"served {served}, spent ${spend_usd:.6f} of ${BUDGET_USD:.6f}")
    assert refused == {429}  # insufficient_quota, on both PoPs
    assert reports[0]["today"] == reports[1]["today"]
    assert reports[0]["today"]["requests"] == served
    assert spend_usd >= BUDGET_USD - in_flight * REQUEST_USD  # the budget was reached
    assert spend_usd <= BUDGET_USD + in_flight * REQUEST_USD


@pytest.mark.asyncio
async def test_a_pop_cut_off_from_redis_does_not_spend_the_shared_budget_again(
    tmp_path: Path,
) -> None:
    # Thirty requests' worth spent through the two PoPs in turn; then pop-a is cut off from
    # Redis. It starts its local budget from what Redis last told it was committed (29 requests'
    # worth, at its last admission), so it serves 21 more, not 50: the budget overspent by what
    # pop-b spent after pop-a last heard from Redis (one request), not by a whole budget.
    with two_pops(tmp_path, f"  daily_budget_usd: {BUDGET_USD!r}\n") as (bed, urls):
        a, b = urls["pop-a"], urls["pop-b"]
        async with aiohttp.ClientSession() as http:
            for url in (a, b):
                await until_ready(http, url)
            for _ in range(15):
                await _served(http, a, 1)
                await _served(http, b, 1)
            bed.partition("pop-a", "redis")
            cut_off = await _spend_until_refused(http, a)
            local = await _usage(http, a)
            bed.heal("pop-a", "redis")
            await asyncio.sleep(0.6)  # the probe finds Redis again
            healed = await _until(http, b, 30 + cut_off.count(200))
    print(f"served by pop-a while cut off: {cut_off.count(200)}, then {cut_off[-1]}")
    assert local["degraded"] is True and cut_off[-1] == 429
    assert cut_off.count(200) == 21
    assert healed["today"]["spend_usd"] == pytest.approx(BUDGET_USD + REQUEST_USD)
