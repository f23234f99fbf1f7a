"""The router's process lifecycle, the way Kubernetes and systemd drive it: SIGTERM and SIGINT
drain requests in flight and exit 0, a busy port fails at once with one line naming it, and
readiness waits for the local models and says what it waits for."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from edge_worker.integrity import ModelRefused
from loadtest.mock_cloud.cloud import MockCloud
from loadtest.mock_cloud.settings import CloudSettings, ControlSettings, RegionSettings
from router.config.loader import parse_node_config
from router.server import build_app
from tests.openai_clients import async_openai
from tests.redis_server import free_port
from tests.router_process import running_router, start_router, write_config
from tests.stack import API_KEY, edge_endpoint, node_config, scripted_upstream

# Slow enough that a stream is still running when the signal arrives: 40 tokens at 20 per second.
SLOW = RegionSettings(name="us-east", ttft_ms=50.0, tokens_per_s=20.0, completion_tokens=40)
EXIT_WAIT_S = 30.0


def _cloud(*regions: RegionSettings) -> MockCloud:
    return MockCloud(CloudSettings(control=ControlSettings(port=0), regions=regions), seed=3)


def _config(cloud: MockCloud, **server: Any) -> dict[str, Any]:
    config = node_config(cloud)
    config["server"] = server
    return config


async def _stream_words(url: str, started: asyncio.Event) -> tuple[list[str], str | None]:
    """Stream an answer; `started` is set once its first piece of text has arrived."""
    client = async_openai(f"{url}/v1", api_key=API_KEY, max_retries=0)
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "a story"}], stream=True
    )
    pieces: list[str] = []
    finish: str | None = None
    async for chunk in stream:
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
        if any(pieces):
            started.set()
    return pieces, finish


async def _streaming(url: str) -> asyncio.Task[tuple[list[str], str | None]]:
    """A stream that is under way: its first text has reached the client."""
    started = asyncio.Event()
    task = asyncio.create_task(_stream_words(url, started))
    await asyncio.wait_for(started.wait(), EXIT_WAIT_S)
    assert not task.done()
    return task


async def _refused(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz"):
            return False
    except aiohttp.ClientConnectionError:
        return True


@pytest.mark.asyncio
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_lets_the_stream_in_flight_finish_refuses_new_work_and_exits_0(
    tmp_path: Path, sig: signal.Signals
) -> None:
    async with _cloud(SLOW) as cloud, running_router(_config(cloud), tmp_path, "r") as router:
        streaming = await _streaming(router.url)
        router.process.send_signal(sig)
        pieces, finish = await asyncio.wait_for(streaming, EXIT_WAIT_S)
        code = await asyncio.wait_for(router.process.wait(), EXIT_WAIT_S)
        assert await _refused(router.url)
    assert finish is not None and len([p for p in pieces if p]) == 40  # whole, with its finish
    assert code == 0
    assert f"{sig.name} received" in router.log() and "edge-router stopped" in router.log()


@pytest.mark.asyncio
async def test_the_drain_timeout_closes_a_stream_that_outlasts_it_and_still_exits_0(
    tmp_path: Path,
) -> None:
    endless = RegionSettings(name="us-east", tokens_per_s=5.0, completion_tokens=10_000)
    config_server = {"drain_timeout_s": 0.5}
    async with (
        _cloud(endless) as cloud,
        running_router(_config(cloud, **config_server), tmp_path, "r") as router,
    ):
        streaming = await _streaming(router.url)
        router.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(router.process.wait(), EXIT_WAIT_S)
        (outcome,) = await asyncio.gather(
            asyncio.wait_for(streaming, EXIT_WAIT_S), return_exceptions=True
        )
    assert code == 0
    # Cut: either the client saw the connection end, or the stream ended without its finish.
    assert isinstance(outcome, Exception) or outcome[1] is None


def _held_port() -> socket.socket:
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    return held


async def _serve_exit(config: dict[str, Any], tmp_path: Path, port: int) -> tuple[int, str]:
    path = write_config(config, tmp_path, "second", port)
    log_path = tmp_path / "second.log"
    process = await start_router(path, log_path)
    code = await asyncio.wait_for(process.wait(), EXIT_WAIT_S)
    return code, log_path.read_text()


@pytest.mark.asyncio
async def test_a_router_on_a_busy_port_fails_at_once_with_one_line_naming_it_and_its_holder(
    tmp_path: Path,
) -> None:
    with _held_port() as held:
        port = held.getsockname()[1]
        async with _cloud(SLOW) as cloud:
            code, output = await _serve_exit(_config(cloud), tmp_path, port)
    assert code == 1
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert f"port {port} on 127.0.0.1 (the router's server.port) is already in use" in lines[0]
    assert "by pid " in lines[0]  # this test process holds it


@pytest.mark.asyncio
async def test_a_busy_edge_worker_port_fails_the_router_before_it_starts_anything(
    tmp_path: Path,
) -> None:
    with _held_port() as held:
        worker_port = held.getsockname()[1]
        async with _cloud(SLOW) as cloud:
            config = _config(cloud)
            config["edge_worker"] = {"spawn": True, "port": worker_port}
            config["endpoints"].append(edge_endpoint(worker_port))
            router_port = free_port()
            code, output = await _serve_exit(config, tmp_path, router_port)
    assert code == 1
    assert output.strip().count("\n") == 0, output
    assert f"port {worker_port} on 127.0.0.1 (the edge worker's edge_worker.port)" in output
    with socket.create_server(("127.0.0.1", router_port)):
        pass  # the router gave its own port back: nothing was left listening


async def _readyz(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    async with http.get(f"{url}/readyz") as response:
        return response.status, await response.json()


@pytest.mark.asyncio
async def test_readyz_waits_for_the_local_endpoint_says_so_and_the_prober_never_ejects_it(
    tmp_path: Path,
) -> None:
    edge_port = free_port()
    async with _cloud(SLOW) as cloud, aiohttp.ClientSession() as http:
        config = _config(cloud)
        config["endpoints"].append(edge_endpoint(edge_port))
        config["health"] = {"probe_interval_s": 0.05, "probe_failures_to_eject": 1}
        path = write_config(config, tmp_path, "r", port := free_port())
        process = await start_router(path, tmp_path / "r.log")
        url = f"http://127.0.0.1:{port}"
        try:
            status, body = await _wait_for_answer(http, url, process)
            assert status == 503 and body["status"] == "waiting"
            assert body["waiting_for"] == [
                "local endpoint edge (smollm2-135m-instruct) has not answered yet"
            ]
            await _wait_for_probes(http, url, at_least=10)
            view = await _admin_endpoints(http, url)
            assert view["edge"]["state"] == "healthy" and view["edge"]["starting"]
            async with scripted_upstream(edge_port):
                status, body = await _wait_for_status(http, url, 200)
            assert body == {"status": "ready", "waiting_for": []}
        finally:
            process.terminate()
            await process.wait()
    assert "is ejected" not in (tmp_path / "r.log").read_text()


async def _wait_for_answer(
    http: aiohttp.ClientSession, url: str, process: asyncio.subprocess.Process
) -> tuple[int, dict[str, Any]]:
    for _ in range(600):
        assert process.returncode is None
        try:
            return await _readyz(http, url)
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.05)
    raise AssertionError("the router never answered /readyz")


async def _wait_for_status(
    http: aiohttp.ClientSession, url: str, wanted: int
) -> tuple[int, dict[str, Any]]:
    for _ in range(600):
        status, body = await _readyz(http, url)
        if status == wanted:
            return status, body
        await asyncio.sleep(0.05)
    raise AssertionError(f"/readyz never answered {wanted}")


async def _admin_endpoints(http: aiohttp.ClientSession, url: str) -> dict[str, dict[str, Any]]:
    from tests.stack import ADMIN_HEADERS

    async with http.get(f"{url}/admin/endpoints", headers=ADMIN_HEADERS) as response:
        view = await response.json()
    return {e["name"]: e["health"] for e in view["endpoints"]}


async def _wait_for_probes(http: aiohttp.ClientSession, url: str, at_least: int) -> None:
    """Let the prober fail against the silent local endpoint `at_least` times."""
    for _ in range(600):
        view = await _admin_endpoints(http, url)
        if view["us-east"]["last_probe_rtt_ms"] is not None:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1 * at_least)  # the starting endpoint is probed every 0.1 s


@pytest.mark.asyncio
async def test_a_part_that_fails_to_start_stops_what_started_before_it(tmp_path: Path) -> None:
    """The embedder cannot start (its model store is empty): the app fails to start, and the
    tasks and connections it had started are stopped, not left running."""
    config = {
        "auth": {"api_keys": [API_KEY]},
        "cache": {"enabled": True, "semantic": True},
        "edge_worker": {"store": str(tmp_path / "empty-store")},
        "endpoints": [
            {
                "name": "sim",
                "base_url": "http://127.0.0.1:9/v1",
                "region": "local",
                "models": [{"name": "gpt-4o-mini"}],
            }
        ],
    }
    app = build_app(parse_node_config(yaml.safe_dump(config), "node.yaml", {}))
    runner = web.AppRunner(app)
    before = {task.get_name() for task in asyncio.all_tasks()}
    with pytest.raises(ModelRefused):
        await runner.setup()
    await asyncio.sleep(0)
    left = {task.get_name() for task in asyncio.all_tasks() if not task.done()} - before
    assert not left & {"gc-pauses", "loop-lag", "endpoint-prober"}, left
