"""The local stack the suite starts itself, for the scenarios that disrupt what surrounds the
router (`disruption:` in a phase, `loadtest.harness.disruptions`): the simulated cloud with the
local demo's three regions, a real `redis-server`, and `edge-router serve` in front of them with
its edge worker, all on free loopback ports, their files in a temporary directory.

The router's node config is the demo's (`deploy/local/node.yaml`) with its endpoints pointed at
this cloud, its limits counted in this Redis, its edge worker on a port of its own and, as its
policy directory, a writable copy of `policies/` (a reload storm rewrites a tenant's file there):
`loadtest.harness.stack_config`. Every process runs in a session of its own (`Processes`) and
every one is stopped at the end, whatever happened: a Redis left stopped with SIGSTOP is
continued first (`loadtest.harness.stack_redis`), and an edge worker the router did not stop is
killed (`loadtest.harness.stack_router`). The same parts over the network test bed are
`loadtest.harness.network_stack`; both are a `StartedStack` to the runner.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from loadtest.harness.processes import Processes, wait_ready
from loadtest.harness.proxy_settings import LOOPBACK
from loadtest.harness.stack_config import (
    POLICIES_DIR,
    Wiring,
    demo_cloud,
    demo_node,
    demo_region_names,
    mock_cloud_argv,
    node_config,
)
from loadtest.harness.stack_parts import StackParts
from loadtest.harness.stack_redis import RedisServer
from loadtest.harness.stack_router import RouterProcess
from loadtest.network.testbed import TestBed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class StackPorts:
    router: int
    control: int
    regions: dict[str, int]
    redis: int
    edge_worker: int

    @classmethod
    def free(cls, region_names: list[str]) -> StackPorts:
        return cls(
            router=free_port(),
            control=free_port(),
            regions={name: free_port() for name in region_names},
            redis=free_port(),
            edge_worker=free_port(),
        )

    def wiring(self) -> Wiring:
        urls = {name: f"http://{LOOPBACK}:{port}/v1" for name, port in self.regions.items()}
        redis_url = f"redis://{LOOPBACK}:{self.redis}/0"
        return Wiring(LOOPBACK, self.router, urls, redis_url, self.edge_worker)


def mock_cloud_config(ports: StackPorts, demo: dict[str, Any]) -> dict[str, Any]:
    """The demo's simulated cloud (`deploy/local/mock-cloud.yaml`) on the stack's ports."""
    regions = [{**region, "port": ports.regions[region["name"]]} for region in demo["regions"]]
    return {**demo, "control": {"host": LOOPBACK, "port": ports.control}, "regions": regions}


class LocalStack(StackParts):
    """The started stack and what the disruptions do to it. Built by `local_stack()`."""

    bed: TestBed | None = None  # on loopback: no link to cut

    def __init__(
        self, directory: Path, processes: Processes, ports: StackPorts, workers: int = 1
    ) -> None:
        """`workers`: the router's `serve --workers` (one process unless a run is about more)."""
        router = RouterProcess(processes, directory, workers)
        redis = RedisServer(processes, directory, (LOOPBACK,), ports.redis, LOOPBACK)
        super().__init__(directory, processes, router, redis)
        self.ports = ports

    @property
    def router_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.router}"

    @property
    def control_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.control}"

    @property
    def region_names(self) -> tuple[str, ...]:
        return tuple(self.ports.regions)

    def region_control_url(self, region: str) -> str:
        return f"{self.control_url}/control/regions/{region}"

    def region_url(self, region: str) -> str:
        return f"http://{LOOPBACK}:{self.ports.regions[region]}/v1"

    def start(self) -> None:
        shutil.copytree(POLICIES_DIR, self.policy_dir)
        cloud_file = self.directory / "mock-cloud.yaml"
        cloud_file.write_text(yaml.safe_dump(mock_cloud_config(self.ports, demo_cloud())))
        cloud = self.processes.start("mock_cloud", mock_cloud_argv(cloud_file), None)
        wait_ready(self.processes, "mock_cloud", cloud, f"{self.control_url}/control/regions", 30.0)
        self.redis.start()
        node = node_config(demo_node(), self.ports.wiring(), self.policy_dir)
        self.router.start(node, self.router_url)

    def edge_worker_answers(self) -> bool:
        url = f"http://{LOOPBACK}:{self.ports.edge_worker}/v1/models"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                return int(response.status) == 200
        except (urllib.error.URLError, OSError):
            return False


@contextlib.contextmanager
def local_stack(keep_logs: bool = False, workers: int = 1) -> Iterator[LocalStack]:
    """The stack, started; every process stopped and the directory removed on exit."""
    directory = Path(tempfile.mkdtemp(prefix="loadtest-stack-"))
    ports = StackPorts.free(demo_region_names())
    stack = LocalStack(directory, Processes(directory), ports, workers)
    try:
        stack.start()
        yield stack
    except BaseException:
        keep_logs = True
        raise
    finally:
        stack.stop()
        stack.processes.finish(keep_logs)
