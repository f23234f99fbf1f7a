"""The edge worker the router starts never outlives it, and a port that some other process holds
is reported once, with its holder, instead of a restart loop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from pathlib import Path
from typing import Any

import psutil
import pytest

from loadtest.mock_cloud.cloud import MockCloud
from loadtest.mock_cloud.settings import CloudSettings, ControlSettings, RegionSettings
from router.config.model import EdgeWorkerSettings
from router.edge_supervisor import EdgeWorkerSupervisor
from tests.edge_worker.prepared import store
from tests.redis_server import free_port
from tests.router_process import running_router
from tests.stack import edge_endpoint, node_config

GONE_WAIT_S = 10.0


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _edge_config(cloud: MockCloud, worker_port: int) -> dict[str, Any]:
    config = node_config(cloud)
    config["edge_worker"] = {"spawn": True, "port": worker_port, "store": str(store())}
    config["endpoints"].append(edge_endpoint(worker_port))
    return config


@pytest.mark.asyncio
async def test_the_worker_stops_by_itself_within_seconds_when_its_router_is_killed(
    tmp_path: Path,
) -> None:
    settings = CloudSettings(control=ControlSettings(port=0), regions=(RegionSettings("us-east"),))
    async with (
        MockCloud(settings) as cloud,
        running_router(_edge_config(cloud, free_port()), tmp_path, "r") as router,
    ):
        # Ready means the worker has answered, so it is running now.
        (worker,) = psutil.Process(router.process.pid).children()
        assert "edge_worker.cli" in " ".join(worker.cmdline())
        router.process.send_signal(signal.SIGKILL)
        await router.process.wait()
        for _ in range(int(GONE_WAIT_S / 0.1)):
            if _gone(worker.pid):
                break
            await asyncio.sleep(0.1)
        assert _gone(worker.pid), "the edge worker outlived its router"


@pytest.mark.asyncio
async def test_a_busy_worker_port_is_reported_once_with_its_holder_and_never_restarted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="edge_router.edge_worker")
    held = socket.create_server(("127.0.0.1", 0))
    port = held.getsockname()[1]
    supervisor = EdgeWorkerSupervisor(EdgeWorkerSettings(spawn=True, port=port, store=str(store())))
    supervising = asyncio.create_task(supervisor.run())
    try:
        await asyncio.sleep(3.5)  # three re-checks of the port
        busy = [r.getMessage() for r in caplog.records if "already in use" in r.getMessage()]
        assert len(busy) == 1 and f"by pid {os.getpid()}" in busy[0]
        assert supervisor.starts == 0
        held.close()
        for _ in range(100):
            if supervisor.starts:
                break
            await asyncio.sleep(0.1)
        assert supervisor.starts == 1
    finally:
        held.close()
        supervising.cancel()
        await asyncio.gather(supervising, return_exceptions=True)
