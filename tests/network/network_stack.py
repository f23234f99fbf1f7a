"""What the network scenarios share: the simulated cloud as one region per namespace (zero
simulated latency: the network is the only distance) and `edge-router serve` in a PoP's
namespace, in front of the regions it has links to."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from loadtest.network.testbed import HERE, TestBed, Topology
from tests.router_process import answers_ready

CLOUD_PORT = 9101
REDIS_PORT = 6379
ROUTER_PORT = 8080
ADMIN_TOKEN = "network-admin"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
API_KEY = "sk-network"
CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def start_region(bed: TestBed, region: str, directory: Path, **shape: float) -> None:
    """The simulated cloud as `region`, on all of its namespace's addresses."""
    config = directory / f"{region}.yaml"
    cloud = {
        "control": {"host": "127.0.0.1", "port": 9100},
        "regions": [{"name": region, "host": "0.0.0.0", "port": CLOUD_PORT, **shape}],
    }
    config.write_text(yaml.safe_dump(cloud))
    argv = [sys.executable, "-m", "loadtest.mock_cloud", "--config", str(config)]
    process = bed.run(region, argv, stdout=subprocess.PIPE)
    assert process.stdout is not None
    for _ in range(200):
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"{region}'s cloud exited at start")
        if line.startswith(b"control on "):
            return
    raise AssertionError(f"{region}'s cloud never said it was up")


def run_in(bed: TestBed, host: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """`argv` run to its end in `host`'s namespace (at most 10 s), its output captured."""
    command = ["ip", "netns", "exec", bed.namespace(host), *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)


def start_redis(bed: TestBed, host: str, directory: Path) -> None:
    """redis-server (no persistence) on port `REDIS_PORT` of all of `host`'s addresses; back once
    it answers inside its namespace."""
    binary = shutil.which("redis-server")
    assert binary is not None, "redis-server is not installed: run `make test`, which installs it"
    argv = [binary, "--bind", "0.0.0.0", "--port", str(REDIS_PORT), "--protected-mode", "no",
            "--save", "", "--appendonly", "no", "--dir", str(directory)]  # fmt: skip
    bed.run(host, argv, stdout=subprocess.DEVNULL)
    ping = f"import redis; redis.Redis(port={REDIS_PORT}, socket_timeout=1).ping()"
    for _ in range(100):
        check = [sys.executable, "-c", ping]
        if run_in(bed, host, check).returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"redis-server in {host} never answered")


def node_config(bed: TestBed, pop: str, regions: list[str], **sections: Any) -> dict[str, Any]:
    endpoints = [
        {
            "name": region,
            "base_url": f"http://{bed.address(region, seen_from=pop)}:{CLOUD_PORT}/v1",
            "region": region,
            "models": [{"name": "gpt-4o-mini", "output_price_per_mtok": 0.6}],
        }
        for region in regions
    ]
    return {
        "server": {"host": "0.0.0.0", "port": ROUTER_PORT, "access_log": False},
        "auth": {"api_keys": [API_KEY]},
        "admin": {"token_env": "NETWORK_ADMIN_TOKEN"},
        "routing": {"default_objective": "latency"},
        "health": {"probe_interval_s": 0.2},
        "cache": {"enabled": False},
        "endpoints": endpoints,
        **sections,
    }


def start_router(bed: TestBed, pop: str, config: dict[str, Any], directory: Path) -> str:
    """`edge-router serve` in `pop`'s namespace; its URL as the test's own namespace sees it."""
    node = directory / f"{pop}.yaml"
    node.write_text(yaml.safe_dump(config))
    argv = [sys.executable, "-m", "router.cli", "serve", "--workers", "1", "--config", str(node)]
    with (directory / f"{pop}.log").open("wb") as log:
        bed.run(pop, argv, stdout=log, env={"NETWORK_ADMIN_TOKEN": ADMIN_TOKEN})
    return f"http://{bed.address(pop, seen_from='here')}:{ROUTER_PORT}"


@contextmanager
def one_pop(
    regions: Mapping[str, float], directory: Path, **sections: Any
) -> Iterator[tuple[TestBed, str]]:
    """The test 1 ms from a PoP, the PoP `regions[name]` ms (one way) from each region: the
    regions' clouds and the PoP's router started (its node config's `sections` replaced); the
    test bed and the router's URL."""
    links: list[dict[str, Any]] = [{"a": HERE, "b": "pop", "delay_ms": 1}]
    links += [{"a": "pop", "b": region, "delay_ms": d} for region, d in regions.items()]
    topology = Topology.of({"hosts": [HERE, "pop", *regions], "links": links})
    with TestBed(topology) as bed:
        for region in regions:
            start_region(bed, region, directory)
        config = node_config(bed, "pop", list(regions), **sections)
        yield bed, start_router(bed, "pop", config, directory)


async def until_ready(http: aiohttp.ClientSession, url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if await answers_ready(http, url):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the router at {url} never became ready")


async def rtt_estimates(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """Each endpoint's probe RTT estimate, ms, once it has one."""
    async with http.get(f"{url}/admin/endpoints", headers=ADMIN_HEADERS) as response:
        body = await response.json()
    return {e["name"]: e["rtt"]["value_ms"] for e in body["endpoints"] if e["rtt"]["samples"]}


async def chat(
    http: aiohttp.ClientSession,
    url: str,
    *,
    key: str = API_KEY,
    body: Mapping[str, Any] = CHAT,
) -> tuple[int, str]:
    """One chat request: its status and the endpoint that answered."""
    headers = {"Authorization": f"Bearer {key}"}
    async with http.post(f"{url}/v1/chat/completions", json=body, headers=headers) as answer:
        await answer.read()
        return answer.status, answer.headers.get("x-router-endpoint", "")
