"""`edge-router serve --workers 2` as real processes on one port: what a client can tell apart
(limits, the cache, `/metrics`) is the node's, not one worker's; a dead worker comes back while
the other serves; SIGTERM drains a stream in flight; nothing outlives a killed supervisor."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from redis.asyncio import Redis

from loadtest.mock_cloud.cloud import MockCloud
from loadtest.mock_cloud.settings import CloudSettings, ControlSettings, RegionSettings
from tests.redis_server import free_port
from tests.router_process import RouterProcess, running_router, start_router, write_config
from tests.stack import ADMIN_HEADERS, node_config
from tests.tenant_policies import ONE_MODEL, write_policies

WORKERS = 2
# Fresh connections go to whichever worker accepts first; this many reach both with certainty
# but for a chance of 2 ** -23.
SPREAD_REQUESTS = 24
CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
    "temperature": 0,
}
HEADERS = {"Authorization": "Bearer sk-acme"}


def _config(cloud: MockCloud, directory: Path, policy: str) -> dict[str, Any]:
    policies = directory / "policies"
    write_policies(policies, {"acme": ONE_MODEL + policy})
    config = node_config(cloud)
    config.pop("auth")
    config["policies"] = {"directory": str(policies), "watch": False}
    config["cache"] = {"enabled": True, "semantic": False}
    return config


@asynccontextmanager
async def _cloud() -> AsyncIterator[MockCloud]:
    regions = (RegionSettings("us-east", tokens_per_s=200.0),)
    async with MockCloud(CloudSettings(control=ControlSettings(port=0), regions=regions)) as cloud:
        yield cloud


@asynccontextmanager
async def _pool(
    cloud: MockCloud, directory: Path, policy: str = ""
) -> AsyncIterator[RouterProcess]:
    async with running_router(_config(cloud, directory, policy), directory, "pool", WORKERS) as r:
        await _until_every_worker_answers(r.url)
        yield r


async def _metrics(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
        assert response.status == 200
        return await response.text()


async def _until_every_worker_answers(url: str) -> None:
    for _ in range(400):
        if f'router_pool_workers{{state="answered"}} {WORKERS}.0' in await _metrics(url):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the workers never all answered a scrape")


async def _chat_on_new_connection(url: str, body: dict[str, Any] = CHAT) -> aiohttp.ClientResponse:
    connector = aiohttp.TCPConnector(force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.post(f"{url}/v1/chat/completions", json=body, headers=HEADERS) as response,
    ):
        await response.read()
        return response


def _requests_by_worker(metrics: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith("router_requests_total{"):
            worker = re.search(r'worker="(\d+)"', line)
            assert worker is not None, line
            counts[worker.group(1)] = counts.get(worker.group(1), 0.0) + float(line.split()[-1])
    return counts


def _workers(supervisor_pid: int) -> list[psutil.Process]:
    children = psutil.Process(supervisor_pid).children()
    return [c for c in children if "--worker-index" in c.cmdline()]


@pytest.mark.asyncio
async def test_two_workers_admit_a_tenants_per_minute_limit_once_not_once_each(
    tmp_path: Path,
) -> None:
    async with (
        _cloud() as cloud,
        _pool(cloud, tmp_path, "limits: {requests_per_minute: 10}\n") as r,
    ):
        statuses = [(await _chat_on_new_connection(r.url)).status for _ in range(SPREAD_REQUESTS)]
        assert statuses.count(200) == 10
        assert statuses.count(429) == SPREAD_REQUESTS - 10
        served = _requests_by_worker(await _metrics(r.url))
        assert sorted(served) == ["1", "2"] and all(served.values()), served


@pytest.mark.asyncio
async def test_metrics_carry_every_workers_series_labelled_by_worker(tmp_path: Path) -> None:
    async with _cloud() as cloud, _pool(cloud, tmp_path) as router:
        for _ in range(SPREAD_REQUESTS):
            assert (await _chat_on_new_connection(router.url)).status == 200
        metrics = await _metrics(router.url)
        served = _requests_by_worker(metrics)
        assert sum(served.values()) == SPREAD_REQUESTS
        assert len(served) == WORKERS, served
        assert metrics.count("# TYPE router_requests_total counter") == 1
        assert f'router_pool_workers{{state="configured"}} {WORKERS}.0' in metrics


@pytest.mark.asyncio
async def test_an_answer_cached_by_one_worker_is_a_hit_on_every_worker_until_purged(
    tmp_path: Path,
) -> None:
    async with _cloud() as cloud, _pool(cloud, tmp_path, "cache: {enabled: true}\n") as router:
        first = await _chat_on_new_connection(router.url)
        assert first.headers["x-router-cache"] == "miss"
        # The other worker learns of the entry from the node-local Redis's stream.
        await asyncio.sleep(0.5)
        for _ in range(SPREAD_REQUESTS):
            again = await _chat_on_new_connection(router.url)
            assert again.headers["x-router-cache"] == "hit-exact"
        async with (
            aiohttp.ClientSession() as http,
            http.delete(f"{router.url}/admin/cache?tenant=acme", headers=ADMIN_HEADERS) as purge,
        ):
            assert purge.status == 200
        await asyncio.sleep(0.5)
        after = await _chat_on_new_connection(router.url)
        assert after.headers["x-router-cache"] == "miss"


@pytest.mark.asyncio
async def test_a_killed_worker_is_restarted_while_the_other_serves(tmp_path: Path) -> None:
    async with _cloud() as cloud, _pool(cloud, tmp_path) as router:
        before = _workers(router.process.pid)
        assert len(before) == WORKERS
        before[0].kill()
        statuses = [(await _chat_on_new_connection(router.url)).status for _ in range(10)]
        assert statuses == [200] * 10
        await _until_every_worker_answers(router.url)
        after = _workers(router.process.pid)
        assert len(after) == WORKERS
        assert before[0].pid not in {w.pid for w in after}
        assert before[1].pid in {w.pid for w in after}


@pytest.mark.asyncio
async def test_sigterm_drains_a_stream_in_flight_then_every_process_exits(tmp_path: Path) -> None:
    async with _cloud() as cloud, _pool(cloud, tmp_path) as router:
        children = psutil.Process(router.process.pid).children()
        stream = {**CHAT, "stream": True, "max_tokens": 200}  # 1 s at 200 tokens/s
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{router.url}/v1/chat/completions", json=stream, headers=HEADERS) as answer,
        ):
            assert answer.status == 200
            await answer.content.readline()  # the stream has begun
            router.process.send_signal(signal.SIGTERM)
            body = await answer.read()
        assert body.rstrip().endswith(b"data: [DONE]")
        assert await asyncio.wait_for(router.process.wait(), 30) == 0
        assert all(not c.is_running() or c.status() == psutil.STATUS_ZOMBIE for c in children)


@pytest.mark.asyncio
async def test_nothing_outlives_a_supervisor_killed_with_sigkill(tmp_path: Path) -> None:
    async with _cloud() as cloud, _pool(cloud, tmp_path) as router:
        children = psutil.Process(router.process.pid).children()
        assert any("redis-server" in " ".join(c.cmdline()) for c in children)
        argv = _workers(router.process.pid)[0].cmdline()
        pool_dir = Path(argv[argv.index("--pool-dir") + 1])
        router.process.send_signal(signal.SIGKILL)
        await router.process.wait()
        _, alive = await asyncio.to_thread(psutil.wait_procs, children, timeout=30)
        assert alive == [], [c.cmdline() for c in alive]
        # What a killed supervisor cannot remove (the next one started would).
        await asyncio.to_thread(shutil.rmtree, pool_dir, True)


@pytest.mark.asyncio
async def test_workers_without_any_shared_redis_are_refused_with_what_to_do(
    tmp_path: Path,
) -> None:
    async with _cloud() as cloud:
        path = write_config(_config(cloud, tmp_path, ""), tmp_path, "r", free_port())
        # A PATH without redis-server: the node-local one cannot be started.
        env = {k: v for k, v in os.environ.items() if k != "PATH"} | {"PATH": "/nonexistent"}
        log_path = tmp_path / "r.log"
        process = await start_router(path, log_path, WORKERS, env)
        try:
            assert await asyncio.wait_for(process.wait(), 60) == 2
        finally:
            if process.returncode is None:  # it started instead of refusing: stop it
                process.terminate()
                await process.wait()
        said = log_path.read_text()
        assert "install redis-server" in said and "--workers 1" in said


@pytest.mark.asyncio
async def test_a_second_pool_on_the_same_port_is_refused_naming_the_port(tmp_path: Path) -> None:
    # Any process of the same user may join a SO_REUSEPORT group: the port is claimed first.
    async with _cloud() as cloud, _pool(cloud, tmp_path) as router:
        port = int(router.url.rsplit(":", 1)[1])
        path = write_config(_config(cloud, tmp_path, ""), tmp_path, "second", port)
        log_path = tmp_path / "second.log"
        second = await start_router(path, log_path, WORKERS)
        try:
            assert await asyncio.wait_for(second.wait(), 60) == 1
        finally:
            if second.returncode is None:
                second.terminate()
                await second.wait()
        assert f"port {port} on 127.0.0.1" in log_path.read_text()


@pytest.mark.asyncio
async def test_the_node_local_redis_is_private_bounded_and_listens_on_no_port(
    tmp_path: Path,
) -> None:
    async with _cloud() as cloud, _pool(cloud, tmp_path) as router:
        (worker, *_) = _workers(router.process.pid)
        argv = worker.cmdline()
        pool_dir = Path(argv[argv.index("--pool-dir") + 1])
        assert os.stat(pool_dir).st_mode & 0o777 == 0o700
        redis = Redis(unix_socket_path=str(pool_dir / "redis.sock"))
        try:
            config = await redis.config_get("*")
        finally:
            await redis.aclose()
        max_bytes = _config(cloud, tmp_path, "")["cache"].get("max_bytes", 64 * 1024 * 1024)
        assert int(config["maxmemory"]) == 2 * max_bytes + 64 * 1024 * 1024
        assert config["maxmemory-policy"] == "volatile-lru"
        assert config["port"] == "0" and config["save"] == "" and config["appendonly"] == "no"
