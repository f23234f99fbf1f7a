"""Issue 21's loss scenario over a real network: 3% of the packets on the path between a PoP and
its nearest region are lost, both ways. TCP retransmits them (the first retransmission waits
about 200 ms on Linux), so requests to that region grow a slow tail; the router's latency
estimates take the peaks (peak EWMA), and traffic moves to the region whose path is clean. The
relay's loss is random, seeded by RELAY_SEED in the test's environment."""

from __future__ import annotations

import os
import time
from pathlib import Path

import aiohttp
import pytest

from tests.network.network_stack import (
    ADMIN_HEADERS,
    chat,
    one_pop,
    until_ready,
)

REGIONS = {"us-east": 5.0, "eu-west": 10.0}
REQUESTS = 300


async def _latency_estimate_ms(http: aiohttp.ClientSession, url: str, name: str) -> float:
    async with http.get(f"{url}/admin/endpoints", headers=ADMIN_HEADERS) as response:
        body = await response.json()
    (endpoint,) = [e for e in body["endpoints"] if e["name"] == name]
    return float(endpoint["models"]["gpt-4o-mini"]["latency"]["cost_ms"])


async def _phase(http: aiohttp.ClientSession, url: str) -> tuple[dict[str, int], list[float]]:
    served: dict[str, int] = {}
    took_ms: list[float] = []
    for _ in range(REQUESTS):
        started = time.monotonic()
        status, endpoint = await chat(http, url)
        assert status == 200
        took_ms.append((time.monotonic() - started) * 1000)
        served[endpoint] = served.get(endpoint, 0) + 1
    return served, took_ms


@pytest.mark.asyncio
async def test_loss_on_the_nearest_path_grows_its_tail_and_moves_traffic_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAY_SEED", "21")
    with one_pop(REGIONS, tmp_path) as (bed, url):
        async with aiohttp.ClientSession() as http:
            await until_ready(http, url)
            clean_served, _ = await _phase(http, url)
            clean_estimate = await _latency_estimate_ms(http, url, "us-east")
            bed.shape("pop", "us-east", delay_ms=REGIONS["us-east"], loss=0.03)
            lossy_served, lossy_ms = await _phase(http, url)
            peak_estimate = await _latency_estimate_ms(http, url, "us-east")
    print("clean:", clean_served, "lossy:", lossy_served)
    print(f"us-east latency estimate {clean_estimate:.1f} ms clean, {peak_estimate:.1f} ms lossy")
    print("slowest lossy requests (ms):", sorted(lossy_ms)[-5:])
    assert os.environ["RELAY_SEED"] == "21"
    # A retransmission: some request took at least the 200 ms minimum RTO.
    assert max(lossy_ms) >= 200.0
    assert lossy_served.get("us-east", 0) < clean_served.get("us-east", 0), (
        clean_served,
        lossy_served,
    )
