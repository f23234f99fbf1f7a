"""Issue 21's first scenario, over a real network: a PoP with three regions at 5, 20 and 50 ms one
way ranks them by their real distance and sends its traffic to the nearest. The regions answer with
zero simulated latency: the network is the only distance. Each process (the simulated cloud per
region, `edge-router serve` in the PoP) runs in its own namespace; the test is the client, 1 ms
from the PoP."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from loadtest.network.testbed import HERE, TestBed, Topology

REGIONS = {"us-east": 5.0, "eu-west": 20.0, "ap-south": 50.0}  # one-way delay from the PoP, ms
CLOUD_PORT = 9101
ROUTER_PORT = 8080
ADMIN_TOKEN = "network-admin"
API_KEY = "sk-network"
# A probe is one request on an open connection: one round trip (2 x the one-way delay), plus the
# relay's and the processes' own time, which link_check measured at 1.5 to 3 ms; the ranking must
# hold and each estimate lie within this of its round trip.
RTT_TOLERANCE_MS = 15.0


def _topology() -> Topology:
    links: list[dict[str, Any]] = [{"a": HERE, "b": "pop", "delay_ms": 1}]
    links += [{"a": "pop", "b": region, "delay_ms": d} for region, d in REGIONS.items()]
    return Topology.of({"hosts": [HERE, "pop", *REGIONS], "links": links})


def _cloud_config(region: str) -> dict[str, Any]:
    return {
        "control": {"host": "127.0.0.1", "port": 9100},
        "regions": [{"name": region, "host": "0.0.0.0", "port": CLOUD_PORT}],
    }


def _node_config(bed: TestBed) -> dict[str, Any]:
    endpoints = [
        {
            "name": region,
            "base_url": f"http://{bed.address(region, seen_from='pop')}:{CLOUD_PORT}/v1",
            "region": region,
            "models": [
                {"name": "gpt-4o-mini", "input_price_per_mtok": 0.15, "output_price_per_mtok": 0.6}
            ],
        }
        for region in REGIONS
    ]
    return {
        "server": {"host": "0.0.0.0", "port": ROUTER_PORT, "access_log": False},
        "auth": {"api_keys": [API_KEY]},
        "admin": {"token_env": "NETWORK_ADMIN_TOKEN"},
        "routing": {"default_objective": "latency"},
        "health": {"probe_interval_s": 0.2},
        "cache": {"enabled": False},
        "endpoints": endpoints,
    }


def _wait_for_line(process: subprocess.Popen[bytes], prefix: bytes) -> None:
    assert process.stdout is not None
    for _ in range(200):
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"exited before saying {prefix!r}")
        if line.startswith(prefix):
            return
    raise AssertionError(f"never said {prefix!r}")


@contextmanager
def _pop_with_regions(tmp_path: Path) -> Iterator[tuple[TestBed, str]]:
    with TestBed(_topology()) as bed:
        for region in REGIONS:
            config = tmp_path / f"{region}.yaml"
            config.write_text(yaml.safe_dump(_cloud_config(region)))
            argv = [sys.executable, "-m", "loadtest.mock_cloud", "--config", str(config)]
            cloud = bed.run(region, argv, stdout=subprocess.PIPE)
            _wait_for_line(cloud, b"control on ")
        node = tmp_path / "node.yaml"
        node.write_text(yaml.safe_dump(_node_config(bed)))
        log = (tmp_path / "router.log").open("wb")
        argv = [
            sys.executable,
            "-m",
            "router.cli",
            "serve",
            "--workers",
            "1",
            "--config",
            str(node),
        ]
        bed.run("pop", argv, stdout=log, env={"NETWORK_ADMIN_TOKEN": ADMIN_TOKEN})
        yield bed, f"http://{bed.address('pop', seen_from=HERE)}:{ROUTER_PORT}"


async def _until_ready(http: aiohttp.ClientSession, url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            async with http.get(f"{url}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("the PoP's router never became ready")


async def _rtt_estimates(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with http.get(f"{url}/admin/endpoints", headers=headers) as response:
        body = await response.json()
    return {e["name"]: e["rtt"]["value_ms"] for e in body["endpoints"] if e["rtt"]["samples"]}


@pytest.mark.asyncio
async def test_a_pop_ranks_regions_by_their_real_distance_and_uses_the_nearest(
    tmp_path: Path,
) -> None:
    with _pop_with_regions(tmp_path) as (_, url):
        async with aiohttp.ClientSession() as http:
            await _until_ready(http, url)
            estimates: dict[str, float] = {}
            for _ in range(100):  # a few probe rounds, 0.2 s apart
                estimates = await _rtt_estimates(http, url)
                if len(estimates) == len(REGIONS) and all(
                    v is not None for v in estimates.values()
                ):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(2.0)  # ten more rounds into the averages
            estimates = await _rtt_estimates(http, url)
            print("RTT estimates (ms):", estimates)
            assert sorted(estimates, key=estimates.__getitem__) == list(REGIONS), estimates
            for region, one_way_ms in REGIONS.items():
                assert 2 * one_way_ms <= estimates[region] <= 2 * one_way_ms + RTT_TOLERANCE_MS
            served: dict[str, int] = {}
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            headers = {"Authorization": f"Bearer {API_KEY}"}
            for _ in range(20):
                async with http.post(
                    f"{url}/v1/chat/completions", json=body, headers=headers
                ) as answer:
                    assert answer.status == 200
                    endpoint = answer.headers["x-router-endpoint"]
                    served[endpoint] = served.get(endpoint, 0) + 1
            # Power of two choices over the three: the nearest is preferred whenever drawn.
            assert max(served, key=served.__getitem__) == "us-east", served
            assert served.get("ap-south", 0) == 0, served
